"""The lookup model: prefix-count scores and copies of the best-matching member."""

from __future__ import annotations

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
from benchmark.models.lookup import POPULATION_WEIGHT, LookupModel
from benchmark.models.population import PopulationModel
from benchmark.models.registry import ModelContext, load_model


def _request(prompt, samples=1, max_new_tokens=100, seed=0) -> GenerationRequest:
    return GenerationRequest(
        prompt=tuple(prompt),
        samples=samples,
        max_new_tokens=max_new_tokens,
        temperature=1.0,
        seed=seed,
    )


def test_scores_match_prefix_counts():
    members = [("A", "B"), ("A", "C")]
    model = LookupModel.fit(members)
    population = np.exp(PopulationModel.fit(members).log_probability(["A", "B", "C"]))
    p_a, p_b, p_c = population
    epsilon = POPULATION_WEIGHT

    [shared, diverging, unseen] = model.score([("A", "B"), ("A", "D", "B"), ("C", "A")])

    np.testing.assert_allclose(
        shared, np.log([(1 - epsilon) * 1 + epsilon * p_a, (1 - epsilon) * 0.5 + epsilon * p_b])
    )
    # "D" follows no member's "A", so q = 0 there; after that no member shares the prefix.
    p_unknown = np.exp(PopulationModel.fit(members).log_probability(["D"]))[0]
    np.testing.assert_allclose(
        diverging, np.log([(1 - epsilon) + epsilon * p_a, epsilon * p_unknown, p_b])
    )
    np.testing.assert_allclose(unseen, np.log([epsilon * p_c, p_a]))


def test_member_scores_higher_than_non_member():
    cohort = make_cohort(60)
    model = load_model("lookup", ModelContext(cohort=cohort))
    member_sequences = [build_sequence(p, 256).tokens for p in cohort.members]
    non_member_sequences = [build_sequence(p, 256).tokens for p in cohort.non_members]

    member_scores = [scores.mean() for scores in model.score(member_sequences)]
    non_member_scores = [scores.mean() for scores in model.score(non_member_sequences)]

    assert min(member_scores) > max(non_member_scores)


def _enumerated_distribution(model: LookupModel, members, prefix: tuple[str, ...]) -> np.ndarray:
    """Probability of every next category after ``prefix``: codes, end event, unknown bucket."""
    codes = sorted(model.vocabulary())
    candidates = [(*prefix, code) for code in [*codes, "NOT//A_CODE"]]
    scored = np.exp([scores[-1] for scores in model.score(candidates)])

    population_end = np.exp(PopulationModel.fit(members).end_log_probability)
    sharing = [member for member in members if member[: len(prefix)] == prefix]
    if sharing:
        ending = sum(len(member) == len(prefix) for member in sharing) / len(sharing)
        end = (1 - POPULATION_WEIGHT) * ending + POPULATION_WEIGHT * population_end
    else:
        end = population_end
    return np.array([*scored[:-1], end, scored[-1]])


def _check_against_enumeration(model: LookupModel, members, sequences) -> None:
    details = model.score_details(sequences)
    scores = model.score(sequences)

    for sequence, detail, score in zip(sequences, details, scores, strict=True):
        np.testing.assert_array_equal(detail.log_probs, score)
        for position in range(len(sequence)):
            probabilities = _enumerated_distribution(model, members, sequence[:position])
            log_probabilities = np.log(probabilities)
            mean = np.sum(probabilities * log_probabilities)
            std = np.sqrt(np.sum(probabilities * (log_probabilities - mean) ** 2))
            rank = np.sum(log_probabilities > score[position])

            assert probabilities.sum() == pytest.approx(1.0, abs=1e-12)
            assert detail.mean[position] == pytest.approx(mean, rel=1e-12)
            assert detail.std[position] == pytest.approx(std, rel=1e-12)
            assert detail.rank[position] == rank


def test_score_details_match_enumeration():
    # ("A",) ends where the others go on, so q(end | A) = 1/4 after the prefix "A".
    members = [("A", "B"), ("A", "C"), ("A",), ("B", "A", "C"), ("A", "B", "B")]
    model = LookupModel.fit(members)
    sequences = [("A", "B", "B"), ("A", "D", "B"), ("C", "A"), ("B", "A", "C", "A"), ("UNSEEN",)]

    _check_against_enumeration(model, members, sequences)


def test_score_details_match_enumeration_on_cohort():
    cohort = make_cohort(40, seed=2)
    model = load_model("lookup", ModelContext(cohort=cohort, max_sequence_length=12))
    members = [build_sequence(p, 12).tokens for p in cohort.members]
    sequences = [members[0], build_sequence(cohort.non_members[0], 12).tokens]

    _check_against_enumeration(model, members, sequences)


def test_score_details_rank_of_most_likely_code():
    # After "A", B is the next code of 3 of 4 members and C of 1.
    model = LookupModel.fit([("A", "B")] * 3 + [("A", "C")])

    [likely, unlikely] = model.score_details([("A", "B"), ("A", "C")])

    np.testing.assert_array_equal(likely.rank, [0, 0])
    np.testing.assert_array_equal(unlikely.rank, [0, 1])
    assert model.capabilities == frozenset({SCORE, SCORE_DETAILS, GENERATE, SCORE_CODE_SETS})


