"""A real, simple model adapter and the faults a third-party adapter can have.

``UnigramAdapter`` is a working model: add-one smoothed code frequencies of
the members, sampled with an end-of-sequence chance per step, and a
bag-of-codes embedding. The ``faulty`` plugin serves ``faulty:<faults>``,
where ``<faults>`` joins fault names with ``+`` (``faulty:nan+empty``); each
fault changes one method the way a broken adapter would.

The tests register the plugin through the ``clinmem.models`` entry-point
group, as a distribution on ``sys.path`` (see ``install_faulty_plugin``).
"""

from __future__ import annotations

import hashlib
import math
import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmark.data.sequence import build_sequence
from benchmark.models.base import EMBED, GENERATE, SCORE, GenerationRequest, ModelAdapter
from benchmark.models.registry import ModelContext

#: Chance that a sampled continuation ends after each code.
END_PROBABILITY = 0.15
#: Codes counted by the bag-of-codes embedding, the most frequent first.
EMBEDDING_CODES = 32

FAULTS = (
    "nan",  # score: NaN for the most frequent code
    "minus_inf",  # score: minus infinity for the most frequent code
    "logits",  # score: positive values, as if it returned logits
    "empty",  # generate: every continuation empty
    "overlong",  # generate: continuations longer than max_new_tokens
    "bounded",  # generate: never ends early, always exactly max_new_tokens codes
    "int_codes",  # generate: integers in place of code strings
    "nan_embedding",  # embed: NaN for sequences with the most frequent code
    "raising",  # score, generate, embed: raise with the input codes in the message
    "narrow",  # vocabulary: only demographic codes
    "factory_error",  # the plugin factory raises
    "digest_error",  # digest() raises
    "no_digest",  # digest() returns None
    "unknown_capability",  # capabilities name a method clinmem does not have
)


class UnigramAdapter(ModelAdapter):
    """Smoothed code frequencies of the members: memorizes nothing, generalizes a little."""

    def __init__(self, model_id: str, sequences: Sequence[Sequence[str]]) -> None:
        self.model_id = model_id
        counts = Counter(code for sequence in sequences for code in sequence)
        self.codes = sorted(counts, key=lambda code: (-counts[code], code))
        total = sum(counts.values()) + len(self.codes) + 1
        self.log_p = {code: math.log((counts[code] + 1) / total) for code in self.codes}
        self.unknown_log_p = math.log(1 / total)
        probabilities = np.array([math.exp(self.log_p[code]) for code in self.codes])
        self.probabilities = probabilities / probabilities.sum()
        self.most_frequent = self.codes[0]

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({SCORE, GENERATE, EMBED})

    def digest(self) -> str:
        text = self.model_id + repr(sorted(self.log_p.items()))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.codes)

    def score(self, sequences):
        return [
            np.array([self.log_p.get(code, self.unknown_log_p) for code in sequence])
            for sequence in sequences
        ]

    def generate(self, requests: Sequence[GenerationRequest]):
        answers = []
        for request in requests:
            rng = np.random.default_rng(request.seed)
            samples = []
            for _ in range(request.samples):
                length = min(int(rng.geometric(END_PROBABILITY)) - 1, request.max_new_tokens)
                drawn = rng.choice(len(self.codes), size=length, p=self.probabilities)
                samples.append(tuple(self.codes[i] for i in drawn))
            answers.append(samples)
        return answers

    def embed(self, sequences):
        index = {code: i for i, code in enumerate(self.codes[:EMBEDDING_CODES])}
        vectors = np.zeros((len(sequences), EMBEDDING_CODES + 1))
        for row, sequence in enumerate(sequences):
            for code in sequence:
                if code in index:
                    vectors[row, index[code]] += 1
            vectors[row, -1] = len(sequence)
        return vectors


class FaultyAdapter(UnigramAdapter):
    """The unigram with the named faults."""

    def __init__(self, model_id: str, sequences, faults: set[str]) -> None:
        super().__init__(model_id, sequences)
        self.faults = faults

    @property
    def capabilities(self) -> frozenset[str]:
        if "unknown_capability" in self.faults:
            return frozenset({SCORE, "telepathy"})
        return super().capabilities

    def digest(self) -> str:
        if "digest_error" in self.faults:
            raise OSError("weights file vanished")
        if "no_digest" in self.faults:
            return None  # type: ignore[return-value]
        return super().digest()

    def vocabulary(self) -> frozenset[str]:
        if "narrow" in self.faults:
            return frozenset(c for c in self.codes if c.startswith(("GENDER//", "AGE//")))
        return super().vocabulary()

    def score(self, sequences):
        if "raising" in self.faults:
            raise ValueError(f"cannot score {list(sequences[0])}")
        scores = super().score(sequences)
        for sequence, values in zip(sequences, scores, strict=True):
            hit = np.array([code == self.most_frequent for code in sequence], bool)
            if "nan" in self.faults:
                values[hit] = np.nan
            if "minus_inf" in self.faults:
                values[hit] = -np.inf
            if "logits" in self.faults:
                values[:] = -values
        return scores

    def generate(self, requests):
        if "raising" in self.faults:
            raise ValueError(f"cannot continue {list(requests[0].prompt)}")
        if "empty" in self.faults:
            return [[()] * request.samples for request in requests]
        if "overlong" in self.faults:
            return [
                [(self.most_frequent,) * (request.max_new_tokens + 5)] * request.samples
                for request in requests
            ]
        if "bounded" in self.faults:
            return [
                [(self.most_frequent,) * request.max_new_tokens] * request.samples
                for request in requests
            ]
        if "int_codes" in self.faults:
            return [[(1, 2, 3)] * request.samples for request in requests]
        return super().generate(requests)

    def embed(self, sequences):
        if "raising" in self.faults:
            raise ValueError(f"cannot embed {list(sequences[0])}")
        vectors = super().embed(sequences)
        if "nan_embedding" in self.faults:
            for row, sequence in enumerate(sequences):
                if self.most_frequent in sequence:
                    vectors[row, 0] = np.nan
        return vectors


def make_faulty(model_id: str, context: ModelContext) -> ModelAdapter:
    """The ``clinmem.models`` factory: ``faulty:<fault>+<fault>``, fit on the members."""
    faults = set(model_id.partition(":")[2].split("+")) - {""}
    unknown = faults - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}; the faults are {FAULTS}")
    if "factory_error" in faults:
        raise RuntimeError("the weights file is missing")
    members = context.cohort.members
    sequences = [build_sequence(p, context.max_sequence_length).tokens for p in members]
    return FaultyAdapter(model_id, sequences, faults)


def install_faulty_plugin(site: Path) -> Path:
    """Write a distribution whose ``clinmem.models`` entry point ``faulty`` is ``make_faulty``.

    Returns ``site``, the folder to put on ``sys.path`` (or ``PYTHONPATH``).
    The module itself is this file, so ``tests/`` must be importable too.
    """
    dist_info = site / "clinmem_faulty_plugin-0.1.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: clinmem-faulty-plugin\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [clinmem.models]
            faulty = faulty_adapters:make_faulty
            """
        )
    )
    return site
