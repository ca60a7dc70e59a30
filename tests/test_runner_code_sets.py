"""The executor's score_code_sets: batching, caching and checks of what adapters return."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.models.base import CodeSetRequest
from benchmark.models.population import PopulationModel
from benchmark.runner.cache import AnswerCache
from benchmark.runner.executor import LocalExecutor, ModelCallError

CODES = ["SNOMED//1", "SNOMED//2", "SNOMED//3"]


class MalformedPopulation(PopulationModel):
    """The population model with fixed, possibly malformed, code-set results."""

    def __init__(self, answer: np.ndarray) -> None:
        super().__init__(CODES, [3, 1, 0], end_count=2)
        self.answer = answer

    def score_code_sets(self, requests):
        return [self.answer for _ in requests]


def _requests(count: int) -> list[CodeSetRequest]:
    code_sets = (("SNOMED//1",), ("SNOMED//2", "SNOMED//3"))
    return [CodeSetRequest(tuple(CODES[: i % 3]), code_sets) for i in range(count)]


def test_answers_are_cached_and_deduplicated(tmp_path):
    model = PopulationModel(CODES, [3, 1, 0], end_count=2)
    requests = _requests(9)

    cache = AnswerCache(tmp_path)
    first = LocalExecutor(model, cache, batch_size=2, progress=False)
    answers = first.score_code_sets(requests)
    second = LocalExecutor(model, cache, batch_size=2, progress=False)
    again = second.score_code_sets(requests)
    cache.close()

    statistics = first.statistics.methods["score_code_sets"]
    assert (statistics.requested, statistics.unique, statistics.computed) == (9, 3, 3)
    assert second.statistics.methods["score_code_sets"].from_cache == 3
    expected = model.score_code_sets(requests)
    for answer, repeated, direct in zip(answers, again, expected, strict=True):
        np.testing.assert_array_equal(answer, direct)
        np.testing.assert_array_equal(repeated, direct)


def test_code_order_within_set_ignored():
    model = PopulationModel(CODES, [3, 1, 0], end_count=2)
    executor = LocalExecutor(model, None, progress=False)

    [a, b] = executor.score_code_sets(
        [
            CodeSetRequest(("SNOMED//1",), (("SNOMED//2", "SNOMED//3"),)),
            CodeSetRequest(("SNOMED//1",), (("SNOMED//3", "SNOMED//2"),)),
        ]
    )

    assert executor.statistics.methods["score_code_sets"].unique == 1
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (np.array([-1.0]), "returned 1 code-set log-probabilities for a request of 2 code sets"),
        (np.array([-1.0, np.nan]), "NaN log-probabilities"),
        (np.array([-1.0, 0.5]), "above 0"),
    ],
)
def test_malformed_answers_are_rejected(answer, message):
    executor = LocalExecutor(MalformedPopulation(answer), None, progress=False)

    with pytest.raises(ModelCallError, match=message):
        executor.score_code_sets(_requests(1))


def test_minus_infinity_passes():
    executor = LocalExecutor(MalformedPopulation(np.array([-1.0, -np.inf])), None, progress=False)

    [answer] = executor.score_code_sets(_requests(1))

    assert answer[1] == -np.inf
