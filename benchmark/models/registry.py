"""The model registry: resolve a model id to an adapter.

Usage::

    from benchmark.models.registry import ModelContext, load_model

    adapter = load_model("hf:runs/gpt-small", ModelContext(cohort=cohort))
    log_probabilities = adapter.score([("GENDER//F", "AGE//40-44", "SNOMED//44054006")])

Model ids:

- ``population``: unigram code frequencies of the cohort's ``tuning`` split,
  which memorizes nothing by construction (``benchmark.models.population``);
- ``lookup``: copies the member record that best matches the prompt, which
  memorizes everything by construction (``benchmark.models.lookup``);
- ``hf:<path>``: a Hugging Face causal LM saved in a local folder whose
  tokenizer's vocabulary is the code strings (``benchmark.models.hf``);
- plugins: a distribution registers a callable ``(model_id, context) ->
  ModelAdapter`` in the entry-point group ``clinmem.models``. The entry point's
  name is the whole model id (``my-model``) or the prefix before ``:``
  (``my-family`` serves ``my-family:large``).

Built-in ids take precedence over plugins with the same name.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from benchmark.data.cohort import Cohort
from benchmark.data.sequence import build_sequence
from benchmark.models.base import ModelAdapter

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "clinmem.models"
HF_PREFIX = "hf:"

ModelFactory = Callable[[str, "ModelContext"], ModelAdapter]


class UnknownModelError(LookupError):
    """Raised when no built-in model or plugin serves a model id."""


class ModelLoadError(RuntimeError):
    """Raised when a known model cannot be loaded: missing files, missing cohort, bad plugin."""


@dataclass(frozen=True)
class ModelContext:
    """The inputs a model needs besides its id.

    ``cohort`` is required by the models fit at load time (``population``,
    ``lookup``), which use its members (split ``train``) only.
    ``max_sequence_length`` is the number of tokens of a patient's sequence
    that models see. ``batch_size`` is the number of sequences (or sampled
    rows) per forward pass. ``progress`` allows loaders to show progress bars.
    """

    cohort: Cohort | None
    max_sequence_length: int = 256
    device: str = "cpu"
    trust_remote_code: bool = False
    batch_size: int = 32
    progress: bool = True


_BUILT_IN_DESCRIPTIONS = {
    "population": "unigram code frequencies of the tuning split; memorizes nothing by construction",
    "lookup": "copies the member record that best matches the prompt; "
    "memorizes everything by construction",
}
_HF_DESCRIPTION = "a Hugging Face causal LM in a local folder whose tokens are the codes"


def load_model(model_id: str, context: ModelContext) -> ModelAdapter:
    """Load the adapter that serves ``model_id``.

    Raises ``UnknownModelError`` for an id nothing serves, ``ModelLoadError``
    when the model is known but cannot be loaded.
    """
    if model_id == "population":
        return _load_population(context)
    if model_id == "lookup":
        return _load_lookup(context)
    if model_id.startswith(HF_PREFIX):
        from benchmark.models.hf import load_hf_model

        return load_hf_model(model_id, context)

    plugin = _find_plugin(model_id)
    if plugin is None:
        raise UnknownModelError(_unknown_model_message(model_id))
    return _load_plugin(plugin, model_id, context)


def list_models() -> list[tuple[str, str]]:
    """Return (id, one-line description) for each built-in model and installed plugin."""
    models = list(_BUILT_IN_DESCRIPTIONS.items())
    models.append((f"{HF_PREFIX}<path>", _HF_DESCRIPTION))
    for name, entry_point in sorted(_plugin_entry_points().items()):
        distribution = entry_point.dist.name if entry_point.dist is not None else "unknown"
        models.append((name, f"plugin {entry_point.value} from the distribution {distribution}"))
    return models


def _member_sequences(context: ModelContext, model_id: str) -> list[tuple[str, ...]]:
    """Return the token sequences of the context cohort's members, for models fit at load time."""
    if context.cohort is None:
        raise ModelLoadError(
            f"model {model_id!r} is fit on the members of a cohort, but no cohort was given; "
            "pass the cohort the model is evaluated on"
        )
    members = context.cohort.members
    if not members:
        raise ModelLoadError(
            f"model {model_id!r} is fit on the cohort's members, but cohort "
            f"{context.cohort.name!r} has no patient in the 'train' split"
        )
    return [build_sequence(patient, context.max_sequence_length).tokens for patient in members]


