"""The population model: smoothed unigram scores and seeded i.i.d. generation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_cohorts import make_cohort, make_cohort_from_codes

from benchmark.data.sequence import build_sequence
from benchmark.models.base import (
    GENERATE,
    SCORE,
    SCORE_CODE_SETS,
    SCORE_DETAILS,
    CodeSetRequest,
    GenerationRequest,
)
from benchmark.models.population import PopulationModel
from benchmark.models.registry import ModelContext, ModelLoadError, load_model


def test_scores_equal_smoothed_frequencies():
    model = PopulationModel.fit([("A", "B", "A"), ("B",)])

    # A: 2, B: 2, end of sequence: 2 -> N = 6; V = 2 known codes; denominator 6 + 2 + 2.
    [scores] = model.score([("A", "UNSEEN", "B")])

    np.testing.assert_allclose(scores, np.log([3 / 10, 1 / 10, 3 / 10]))
    assert math.isclose(model.end_log_probability, math.log(3 / 10))


def test_scores_ignore_context():
    model = PopulationModel.fit([("A", "B", "C"), ("C", "C")])

    forward, backward = model.score([("A", "B", "C"), ("C", "B", "A")])

    np.testing.assert_allclose(forward, backward[::-1])


def test_score_handles_empty_input():
    model = PopulationModel.fit([("A",)])

    assert model.score([]) == []
    [empty] = model.score([()])
    assert empty.shape == (0,)


def _enumerated_distribution(model: PopulationModel) -> np.ndarray:
    """Log-probability of every category the model scores, one at a time."""
    codes = sorted(model.vocabulary())
    known = [model.log_probability([code])[0] for code in codes]
    unknown = model.log_probability(["NOT//A_CODE"])[0]
    return np.array([*known, model.end_log_probability, unknown])


def _enumerated_details(distribution: np.ndarray, observed: np.ndarray):
    probabilities = np.exp(distribution)
    mean = np.sum(probabilities * distribution)
    std = np.sqrt(np.sum(probabilities * (distribution - mean) ** 2))
    ranks = np.array([np.sum(distribution > value) for value in observed])
    return mean, std, ranks


def test_score_details_hand_computed():
    # A: 3, B: 2, end of sequence: 1 -> N = 6; V = 2; p = (4, 3, 2, 1) / 10 for A, B, end, unknown.
    model = PopulationModel.fit([("A", "A", "B", "A", "B")])
    probabilities = np.array([0.4, 0.3, 0.2, 0.1])
    mean = np.sum(probabilities * np.log(probabilities))

    [details] = model.score_details([("A", "B", "UNSEEN", "A")])

    np.testing.assert_allclose(details.log_probs, np.log([0.4, 0.3, 0.1, 0.4]))
    np.testing.assert_allclose(details.mean, [mean] * 4)
    np.testing.assert_allclose(
        details.std, [np.sqrt(np.sum(probabilities * (np.log(probabilities) - mean) ** 2))] * 4
    )
    np.testing.assert_array_equal(details.rank, [0, 1, 3, 0])


def test_score_details_rank_skips_ties():
    # A, B and the end event all have p = 3/10, so none is strictly more likely than another.
    model = PopulationModel.fit([("A", "B", "A"), ("B",)])

    [details] = model.score_details([("A", "B", "UNSEEN")])

    np.testing.assert_array_equal(details.rank, [0, 0, 3])


def test_score_details_match_enumeration():
    cohort = make_cohort(30, seed=4)
    model = load_model("population", ModelContext(cohort=cohort))
    sequences = [build_sequence(p, 32).tokens for p in cohort.patients[:6]]
    sequences.append(("NOT//A_CODE", sequences[0][0]))
    distribution = _enumerated_distribution(model)

    details = model.score_details(sequences)
    scores = model.score(sequences)

    assert np.exp(distribution).sum() == pytest.approx(1.0, abs=1e-12)
    for sequence, detail, score in zip(sequences, details, scores, strict=True):
        mean, std, ranks = _enumerated_details(distribution, score)
        np.testing.assert_array_equal(detail.log_probs, score)
        np.testing.assert_allclose(detail.mean, np.full(len(sequence), mean), rtol=1e-12)
        np.testing.assert_allclose(detail.std, np.full(len(sequence), std), rtol=1e-12)
        np.testing.assert_array_equal(detail.rank, ranks)
        assert detail.rank.dtype == np.float64


def test_score_details_handle_empty_input():
    model = PopulationModel.fit([("A",)])

    assert model.score_details([]) == []
    [empty] = model.score_details([()])
    for values in (empty.log_probs, empty.mean, empty.std, empty.rank):
        assert values.shape == (0,)


def test_generation_is_seeded():
    model = PopulationModel.fit([("A", "B", "C", "D")] * 3)
    request = GenerationRequest(
        prompt=("A",), samples=5, max_new_tokens=10, temperature=1.0, seed=7
    )

    first = model.generate([request])
    second = model.generate([request])
    other_seed = model.generate([GenerationRequest(("A",), 5, 10, 1.0, seed=8)])

    assert first == second
    assert first != other_seed


def test_generation_is_batch_independent():
    model = PopulationModel.fit([("A", "B", "C", "D"), ("B", "B")])
    requests = [
        GenerationRequest(prompt=(), samples=4, max_new_tokens=6, temperature=1.0, seed=seed)
        for seed in range(5)
    ]

    together = model.generate(requests)
    alone = [model.generate([request])[0] for request in requests]

    assert together == alone


def test_generation_stops_at_end_and_limit():
    model = PopulationModel.fit([("A", "B")] * 10)
    request = GenerationRequest(prompt=(), samples=200, max_new_tokens=3, temperature=1.0, seed=0)

    [samples] = model.generate([request])

    assert len(samples) == 200
    assert all(len(sample) <= 3 for sample in samples)
    assert {code for sample in samples for code in sample} <= {"A", "B"}
    # p(end) = 11 / 35 per draw, so most of 200 samples end before the limit.
    assert sum(len(sample) < 3 for sample in samples) > 100


def test_generation_frequencies_match_probabilities():
    model = PopulationModel.fit([("A", "A", "A", "B")] * 5)
    request = GenerationRequest(prompt=(), samples=4000, max_new_tokens=1, temperature=1.0, seed=1)

    [samples] = model.generate([request])
    share_a = sum(sample == ("A",) for sample in samples) / len(samples)

    # A: 15 + 1, B: 5 + 1, end: 5 + 1 out of the emitted categories (unknown excluded).
    assert share_a == pytest.approx(16 / 28, abs=0.03)


def test_low_temperature_picks_most_frequent_code():
    model = PopulationModel.fit([("A", "A", "A", "B")] * 5)
    request = GenerationRequest(prompt=(), samples=50, max_new_tokens=1, temperature=0.05, seed=2)

    [samples] = model.generate([request])

    assert all(sample == ("A",) for sample in samples)


def test_digest_tracks_frequencies():
    first = PopulationModel.fit([("A", "B")])
    same = PopulationModel.fit([("A", "B")])
    different = PopulationModel.fit([("A", "B", "B")])

    assert first.digest() == same.digest()
    assert first.digest().startswith("sha256:")
    assert first.digest() != different.digest()


def test_duplicate_codes_rejected():
    with pytest.raises(ValueError, match="distinct"):
        PopulationModel(["A", "A"], [1, 2], end_count=1)


def test_registry_fits_on_tuning_split():
    cohort = make_cohort_from_codes(
        [
            ("train", "F", ["SNOMED//1", "SNOMED//2"]),
            ("held_out", "F", ["SNOMED//99"]),
            ("tuning", "M", ["SNOMED//98", "SNOMED//98"]),
        ]
    )

    model = load_model("population", ModelContext(cohort=cohort))

    assert model.capabilities == frozenset({SCORE, SCORE_DETAILS, GENERATE, SCORE_CODE_SETS})
    # Every cohort code is known, but only the tuning split's codes are counted.
    assert model.vocabulary() == {
        "GENDER//F", "GENDER//M", "AGE//40-44", "SNOMED//1", "SNOMED//2", "SNOMED//98",
        "SNOMED//99",
    }  # fmt: skip
    [scores] = model.score([("SNOMED//1", "SNOMED//99", "SNOMED//98")])
    assert scores[0] == scores[1]
    assert scores[2] > scores[0]


def test_registry_falls_back_to_members_without_tuning(caplog):
    cohort = make_cohort_from_codes(
        [("train", "F", ["SNOMED//1", "SNOMED//1"]), ("held_out", "F", ["SNOMED//99"])]
    )

    model = load_model("population", ModelContext(cohort=cohort))

    [scores] = model.score([("SNOMED//1", "SNOMED//99")])
    assert scores[0] > scores[1]
    assert "no 'tuning' split" in caplog.text


def test_registry_uses_max_sequence_length():
    cohort = make_cohort(20)
    context = ModelContext(cohort=cohort, max_sequence_length=3)

    model = load_model("population", context)

    expected = {t for p in cohort for t in build_sequence(p, 3).tokens}
    assert model.vocabulary() == expected


def test_registry_requires_cohort():
    with pytest.raises(ModelLoadError, match="no cohort was given"):
        load_model("population", ModelContext(cohort=None))


def test_registry_requires_members():
    cohort = make_cohort_from_codes([("held_out", "F", ["SNOMED//1"])])

    with pytest.raises(ModelLoadError, match="no patient in the 'train' split"):
        load_model("population", ModelContext(cohort=cohort))


def test_code_set_sums_known_codes():
    model = PopulationModel(["SNOMED//1", "SNOMED//2", "SNOMED//3"], [3, 1, 0], end_count=2)
    # Smoothed: (4, 2, 1) over 3 + 1 + 0 + 2 + 3 codes + 2 buckets = 11.
    request = CodeSetRequest(
        prompt=("SNOMED//3", "SNOMED//3"),
        code_sets=(("SNOMED//1", "SNOMED//2"), ("SNOMED//2", "ICD10CM//Z99"), ("ICD10CM//Z99",)),
    )

    [answer] = model.score_code_sets([request])

    np.testing.assert_allclose(answer[:2], np.log([6 / 11, 2 / 11]))
    assert answer[2] == -np.inf