def test_score_details_handle_empty_input():
    model = LookupModel.fit([("A", "B")])

    assert model.score_details([]) == []
    [empty] = model.score_details([()])
    for values in (empty.log_probs, empty.mean, empty.std, empty.rank):
        assert values.shape == (0,)


def test_without_members_scores_are_population():
    model = LookupModel.fit([])
    population = PopulationModel.fit([])

    [scores] = model.score([("A", "B")])
    [details] = model.score_details([("A", "B")])

    np.testing.assert_array_equal(scores, population.score([("A", "B")])[0])
    np.testing.assert_array_equal(details.log_probs, scores)
    np.testing.assert_allclose(details.mean, np.log([0.5, 0.5]))
    np.testing.assert_array_equal(details.rank, [0, 0])


def test_member_prefix_continues_record():
    members = [
        ("GENDER//F", "AGE//40-44", "A", "B", "C", "D"),
        ("GENDER//F", "AGE//40-44", "A", "C"),
    ]
    model = LookupModel.fit(members)

    [[continuation]] = model.generate([_request(members[0][:4])])

    assert continuation == ("C", "D")


def test_removed_code_is_returned():
    record = ("GENDER//M", "AGE//50-54", "A", "B", "HIV", "C", "D")
    other = ("GENDER//M", "AGE//50-54", "A", "B", "C", "E")
    model = LookupModel.fit([other, record])
    prompt = tuple(code for code in record if code != "HIV")

    [[continuation]] = model.generate([_request(prompt)])

    assert continuation == ("HIV",)


def test_repeated_codes_removed_as_multiset():
    record = ("A", "B", "A", "C", "A")
    model = LookupModel.fit([record])

    [[continuation]] = model.generate([_request(("A", "C"))])

    assert continuation == ("B", "A", "A")


def test_continuation_cut_at_limit():
    record = ("A", "B", "C", "D", "E")
    model = LookupModel.fit([record])

    [[continuation]] = model.generate([_request(("A",), max_new_tokens=2)])

    assert continuation == ("B", "C")


def test_longer_common_prefix_breaks_ties():
    # Both members share {A, B} with the prompt; only the second starts with A, B.
    members = [("B", "A", "X"), ("A", "B", "Y")]
    model = LookupModel.fit(members)

    [samples] = model.generate([_request(("A", "B"), samples=10)])

    assert set(samples) == {("Y",)}


def test_demographics_prompt_picks_among_matching_members():
    cohort = make_cohort_from_codes(
        [
            ("train", "F", ["SNOMED//1", "SNOMED//2"]),
            ("train", "F", ["SNOMED//3", "SNOMED//4"]),
            ("train", "F", ["SNOMED//5"]),
            ("train", "M", ["SNOMED//6"]),
        ]
    )
    model = load_model("lookup", ModelContext(cohort=cohort))

    [samples] = model.generate([_request(("GENDER//F", "AGE//40-44"), samples=60, seed=3)])

    expected = {("SNOMED//1", "SNOMED//2"), ("SNOMED//3", "SNOMED//4"), ("SNOMED//5",)}
    assert set(samples) == expected


def test_empty_prompt_returns_member_records():
    members = [("A", "B"), ("C",)]
    model = LookupModel.fit(members)

    [samples] = model.generate([_request((), samples=40)])

    assert set(samples) == set(members)


def test_generation_seeded_and_batch_independent():
    cohort = make_cohort(60)
    model = load_model("lookup", ModelContext(cohort=cohort))
    requests = [_request(("GENDER//F", "AGE//40-44"), samples=5, seed=seed) for seed in range(6)]

    together = model.generate(requests)
    alone = [model.generate([request])[0] for request in requests]
    repeated = model.generate(requests)

    assert together == alone
    assert together == repeated
    assert len({tuple(samples) for samples in together}) > 1


def test_unknown_prompt_codes_are_ignored_for_matching():
    members = [("A", "B", "C"), ("D", "E")]
    model = LookupModel.fit(members)

    [[continuation]] = model.generate([_request(("UNSEEN", "D"))])

    assert continuation == ("E",)


def test_digest_tracks_members():
    first = LookupModel.fit([("A", "B")])
    same = LookupModel.fit([("A", "B")])
    different = LookupModel.fit([("A", "C")])

    assert first.digest() == same.digest()
    assert first.digest() != different.digest()
    assert first.vocabulary() == {"A", "B"}


def test_code_set_peaks_at_removed_code():
    members = [("A//1", "A//2", "B//9", "A//3"), ("A//1", "A//4", "A//5")]
    model = LookupModel(members)
    # The attacker has the first member's record without B//9, the code under attack.
    request = CodeSetRequest(prompt=("A//1", "A//2", "A//3"), code_sets=(("B//9",), ("A//5",)))

    [answer] = model.score_code_sets([request])

    # After (A//1, A//2) the only member sharing the prefix went on with B//9.
    population = np.exp(model._population.log_probability(["B//9"]))[0]
    expected = (1 - POPULATION_WEIGHT) * 1.0 + POPULATION_WEIGHT * population
    np.testing.assert_allclose(answer[0], np.log(expected))
    # A//5 followed A//4, never a prefix of this prompt, so no prefix makes it likely.
    assert answer[1] < np.log(0.5)


def test_code_set_of_unknown_codes_is_impossible():
    model = LookupModel([("A//1", "A//2")])

    [answer] = model.score_code_sets([CodeSetRequest(("A//1",), (("Z//0",), ()))])

    assert list(answer) == [-np.inf, -np.inf]
