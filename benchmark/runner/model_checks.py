"""Checks of a loaded model before any probe runs.

A model adapter may come from a plugin that clinmem did not write. Before the
run spends hours on it, the adapter must describe itself correctly (an id, a
digest, known capabilities, a vocabulary of code strings), and its vocabulary
must contain enough of the evaluated codes. A model whose vocabulary lacks
most of the cohort's codes scores them through an unknown token, or not at
all, so its membership and utility numbers would describe the vocabulary
mismatch rather than the model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.data.sequence import PatientSequence
from benchmark.models.base import CAPABILITIES, ModelAdapter
from benchmark.models.registry import ModelLoadError

#: Minimum share of evaluated tokens that the model's vocabulary must contain,
#: unless the run sets another minimum.
DEFAULT_MIN_CODE_COVERAGE = 0.5
#: Unknown codes named in the coverage error, the most frequent first.
_EXAMPLE_CODES = 3


class LowCoverageError(ValueError):
    """Raised when a model's vocabulary lacks too many of the evaluated tokens."""


@dataclass(frozen=True)
class AdapterDescription:
    """The adapter's digest, capabilities and vocabulary, checked."""

    digest: str
    capabilities: frozenset[str]
    vocabulary: frozenset[str]


@dataclass(frozen=True)
class CodeCoverage:
    """The share of the evaluated sequences' tokens that a model's vocabulary contains."""

    #: Share of evaluated tokens (occurrences, not distinct codes) in the vocabulary, 0-1.
    share: float
    tokens: int
    unknown_tokens: int
    #: Occurrences of each code missing from the vocabulary.
    unknown_counts: Counter[str]

    @property
    def unknown_codes(self) -> int:
        """Distinct codes missing from the vocabulary."""
        return len(self.unknown_counts)


def _call(model_id: str, member: str, method: Callable[[], Any]) -> Any:
    try:
        return method()
    except Exception as error:  # an adapter may fail in any way; name it and the method
        raise ModelLoadError(
            f"model {model_id!r} failed to report its {member}: {type(error).__name__}: {error}"
        ) from error


def _check_collection(value: object, model_id: str, member: str) -> None:
    if isinstance(value, str) or not isinstance(value, Collection):
        raise ModelLoadError(
            f"model {model_id!r}: {member} returned {type(value).__name__}; it must return a "
            "set of strings"
        )


def describe_adapter(model: ModelAdapter, model_id: str) -> AdapterDescription:
    """Read and check the adapter's id, digest, capabilities and vocabulary.

    Raises ``ModelLoadError`` naming the method that failed or returned a
    value of the wrong kind.
    """
    own_id = getattr(model, "model_id", None)
    if not isinstance(own_id, str) or not own_id:
        raise ModelLoadError(
            f"model {model_id!r}: the adapter {type(model).__name__} has no model_id; set "
            "model_id to the id it was loaded by"
        )

    digest = _call(model_id, "digest", model.digest)
    if not isinstance(digest, str) or not digest:
        raise ModelLoadError(
            f"model {model_id!r}: digest() returned {digest!r}; it must return a non-empty "
            "string such as 'sha256:<hex>'"
        )

    capabilities = _call(model_id, "capabilities", lambda: model.capabilities)
    _check_collection(capabilities, model_id, "capabilities")
    unknown = sorted(str(c) for c in capabilities if c not in CAPABILITIES)
    if unknown:
        raise ModelLoadError(
            f"model {model_id!r} lists unknown capabilities {unknown}; the capabilities are "
            f"{', '.join(CAPABILITIES)}"
        )

    vocabulary = _call(model_id, "vocabulary", model.vocabulary)
    _check_collection(vocabulary, model_id, "vocabulary()")
    not_strings = [code for code in vocabulary if not isinstance(code, str)]
    if not_strings:
        raise ModelLoadError(
            f"model {model_id!r}: vocabulary() contains {len(not_strings)} entries that are not "
            f"code strings, e.g. {not_strings[0]!r}"
        )
    return AdapterDescription(digest, frozenset(capabilities), frozenset(vocabulary))


def code_coverage(vocabulary: frozenset[str], sequences: Sequence[PatientSequence]) -> CodeCoverage:
    """Count the evaluated tokens in the vocabulary and the codes missing from it."""
    tokens = 0
    unknown: Counter[str] = Counter()
    for sequence in sequences:
        tokens += len(sequence.tokens)
        unknown.update(token for token in sequence.tokens if token not in vocabulary)
    unknown_tokens = sum(unknown.values())
    share = 1 - unknown_tokens / tokens if tokens else 0.0
    return CodeCoverage(share, tokens, unknown_tokens, unknown)


def check_code_coverage(coverage: CodeCoverage, minimum: float, model_id: str) -> None:
    """Raise ``LowCoverageError`` when the vocabulary contains less than ``minimum`` of the
    evaluated tokens."""
    if coverage.share >= minimum:
        return
    examples = ", ".join(code for code, _ in coverage.unknown_counts.most_common(_EXAMPLE_CODES))
    raise LowCoverageError(
        f"the vocabulary of model {model_id!r} contains {coverage.share:.1%} of the "
        f"{coverage.tokens} tokens in the evaluated sequences ({coverage.unknown_codes} "
        f"distinct codes unknown, most often {examples}), below the minimum of {minimum:.0%}. "
        "Check that the model's vocabulary uses the cohort's codes ('VOCABULARY//VALUE'), "
        "or lower the minimum with --min-code-coverage"
    )