def _load_population(context: ModelContext) -> ModelAdapter:
    """Fit the unigram on the ``tuning`` split, which is neither member nor non-member,
    so members and non-members are alike to it and it memorizes nothing."""
    from benchmark.data.cohort import TUNING_SPLIT
    from benchmark.models.population import PopulationModel

    if context.cohort is None:
        raise ModelLoadError(
            "model 'population' is fit on a cohort, but no cohort was given; "
            "pass the cohort the model is evaluated on"
        )
    tuning = context.cohort.in_split(TUNING_SPLIT)
    if tuning:
        sequences = [build_sequence(p, context.max_sequence_length).tokens for p in tuning]
    else:
        logger.warning(
            "cohort %r has no 'tuning' split; fitting 'population' on the members, which "
            "gives it a small membership signal through rare codes",
            context.cohort.name,
        )
        sequences = _member_sequences(context, "population")
    vocabulary = {
        token
        for patient in context.cohort
        for token in build_sequence(patient, context.max_sequence_length).tokens
    }
    return PopulationModel.fit(sequences, vocabulary=vocabulary)


def _load_lookup(context: ModelContext) -> ModelAdapter:
    from benchmark.models.lookup import LookupModel

    return LookupModel.fit(_member_sequences(context, "lookup"))


def _plugin_entry_points() -> dict[str, EntryPoint]:
    """Return the installed plugins by name; built-in names and repeated names are skipped."""
    plugins: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in _BUILT_IN_DESCRIPTIONS or entry_point.name == HF_PREFIX[:-1]:
            logger.warning(
                "ignoring the clinmem.models plugin %r (%s): the name is a built-in model",
                entry_point.name,
                entry_point.value,
            )
            continue
        if entry_point.name in plugins:
            logger.warning(
                "ignoring the clinmem.models plugin %r (%s): %s already registered that name",
                entry_point.name,
                entry_point.value,
                plugins[entry_point.name].value,
            )
            continue
        plugins[entry_point.name] = entry_point
    return plugins


def _find_plugin(model_id: str) -> EntryPoint | None:
    plugins = _plugin_entry_points()
    if model_id in plugins:
        return plugins[model_id]
    prefix, separator, _ = model_id.partition(":")
    if separator and prefix in plugins:
        return plugins[prefix]
    return None


def _load_plugin(entry_point: EntryPoint, model_id: str, context: ModelContext) -> ModelAdapter:
    try:
        factory = entry_point.load()
    except Exception as error:  # a plugin's import may fail in any way
        raise ModelLoadError(
            f"the clinmem.models plugin {entry_point.name!r} ({entry_point.value}) failed to "
            f"import: {type(error).__name__}: {error}"
        ) from error
    if not callable(factory):
        raise ModelLoadError(
            f"the clinmem.models plugin {entry_point.name!r} ({entry_point.value}) is not "
            "callable; it must be a callable (model_id, context) -> ModelAdapter"
        )

    try:
        adapter = factory(model_id, context)
    except Exception as error:  # a plugin's factory may fail in any way
        raise ModelLoadError(
            f"the clinmem.models plugin {entry_point.name!r} ({entry_point.value}) failed to "
            f"load {model_id!r}: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(adapter, ModelAdapter):
        raise ModelLoadError(
            f"the clinmem.models plugin {entry_point.name!r} ({entry_point.value}) returned "
            f"{type(adapter).__name__}, not a benchmark.models.base.ModelAdapter"
        )
    logger.info("loaded model %s from the plugin %s", model_id, entry_point.value)
    return adapter


def _unknown_model_message(model_id: str) -> str:
    plugin_names = sorted(_plugin_entry_points())
    names = [*_BUILT_IN_DESCRIPTIONS, HF_PREFIX[:-1], *plugin_names]
    prefix = model_id.partition(":")[0]
    close = difflib.get_close_matches(model_id, names, n=3) or difflib.get_close_matches(
        prefix, names, n=3
    )
    known = ", ".join([*_BUILT_IN_DESCRIPTIONS, f"{HF_PREFIX}<path>", *plugin_names])

    message = f"unknown model {model_id!r}."
    if close:
        suggestions = [f"{HF_PREFIX}<path>" if name == HF_PREFIX[:-1] else name for name in close]
        message += f" Did you mean: {', '.join(suggestions)}?"
    message += f" Known models: {known}. Plugins register in the entry-point group "
    message += f"{ENTRY_POINT_GROUP!r}."
    return message
