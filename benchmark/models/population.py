"""The ``population`` model: unigram code frequencies, which memorize nothing.

The model counts every token of the sequences it is fit on and one
end-of-sequence event per sequence, then smooths with add-one over the known
codes, the end event and one bucket shared by all unknown codes::

    p(c) = (count(c) + 1) / (N + V + 2)

where N is the number of tokens plus the number of sequences and V the number
of distinct known codes. A code's probability ignores its context, so a
member's record is no more likely than a non-member's with the same codes:
this model is the bottom rung of the known-answer ladder.

The registry fits it on the cohort's ``tuning`` split, which holds neither
members nor non-members. Fit on the members instead, rare codes would carry a
small membership signal: a code that occurs k times in the members' sequences
scores log(k + 1) above a code no member has.

``score_details`` describes the same distribution over every category the
model scores (the known codes, the end event and the unknown bucket), which is
the same at every position.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from benchmark.models.base import (
    GENERATE,
    SCORE,
    SCORE_CODE_SETS,
    SCORE_DETAILS,
    CodeSetRequest,
    GenerationRequest,
    ModelAdapter,
    TokenScores,
)


def log_probability_moments(log_probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean and standard deviation of log p(c) for c drawn from p, along the last axis.

    ``log_probabilities`` contains a whole distribution in its last axis (natural
    log). Entries of probability 0 add nothing, since p log p tends to 0.
    """
    probabilities = np.exp(log_probabilities)
    finite = np.where(probabilities > 0, log_probabilities, 0.0)
    mean = (probabilities * finite).sum(axis=-1)
    variance = (probabilities * (finite - mean[..., np.newaxis]) ** 2).sum(axis=-1)
    return mean, np.sqrt(np.maximum(variance, 0.0))


class PopulationModel(ModelAdapter):
    """Unigram frequencies of the tokens it is fit on, with add-one smoothing."""

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

        # Every position has this one distribution, so its statistics are constants.
        self._mean, self._std = log_probability_moments(self._log_probabilities)
        ascending = np.sort(self._log_probabilities)
        more_likely = len(ascending) - np.searchsorted(ascending, self._log_probabilities, "right")
        self._category_ranks = more_likely.astype(np.float64)

    @classmethod
    def fit(
        cls, sequences: Sequence[Sequence[str]], vocabulary: Iterable[str] = ()
    ) -> PopulationModel:
        """Count the tokens of ``sequences``, one end-of-sequence event per sequence.

        Codes of ``vocabulary`` that the sequences lack are known with a count of 0.
        """
        tokens = [code for sequence in sequences for code in sequence]
        counts = Counter(tokens)
        for code in vocabulary:
            counts.setdefault(code, 0)
        codes = sorted(counts)
        return cls(codes, [counts[c] for c in codes], end_count=len(sequences))

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({SCORE, SCORE_DETAILS, GENERATE, SCORE_CODE_SETS})

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

    @property
    def unknown_log_probability(self) -> float:
        """Log-probability of the bucket shared by all codes the model does not know."""
        return float(self._log_probabilities[self._unknown_index])

    def score(self, sequences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        lengths = [len(sequence) for sequence in sequences]
        flat = [code for sequence in sequences for code in sequence]
        log_probabilities = self.log_probability(flat)
        return np.split(log_probabilities, np.cumsum(lengths)[:-1]) if sequences else []

    def score_details(self, sequences: Sequence[Sequence[str]]) -> list[TokenScores]:
        """Score like ``score``, with the constant statistics of the unigram distribution.

        The distribution covers the known codes, the end event and the unknown
        bucket. An unknown code is ranked as its bucket.
        """
        if not sequences:
            return []
        lengths = [len(sequence) for sequence in sequences]
        flat = [code for sequence in sequences for code in sequence]
        categories = self._category_indices(flat)
        boundaries = np.cumsum(lengths)[:-1]
        log_probabilities = np.split(self._log_probabilities[categories], boundaries)
        ranks = np.split(self._category_ranks[categories], boundaries)

        details = []
        for length, log_probs, rank in zip(lengths, log_probabilities, ranks, strict=True):
            mean = np.full(length, self._mean)
            std = np.full(length, self._std)
            details.append(TokenScores(log_probs=log_probs, mean=mean, std=std, rank=rank))
        return details

    def score_code_sets(self, requests: Sequence[CodeSetRequest]) -> list[np.ndarray]:
        """Return each set's unigram probability, the same after every prefix.

        Unknown codes add nothing: the unknown bucket is not a code the model
        would emit.
        """
        return [
            np.array([self._set_log_probability(codes) for codes in request.code_sets])
            for request in requests
        ]

    def _set_log_probability(self, codes: Sequence[str]) -> float:
        categories = self._category_indices(codes)
        known = np.unique(categories[categories != self._unknown_index])
        return float(np.logaddexp.reduce(self._log_probabilities[known])) if len(known) else -np.inf

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
