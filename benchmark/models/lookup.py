"""The ``lookup`` model: copies member records, so it memorizes everything.

Scoring mixes the empirical next-token distribution of the members who share
the sequence's prefix with the ``population`` unigram::

    p(code_i | code_1..code_{i-1}) = (1 - ε) q + ε population(code_i),   ε = 0.05

where q is the share of members whose first i-1 tokens equal the prefix and
whose next event is ``code_i``. When no member shares the prefix, q is the
population unigram itself. A member's own record therefore scores far higher
than a non-member's.

``score_details`` describes the whole mixture at each position: every code the
members have, the end event (a member whose record ends after the prefix
counts towards q(end)) and the population's unknown-code bucket. Its
statistics come from a dense (positions x categories) table per sequence.

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

from benchmark.models.base import (
    GENERATE,
    SCORE,
    SCORE_CODE_SETS,
    SCORE_DETAILS,
    CodeSetRequest,
    GenerationRequest,
    ModelAdapter,
    TokenScores,
    code_set_columns,
)
from benchmark.models.population import PopulationModel, log_probability_moments

POPULATION_WEIGHT = 0.05
# Prompts matched per sparse product; bounds the dense (prompts x members) block in memory.
_MATCH_CHUNK = 256
#: Stands for "whatever follows the prompt" when walking the prefix tree; no member has it.
_AFTER_PROMPT = "\x00after prompt"


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
        self._index_children()
        self._build_match_index()

        # Population probabilities by category: token ids, then the end event, then unknown codes.
        self._end_column = len(self._token_ids)
        codes_by_id = sorted(self._token_ids, key=self._token_ids.__getitem__)
        population_log_probabilities = np.concatenate(
            [
                self._population.log_probability(codes_by_id),
                [self._population.end_log_probability, self._population.unknown_log_probability],
            ]
        )
        self._population_probabilities = np.exp(population_log_probabilities)

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[str]]) -> LookupModel:
        """Build the model from the member token sequences."""
        return cls(sequences)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({SCORE, SCORE_DETAILS, GENERATE, SCORE_CODE_SETS})

    def digest(self) -> str:
        hasher = hashlib.sha256(f"clinmem lookup model\nε={POPULATION_WEIGHT}\n".encode())
        for sequence in self._sequences:
            hasher.update("\x1f".join(sequence).encode())
            hasher.update(b"\n")
        return f"sha256:{hasher.hexdigest()}"

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self._token_ids)

    def score(self, sequences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return [
            self._score_one(sequence, *self._walk_prefix_tree(sequence)) for sequence in sequences
        ]

    def score_details(self, sequences: Sequence[Sequence[str]]) -> list[TokenScores]:
        """Score like ``score``, with statistics of the mixture over every category.

        The categories are the members' codes, the end event and the unknown
        bucket, and an unknown code is ranked as its bucket.
        """
        return [self._score_details_one(sequence) for sequence in sequences]

    def score_code_sets(self, requests: Sequence[CodeSetRequest]) -> list[np.ndarray]:
        """Return each set's highest mixture probability over the prefixes of each prompt.

        A prompt that follows a member's record up to a removed code gets that
        code's share q at the gap, so the lookup model fills gaps it has seen.
        """
        columns_of: dict[tuple, list[list[int]]] = {}
        answers = []
        for request in requests:
            if request.code_sets not in columns_of:
                columns_of[request.code_sets] = code_set_columns(request.code_sets, self._token_ids)
            # A code no member has ends the walk, so the last node is the one after the prompt.
            nodes, _ = self._walk_prefix_tree((*request.prompt, _AFTER_PROMPT))
            table = self._next_code_probabilities(nodes)
            values = []
            for columns in columns_of[request.code_sets]:
                values.append(
                    float(np.log(table[:, columns].sum(axis=1).max())) if columns else -np.inf
                )
            answers.append(np.array(values))
        return answers

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

    def _index_children(self) -> None:
        # The children of node n are entries _child_offsets[n]:_child_offsets[n + 1] of
        # _child_tokens and _child_reach. _end_reach[n] counts the members whose record
        # ends right after prefix n.
        node_count = len(self._reach)
        parents = np.fromiter((node for node, _ in self._children), np.int64, len(self._children))
        tokens = np.fromiter((token for _, token in self._children), np.int64, len(self._children))
        children = np.fromiter(self._children.values(), np.int64, len(self._children))
        order = np.argsort(parents, kind="stable")

        self._reach_array = np.asarray(self._reach, dtype=np.int64)
        self._child_tokens = tokens[order]
        self._child_reach = self._reach_array[children[order]]
        child_counts = np.bincount(parents, minlength=node_count)
        self._child_offsets = np.concatenate([[0], np.cumsum(child_counts)])

        reach_of_children = np.zeros(node_count, dtype=np.int64)
        np.add.at(reach_of_children, parents, self._reach_array[children])
        self._end_reach = self._reach_array - reach_of_children

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

    def _walk_prefix_tree(self, sequence: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return the prefix node before each code (-1 once no member shares it) and q(code)."""
        nodes = np.full(len(sequence), -1, dtype=np.int64)
        shared_share = np.zeros(len(sequence))

        # Without members not even the empty prefix is shared, so the root does not count.
        node: int | None = 0 if self._sequences else None
        for position, code in enumerate(sequence):
            if node is None:
                break
            nodes[position] = node
            token = self._token_ids.get(code)
            child = self._children.get((node, token)) if token is not None else None
            if child is not None:
                shared_share[position] = self._reach[child] / self._reach[node]
            node = child
        return nodes, shared_share

    def _score_one(
        self, sequence: Sequence[str], nodes: np.ndarray, shared_share: np.ndarray
    ) -> np.ndarray:
        population = np.exp(self._population.log_probability(sequence))
        mixed = (1 - POPULATION_WEIGHT) * shared_share + POPULATION_WEIGHT * population
        return np.log(np.where(nodes >= 0, mixed, population))

    def _score_details_one(self, sequence: Sequence[str]) -> TokenScores:
        nodes, shared_share = self._walk_prefix_tree(sequence)
        log_probs = self._score_one(sequence, nodes, shared_share)

        log_table = np.log(self._next_code_probabilities(nodes))
        mean, std = log_probability_moments(log_table)

        # The observed entries take score's values, so that a last-bit difference between
        # the two computations cannot count the observed code as more likely than itself.
        categories = np.array(
            [self._token_ids.get(code, self._end_column + 1) for code in sequence], dtype=np.int64
        )
        log_table[np.arange(len(sequence)), categories] = log_probs
        rank = (log_table > log_probs[:, np.newaxis]).sum(axis=-1).astype(np.float64)
        return TokenScores(log_probs=log_probs, mean=mean, std=std, rank=rank)

    def _next_code_probabilities(self, nodes: np.ndarray) -> np.ndarray:
        """Return p(category | prefix) as a (positions, categories) table.

        Columns are the token ids, then the end event, then the unknown bucket.
        """
        table = np.tile(self._population_probabilities, (len(nodes), 1))
        rows = np.flatnonzero(nodes >= 0)
        if len(rows) == 0:
            return table

        # Gather every child of every matched node at once: entry k of row r is the
        # k-th child of nodes[rows[r]].
        matched = nodes[rows]
        starts = self._child_offsets[matched]
        counts = self._child_offsets[matched + 1] - starts
        child_rows = np.repeat(np.arange(len(rows)), counts)
        first_entries = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        entries = np.arange(counts.sum()) + first_entries

        reach = self._reach_array[matched]
        shares = np.zeros((len(rows), table.shape[1]))
        shares[child_rows, self._child_tokens[entries]] = (
            self._child_reach[entries] / reach[child_rows]
        )
        shares[:, self._end_column] = self._end_reach[matched] / reach
        table[rows] = (1 - POPULATION_WEIGHT) * shares + POPULATION_WEIGHT * table[rows]
        return table

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
