"""The model registry: built-in ids, suggestions for unknown ids, entry-point plugins."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
from synthetic_cohorts import make_cohort

from benchmark.models.population import PopulationModel
from benchmark.models.registry import (
    ModelContext,
    ModelLoadError,
    UnknownModelError,
    list_models,
    load_model,
)

PLUGIN_MODULE = '''
from benchmark.models.population import PopulationModel
from benchmark.models.registry import ModelContext


def make_model(model_id: str, context: ModelContext) -> PopulationModel:
    """Fit a population model on the context cohort and name it after the requested id."""
    model = PopulationModel.fit([patient.codes for patient in context.cohort.members])
    model.model_id = model_id
    return model


def make_nothing(model_id, context):
    return "not an adapter"


not_callable = 42
'''


def _install_plugin(tmp_path: Path, monkeypatch, entry_points: str, module: str = PLUGIN_MODULE):
    """Write an installed distribution with clinmem.models entry points and put it on sys.path."""
    site = tmp_path / "site"
    dist_info = site / "clinmem_test_plugin-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: clinmem-test-plugin\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[clinmem.models]\n" + textwrap.dedent(entry_points)
    )
    (site / "clinmem_test_plugin.py").write_text(module)
    monkeypatch.syspath_prepend(str(site))


def test_unknown_id_suggests_closest_name():
    with pytest.raises(UnknownModelError) as raised:
        load_model("populaton", ModelContext(cohort=None))

    message = str(raised.value)
    assert "Did you mean: population?" in message
    assert "Known models: population, lookup, hf:<path>" in message
    assert isinstance(raised.value, LookupError)


def test_unknown_prefix_suggests_hf():
    with pytest.raises(UnknownModelError, match=r"Did you mean: hf:<path>\?"):
        load_model("hff:/models/gpt", ModelContext(cohort=None))


def test_unrelated_id_lists_known_models():
    with pytest.raises(UnknownModelError) as raised:
        load_model("zzzz", ModelContext(cohort=None))

    assert "Did you mean" not in str(raised.value)
    assert "clinmem.models" in str(raised.value)


def test_list_models_names_built_ins():
    ids = [model_id for model_id, _ in list_models()]

    assert ids[:3] == ["population", "lookup", "hf:<path>"]
    assert all(description for _, description in list_models())


def test_plugin_loads_by_name_and_prefix(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "myplug = clinmem_test_plugin:make_model\n")
    context = ModelContext(cohort=make_cohort(20))

    by_name = load_model("myplug", context)
    by_prefix = load_model("myplug:large", context)

    assert isinstance(by_name, PopulationModel)
    assert by_name.model_id == "myplug"
    assert by_prefix.model_id == "myplug:large"
    assert (
        "myplug",
        "plugin clinmem_test_plugin:make_model from the distribution clinmem-test-plugin",
    ) in list_models()


def test_unknown_id_lists_plugins(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "myplug = clinmem_test_plugin:make_model\n")

    with pytest.raises(UnknownModelError, match=r"Did you mean: myplug\?.*hf:<path>, myplug\."):
        load_model("myplu", ModelContext(cohort=None))


def test_plugin_import_failure_is_load_error(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "broken = clinmem_test_plugin_missing:make\n")

    with pytest.raises(ModelLoadError, match="'broken'.*failed to import: ModuleNotFoundError"):
        load_model("broken", ModelContext(cohort=None))


def test_plugin_must_return_adapter(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "nothing = clinmem_test_plugin:make_nothing\n")

    with pytest.raises(ModelLoadError, match="returned str, not a"):
        load_model("nothing", ModelContext(cohort=None))


def test_plugin_must_be_callable(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch, "constant = clinmem_test_plugin:not_callable\n")

    with pytest.raises(ModelLoadError, match="is not callable"):
        load_model("constant", ModelContext(cohort=None))


def test_plugin_cannot_shadow_built_in(tmp_path, monkeypatch, caplog):
    _install_plugin(tmp_path, monkeypatch, "population = clinmem_test_plugin:make_nothing\n")

    with caplog.at_level(logging.WARNING, logger="benchmark.models.registry"):
        ids = [model_id for model_id, _ in list_models()]
    model = load_model("population", ModelContext(cohort=make_cohort(20)))

    assert ids.count("population") == 1
    assert "the name is a built-in model" in caplog.text
    assert isinstance(model, PopulationModel)
