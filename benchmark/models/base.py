"""The interface every model adapter implements.

An adapter speaks in code strings, never in token ids: the cohort's codes go
in, sampled codes come out. Adapters implement only what their model can do;
``capabilities`` lists it, and a probe that needs a missing capability is
reported as not applicable with the reason.

Conventions shared by all adapters:

- A sequence is scored as if it followed a beginning-of-sequence token, so
  ``score`` returns one log-probability (natural log) per code of the sequence:
  ``log p(code_i | BOS, code_1..code_{i-1})``.
- ``generate`` returns, for each prompt, ``samples`` continuations of at most
  ``max_new_tokens`` codes each, stopping early at the end-of-sequence token
  (which is not returned). The same (prompt, seed) gives the same samples,
  whatever else is in the batch.
- ``score_code_sets`` returns, for a prompt of n codes and k sets of codes,
  k log-probabilities: entry j is the highest, over the n + 1 prefixes of the
  prompt (BOS alone up to the whole prompt), of
  ``log p(next code in set j | BOS, code_1..code_i)``, where the probability
  of a set is the sum of its codes' probabilities. Codes the model does not
  know add nothing; a set with none known gets ``-inf``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SCORE = "score"
#: Per-position statistics of the full next-code distribution, beside the scores.
SCORE_DETAILS = "score_details"
GENERATE = "generate"
EMBED = "embed"
#: The most likely point in a prompt for the next code to fall in each of several code sets.
SCORE_CODE_SETS = "score_code_sets"
CAPABILITIES = (SCORE, SCORE_DETAILS, GENERATE, EMBED, SCORE_CODE_SETS)


class CapabilityNotSupported(RuntimeError):
    """Raised when a probe requests a method the model does not implement."""


@dataclass(frozen=True)
class TokenScores:
    """A scored sequence with statistics of the model's full next-code distribution.

    All arrays have one entry per code of the sequence, as ``score`` returns:

    - ``log_probs``: log p(code_i | prefix), natural log;
    - ``mean``, ``std``: mean and standard deviation of log p(c | prefix) with
      c drawn from the model's next-code distribution p(. | prefix), for
      Min-K%++ (Zhang et al., "Min-K%++: Improved Baseline for Detecting
      Pre-Training Data from Large Language Models", 2024);
    - ``rank``: how many codes the model finds strictly more likely than the
      observed one (0 = the observed code is the most likely), for top-k
      accuracy.
    """

    log_probs: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    rank: np.ndarray


@dataclass(frozen=True)
class GenerationRequest:
    """Sample ``samples`` continuations of ``prompt`` with a per-request ``seed``."""

    prompt: tuple[str, ...]
    samples: int
    max_new_tokens: int
    temperature: float
    seed: int


@dataclass(frozen=True)
class CodeSetRequest:
    """Ask how likely the next code is in each of ``code_sets``, at the prompt's best prefix."""

    prompt: tuple[str, ...]
    #: Sets of candidate codes, each sorted and without repeats.
    code_sets: tuple[tuple[str, ...], ...]


def code_set_columns(
    code_sets: tuple[tuple[str, ...], ...], index: Mapping[str, int]
) -> list[list[int]]:
    """Return the sorted, distinct ids in ``index`` of each set's codes; unknown codes are left out.

    >>> code_set_columns((("A", "B", "Z"), ("Z",)), {"A": 3, "B": 1})
    [[1, 3], []]
    """
    return [sorted({index[code] for code in codes if code in index}) for codes in code_sets]


class ModelAdapter(ABC):
    """A model under test, seen through the three methods probes may call."""

    #: The id the registry resolved, e.g. ``hf:/path/to/model`` or ``population``.
    model_id: str

    @property
    @abstractmethod
    def capabilities(self) -> frozenset[str]:
        """Return the methods this adapter implements, from ``CAPABILITIES``."""

    @abstractmethod
    def digest(self) -> str:
        """Return a content digest (``sha256:<hex>``) of the weights and vocabulary.

        Cache keys and results use it, so two different models never share an
        entry and a result names exactly which model produced it.
        """

    @abstractmethod
    def vocabulary(self) -> frozenset[str]:
        """Return the codes the model knows; other codes are unknown to it."""

    def score(self, sequences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Return per-code log-probabilities (float64, natural log) for each sequence."""
        raise CapabilityNotSupported(f"{self.model_id} cannot score sequences")

    def score_details(self, sequences: Sequence[Sequence[str]]) -> list[TokenScores]:
        """Return per-code log-probabilities with statistics of the full distribution."""
        raise CapabilityNotSupported(f"{self.model_id} cannot describe its next-code distribution")

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[tuple[str, ...]]]:
        """Return ``request.samples`` sampled continuations for each request."""
        raise CapabilityNotSupported(f"{self.model_id} cannot generate")

    def embed(self, sequences: Sequence[Sequence[str]]) -> np.ndarray:
        """Return one vector per sequence, shape (len(sequences), dim)."""
        raise CapabilityNotSupported(f"{self.model_id} cannot embed sequences")

    def score_code_sets(self, requests: Sequence[CodeSetRequest]) -> list[np.ndarray]:
        """Return, per request, one log-probability per code set: the highest over the
        prompt's prefixes that the next code is in the set (float64, natural log)."""
        raise CapabilityNotSupported(f"{self.model_id} cannot score code sets")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release memory held by the model."""
