"""The ``population`` model: unigram code frequencies, which memorize nothing.

The model counts every token of the members' sequences and one end-of-sequence
event per sequence, then smooths with add-one over the known codes, the end
event and one bucket shared by all unknown codes::

    p(c) = (count(c) + 1) / (N + V + 2)

where N is the number of tokens plus the number of sequences and V the number
of distinct known codes. A code's probability ignores its context, so a
member's record is no more likely than a non-member's with the same codes:
this model is the bottom rung of the known-answer ladder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from benchmark.models.base import GENERATE, SCORE, GenerationRequest, ModelAdapter


class PopulationModel(ModelAdapter):
    """Unigram frequencies of the members' tokens, with add-one smoothing."""

    model_id = "population"

    def __init__(self, codes: Sequence[str], counts: Sequence[int], end_count: int) -> None:
        """Build the model from a frequency table; ``codes`` must be distinct."""
        order = np.argsort(np.asarray(codes, dtype=str), kind="stable")
        self._codes = np.asarray(codes, dtype=str)[order]
        if len(np.unique(self._codes)) != len(self._codes):
            raise ValueError("PopulationModel codes must be distinct")
        self._counts = np.asarray(counts, dtype=np.int64)[order]
        self._end_count = int(end_count)

        # Category indices: 0..V-1 the known codes, V the end of sequence, V+1 unknown codes.
        self._end_index = len(self._codes)
        self._unknown_index = len(self._codes) + 1
        smoothed = np.concatenate([self._counts, [self._end_count, 0]]).astype(np.float64) + 1.0
        self._log_probabilities = np.log(smoothed) - np.log(smoothed.sum())

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[str]]) -> PopulationModel:
        """Count the tokens of ``sequences``, one end-of-sequence event per sequence."""
        tokens = [code for sequence in sequences for code in sequence]
        codes, counts = np.unique(np.asarray(tokens, dtype=str), return_counts=True)
        return cls(codes.tolist(), counts.tolist(), end_count=len(sequences))

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({SCORE, GENERATE})

    def digest(self) -> str:
        hasher = hashlib.sha256(b"clinmem population model\n")
        for code, count in zip(self._codes.tolist(), self._counts.tolist(), strict=True):
            hasher.update(f"{code}\t{count}\n".encode())
        hasher.update(f"end of sequence\t{self._end_count}\n".encode())
        return f"sha256:{hasher.hexdigest()}"

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self._codes.tolist())

    def log_probability(self, codes: Sequence[str]) -> np.ndarray:
        """Return each code's smoothed log-probability; unknown codes share one bucket."""
        return self._log_probabilities[self._category_indices(codes)]

    @property
    def end_log_probability(self) -> float:
        """Log-probability of the end-of-sequence event."""
        return float(self._log_probabilities[self._end_index])

    def score(self, sequences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        lengths = [len(sequence) for sequence in sequences]
        flat = [code for sequence in sequences for code in sequence]
        log_probabilities = self.log_probability(flat)
        return np.split(log_probabilities, np.cumsum(lengths)[:-1]) if sequences else []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[tuple[str, ...]]]:
        """Draw i.i.d. codes until the end event or ``max_new_tokens``.

        Each request draws from its own ``numpy.random.default_rng(seed)``, so
        its samples do not depend on the other requests of the call.
        """
        return [self._generate_one(request) for request in requests]

    def _generate_one(self, request: GenerationRequest) -> list[tuple[str, ...]]:
        # Unknown codes are a scoring bucket, not a code the model can emit.
        log_weights = self._log_probabilities[: self._end_index + 1] / request.temperature
        weights = np.exp(log_weights - log_weights.max())
        cumulative = np.cumsum(weights)

        rng = np.random.default_rng(request.seed)
        uniforms = rng.random((request.samples, request.max_new_tokens))
        draws = np.searchsorted(cumulative, uniforms * cumulative[-1], side="right")
        draws = np.minimum(draws, self._end_index)

        samples = []
        for row in draws:
            ends = np.flatnonzero(row == self._end_index)
            length = ends[0] if len(ends) else len(row)
            samples.append(tuple(self._codes[row[:length]].tolist()))
        return samples

    def _category_indices(self, codes: Sequence[str]) -> np.ndarray:
        if len(codes) == 0 or len(self._codes) == 0:
            return np.full(len(codes), self._unknown_index, dtype=np.int64)
        queries = np.asarray(codes, dtype=str)
        positions = np.searchsorted(self._codes, queries)
        clipped = np.minimum(positions, len(self._codes) - 1)
        known = self._codes[clipped] == queries
        return np.where(known, clipped, self._unknown_index)
