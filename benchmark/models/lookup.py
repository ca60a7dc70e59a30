"""The ``lookup`` model: copies member records, so it memorizes everything.

Scoring mixes the empirical next-token distribution of the members who share
the sequence's prefix with the ``population`` unigram::

    p(code_i | code_1..code_{i-1}) = (1 - ε) q + ε population(code_i),   ε = 0.05

where q is the share of members whose first i-1 tokens equal the prefix and
whose next event is ``code_i``. When no member shares the prefix, q is the
population unigram itself. A member's own record therefore scores far higher
than a non-member's.

Generation finds the member whose record best matches the prompt and returns
that record with the prompt's codes taken out. Prompted with the start of a
member's record, it returns the rest of the record. Prompted with a record
missing some codes, it returns exactly those codes. This is the top rung of
the known-answer ladder.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from benchmark.models.base import GENERATE, SCORE, GenerationRequest, ModelAdapter
from benchmark.models.population import PopulationModel

POPULATION_WEIGHT = 0.05
# Prompts matched per sparse product; bounds the dense (prompts x members) block in memory.
_MATCH_CHUNK = 256


class LookupModel(ModelAdapter):
    """Prefix counts and copies of the member records."""

    model_id = "lookup"

    def __init__(self, sequences: Sequence[Sequence[str]]) -> None:
        """Index the member ``sequences``; their order breaks ties between equal matches."""
        self._sequences = [tuple(sequence) for sequence in sequences]
        self._population = PopulationModel.fit(self._sequences)
        self._token_ids = {
            code: index
            for index, code in enumerate(sorted({c for s in self._sequences for c in s}))
        }
        self._build_prefix_tree()
        self._build_match_index()

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[str]]) -> LookupModel:
        """Build the model from the member token sequences."""
        return cls(sequences)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({SCORE, GENERATE})

    def digest(self) -> str:
        hasher = hashlib.sha256(f"clinmem lookup model\nε={POPULATION_WEIGHT}\n".encode())
        for sequence in self._sequences:
            hasher.update("\x1f".join(sequence).encode())
            hasher.update(b"\n")
        return f"sha256:{hasher.hexdigest()}"

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self._token_ids)

    def score(self, sequences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return [self._score_one(sequence) for sequence in sequences]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[tuple[str, ...]]]:
        """Copy the best-matching member record for each sample.

        The best match shares the most distinct codes with the prompt. Ties go
        to the longer common prefix, then to a draw from the request's own
        ``numpy.random.default_rng(seed)``, one draw per sample. The temperature is
        ignored: the model has no distribution to sharpen.
        """
        results: list[list[tuple[str, ...]]] = []
        for start in range(0, len(requests), _MATCH_CHUNK):
            chunk = requests[start : start + _MATCH_CHUNK]
            shared_counts = self._shared_code_counts([request.prompt for request in chunk])
            for request, shared in zip(chunk, shared_counts, strict=True):
                results.append(self._generate_one(request, shared))
        return results

    def _build_prefix_tree(self) -> None:
        # Node ids identify prefixes exactly, so (node, token) -> child acts as a
        # collision-free rolling hash of the prefix. reach[node] counts the members
        # whose sequence starts with that prefix, so q(token | prefix) is
        # reach[child] / reach[node].
        self._children: dict[tuple[int, int], int] = {}
        reach = [len(self._sequences)]
        for sequence in self._sequences:
            node = 0
            for code in sequence:
                key = (node, self._token_ids[code])
                child = self._children.get(key)
                if child is None:
                    child = len(reach)
                    self._children[key] = child
                    reach.append(0)
                reach[child] += 1
                node = child
        self._reach = reach

    def _build_match_index(self) -> None:
        rows, columns = [], []
        for row, sequence in enumerate(self._sequences):
            distinct = {self._token_ids[code] for code in sequence}
            rows.extend([row] * len(distinct))
            columns.extend(distinct)
        shape = (len(self._sequences), len(self._token_ids))
        values = np.ones(len(rows), dtype=np.int32)
        self._member_codes = sparse.csr_matrix((values, (rows, columns)), shape=shape)

        # Token ids padded with -1, for common-prefix lengths of many members at once.
        width = max((len(sequence) for sequence in self._sequences), default=0)
        self._member_token_matrix = np.full((len(self._sequences), width), -1, dtype=np.int32)
        for row, sequence in enumerate(self._sequences):
            self._member_token_matrix[row, : len(sequence)] = [
                self._token_ids[code] for code in sequence
            ]

    def _score_one(self, sequence: Sequence[str]) -> np.ndarray:
        population = np.exp(self._population.log_probability(sequence))
        shared_share = np.zeros(len(sequence))
        matched = np.zeros(len(sequence), dtype=bool)

        node: int | None = 0
        for position, code in enumerate(sequence):
            if node is None:
                break
            matched[position] = True
            token = self._token_ids.get(code)
            child = self._children.get((node, token)) if token is not None else None
            if child is not None:
                shared_share[position] = self._reach[child] / self._reach[node]
            node = child

        mixed = (1 - POPULATION_WEIGHT) * shared_share + POPULATION_WEIGHT * population
        return np.log(np.where(matched, mixed, population))

    def _shared_code_counts(self, prompts: Sequence[Sequence[str]]) -> np.ndarray:
        rows, columns = [], []
        for row, prompt in enumerate(prompts):
            distinct = {self._token_ids[code] for code in prompt if code in self._token_ids}
            rows.extend([row] * len(distinct))
            columns.extend(distinct)
        values = np.ones(len(rows), dtype=np.int32)
        prompt_codes = sparse.csr_matrix(
            (values, (rows, columns)), shape=(len(prompts), len(self._token_ids))
        )
        return (prompt_codes @ self._member_codes.T).toarray()

    def _generate_one(
        self, request: GenerationRequest, shared: np.ndarray
    ) -> list[tuple[str, ...]]:
        if not self._sequences:
            return [() for _ in range(request.samples)]

        candidates = np.flatnonzero(shared == shared.max())
        if len(candidates) > 1:
            prefix_lengths = self._common_prefix_lengths(request.prompt, candidates)
            candidates = candidates[prefix_lengths == prefix_lengths.max()]

        rng = np.random.default_rng(request.seed)
        picks = candidates[rng.integers(len(candidates), size=request.samples)]
        continuations = {
            member: self._continuation(self._sequences[member], request)
            for member in set(picks.tolist())
        }
        return [continuations[member] for member in picks.tolist()]

    def _common_prefix_lengths(self, prompt: Sequence[str], candidates: np.ndarray) -> np.ndarray:
        width = min(len(prompt), self._member_token_matrix.shape[1])
        prompt_ids = np.array([self._token_ids.get(code, -2) for code in prompt[:width]])
        equal = self._member_token_matrix[candidates, :width] == prompt_ids
        return np.cumprod(equal, axis=1).sum(axis=1)

    @staticmethod
    def _continuation(record: tuple[str, ...], request: GenerationRequest) -> tuple[str, ...]:
        # Remove the prompt from the record as a multiset: each prompt code takes out
        # its first remaining occurrence, and the rest keeps the record's order.
        remaining = Counter(request.prompt)
        continuation = []
        for code in record:
            if remaining[code] > 0:
                remaining[code] -= 1
            else:
                continuation.append(code)
        return tuple(continuation[: request.max_new_tokens])
