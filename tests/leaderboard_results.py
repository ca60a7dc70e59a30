"""Real result files for the leaderboard tests, computed once per test session.

``clinmem run`` computes them on the bundled cohort with a small suite
(three attributes, three tiers, 80 members and 80 non-members), written to
an extra spec folder, so that both reference models run in about ten
seconds together. The ``population`` model memorizes nothing and the
``lookup`` model copies its training patients, so their rankings are known.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

SUITE_ID = "site_check"

SUITE_YAML = f"""\
kind: suite
id: {SUITE_ID}
name: leaderboard test suite
description: Three attributes and three tiers on few patients, fast enough for tests.
version: 1
attributes: [pregnancy_loss, ectopic_pregnancy, drug_overdose]
tiers: [none, demographics, half_history]
subgroups: [all, attribute_carriers, age_80_plus]
probes:
  membership:
    attacks: [loss, min_k]
  attribute_inference:
    samples: 2
    max_new_tokens: 12
  reconstruction:
    samples: 2
    max_new_tokens: 12
cohort:
  max_sequence_length: 128
  max_patients_per_group: 80
bootstrap:
  resamples: 50
seed: 0
"""

MODELS = ("population", "lookup")


@dataclass(frozen=True)
class ReferenceResults:
    """Result files of the reference models and the spec folder of their suite."""

    specs_dir: Path
    files: dict[str, Path]

    def document(self, model: str) -> dict:
        """Return a fresh copy of a model's result document."""
        return copy.deepcopy(_read(self.files[model]))

    def copy_to(self, folder: Path, *models: str) -> list[Path]:
        """Copy the models' result files into ``folder`` as ``<model>.json``."""
        folder.mkdir(parents=True, exist_ok=True)
        copies = []
        for model in models or MODELS:
            target = folder / f"{model}.json"
            shutil.copyfile(self.files[model], target)
            copies.append(target)
        return copies


def write_specs(folder: Path) -> Path:
    """Write the test suite into ``folder/suites`` and return ``folder``."""
    (folder / "suites").mkdir(parents=True, exist_ok=True)
    (folder / "suites" / f"{SUITE_ID}.yaml").write_text(SUITE_YAML, encoding="utf-8")
    return folder


def compute_reference_results(folder: Path) -> ReferenceResults:
    """Run the test suite on both reference models into ``folder``, unless done before."""
    from benchmark.runner.run import RunOptions, run_suite

    specs_dir = write_specs(folder / "specs")
    files = {model: folder / f"{model}.json" for model in MODELS}
    options = RunOptions(cache_dir=folder / "cache", progress=False, extra_spec_dirs=[specs_dir])
    for model, path in files.items():
        if not path.exists():
            run_suite(model, SUITE_ID, None, path, options)
    return ReferenceResults(specs_dir, files)


@pytest.fixture(scope="session")
def reference_results(tmp_path_factory) -> ReferenceResults:
    """The reference models' results, computed once per session for every test module."""
    return compute_reference_results(tmp_path_factory.getbasetemp() / "leaderboard-reference")


def write_document(document: object, path: Path) -> Path:
    """Write a (possibly invalid) result document as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
