"""The lookup model: prefix-count scores and copies of the best-matching member."""

from __future__ import annotations

import numpy as np
from synthetic_cohorts import make_cohort, make_cohort_from_codes

from benchmark.data.sequence import build_sequence
from benchmark.models.base import GenerationRequest
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
