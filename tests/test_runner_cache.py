import sqlite3

import numpy as np

from benchmark.models.base import SCORE, ModelAdapter
from benchmark.runner.cache import AnswerCache, request_key
from benchmark.runner.executor import LocalExecutor, ModelCallError


class CountingUnigram(ModelAdapter):
    """A real (if simple) model: fixed per-code log-probabilities; counts calls."""

    model_id = "counting-unigram"

    def __init__(self):
        self.calls = 0
        self.scored = 0

    @property
    def capabilities(self):
        return frozenset({SCORE})

    def digest(self):
        return "sha256:counting"

    def vocabulary(self):
        return frozenset({"A", "B"})

    def score(self, sequences):
        self.calls += 1
        self.scored += len(sequences)
        return [np.array([np.log(0.7) if c == "A" else np.log(0.3) for c in s]) for s in sequences]


def test_cache_round_trip_and_checksum(tmp_path):
    cache = AnswerCache(tmp_path)
    cache.put_many({"k1": b"payload-1", "k2": b"payload-2"})
    assert cache.get_many(["k1", "k2", "k3"]) == {"k1": b"payload-1", "k2": b"payload-2"}

    # Corrupt one entry behind the cache's back: it must be dropped, not served.
    with sqlite3.connect(tmp_path / "answers.sqlite") as raw:
        raw.execute("UPDATE answers SET payload = ? WHERE key = 'k1'", (b"garbage",))
    assert cache.get_many(["k1", "k2"]) == {"k2": b"payload-2"}
    assert len(cache) == 1


def test_request_key_depends_on_model_and_payload():
    assert request_key("m1", "score", ["A"]) != request_key("m2", "score", ["A"])
    assert request_key("m1", "score", ["A"]) != request_key("m1", "score", ["B"])
    assert request_key("m1", "score", ["A"]) == request_key("m1", "score", ["A"])


def test_executor_deduplicates_batches_and_reuses_cache(tmp_path):
    model = CountingUnigram()
    executor = LocalExecutor(model, AnswerCache(tmp_path), batch_size=2, progress=False)
    sequences = [["A", "B"], ["A"], ["A", "B"], ["B", "B", "B"]]
    first = executor.score(sequences)
    assert model.scored == 3
    assert model.calls == 2
    np.testing.assert_allclose(first[0], [np.log(0.7), np.log(0.3)])
    np.testing.assert_array_equal(first[0], first[2])

    again = LocalExecutor(model, AnswerCache(tmp_path), batch_size=2, progress=False)
    second = again.score(sequences)
    assert model.scored == 3
    assert again.statistics.for_method("score").from_cache == 3
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_executor_rejects_wrong_length_answers(tmp_path):
    class Truncating(CountingUnigram):
        def score(self, sequences):
            return [np.zeros(max(len(s) - 1, 0)) for s in sequences]

    executor = LocalExecutor(Truncating(), None, progress=False)
    try:
        executor.score([["A", "B"]])
    except ModelCallError as error:
        assert "1 log-probabilities for a sequence of 2 codes" in str(error)
    else:
        raise AssertionError("a malformed answer was accepted")


def test_executor_wraps_adapter_exceptions(tmp_path):
    class Raising(CountingUnigram):
        def score(self, sequences):
            raise RuntimeError("CUDA out of memory")

    executor = LocalExecutor(Raising(), None, progress=False)
    try:
        executor.score([["A"]])
    except ModelCallError as error:
        assert "counting-unigram.score failed: RuntimeError: CUDA out of memory" in str(error)
    else:
        raise AssertionError("an adapter error was swallowed")
