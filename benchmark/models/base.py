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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SCORE = "score"
GENERATE = "generate"
EMBED = "embed"
CAPABILITIES = (SCORE, GENERATE, EMBED)


class CapabilityNotSupported(RuntimeError):
    """Raised when a probe asks a model for something it cannot do."""


@dataclass(frozen=True)
class GenerationRequest:
    """Sample ``samples`` continuations of ``prompt`` with a per-request ``seed``."""

    prompt: tuple[str, ...]
    samples: int
    max_new_tokens: int
    temperature: float
    seed: int


class ModelAdapter(ABC):
    """A model under test, seen through the three methods probes may call."""

    #: The id the registry resolved, e.g. ``hf:/path/to/model`` or ``population``.
    model_id: str

    @property
    @abstractmethod
    def capabilities(self) -> frozenset[str]:
        """The methods this adapter implements, from ``CAPABILITIES``."""

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

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[tuple[str, ...]]]:
        """Return ``request.samples`` sampled continuations for each request."""
        raise CapabilityNotSupported(f"{self.model_id} cannot generate")

    def embed(self, sequences: Sequence[Sequence[str]]) -> np.ndarray:
        """Return one vector per sequence, shape (len(sequences), dim)."""
        raise CapabilityNotSupported(f"{self.model_id} cannot embed sequences")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release memory held by the model."""
