"""Known-answer tests of the probes' per-patient scores and headline rules.

The membership attacks are checked on hand-built log-probabilities. The
headline rules run the probes for real, through the executor, on two models:
``TableModel``, which returns log-probabilities fixed in advance per sequence,
and clinmem's own ``lookup`` model, which copies member records.
"""

from __future__ import annotations

import hashlib
import math
import textwrap
import zlib
from collections.abc import Sequence
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

from benchmark.data.canaries import generate_canaries
from benchmark.data.cohort import MEMBER_SPLIT, NON_MEMBER_SPLIT
from benchmark.data.sequence import build_sequence
from benchmark.models.base import SCORE, ModelAdapter, TokenScores
from benchmark.models.lookup import LookupModel
from benchmark.models.population import PopulationModel
from benchmark.probes.attribute_inference import (
    AttributeCell,
    AttributeInferenceProbe,
    SummaryCell,
    leak_share,
    summarize,
)
from benchmark.probes.base import ProbeContext
from benchmark.probes.canary import CanaryProbe
from benchmark.probes.embedding import (
    NO_ATTRIBUTE_CELL_NOTE,
    AdvantageCell,
    EmbeddingProbe,
    harm_weighted_advantage,
)
from benchmark.probes.membership import (
    MISSING_INPUT_NOTES,
    MembershipProbe,
    attack_scores,
    compressed_length,
    standardized_log_probs,
)
from benchmark.probes.parameters import (
    CanaryProbeParameters,
    EmbeddingParameters,
    MembershipParameters,
    PerturbationParameters,
    UtilityParameters,
)
from benchmark.probes.perturbation import PerturbationProbe, make_transform, surviving_fraction
from benchmark.probes.perturbations import PopulationCodes, drop_codes, replace_codes, shift_age
from benchmark.probes.reconstruction import ReconstructionProbe
from benchmark.probes.utility import UtilityProbe
from benchmark.runner.executor import LocalExecutor
from benchmark.scoring.bootstrap import BootstrapConfig, Estimate
from benchmark.scoring.roc import auroc
from benchmark.scoring.subgroups import Subgroup
from benchmark.specs.models import AttributeSpec, CanaryParameters
from benchmark.specs.registry import SpecRegistry
from tests.faulty_adapters import UnigramAdapter
from tests.synthetic_cohorts import make_cohort_from_codes

ALL_ATTACKS = ["loss", "min_k", "min_k_plus_plus", "zlib", "reference"]


def _parameters(fraction: float = 0.2) -> MembershipParameters:
    return MembershipParameters(attacks=ALL_ATTACKS, min_k_fraction=fraction)


def _details(log_probs, mean, std) -> TokenScores:
    log_probs = np.asarray(log_probs, float)
    return TokenScores(
        log_probs=log_probs,
        mean=np.asarray(mean, float),
        std=np.asarray(std, float),
        rank=np.zeros(len(log_probs)),
    )


# Membership attacks on hand-built log-probabilities.


def test_loss_attack_is_mean_log_probability():
    scores = attack_scores("loss", [np.array([-1.0, -2.0, -3.0]), np.array([-0.5])], _parameters())

    np.testing.assert_allclose(scores, [-2.0, -0.5])


@pytest.mark.parametrize(
    "fraction,expected",
    [
        (0.2, -5.0),  # 20% of 5 codes: the lowest one
        (0.5, -4.0),  # 50% of 5 is 2.5, rounded up to 3: mean of -5, -4, -3
        (1.0, -3.0),  # every code: the plain mean
        (0.01, -5.0),  # at least one code
    ],
)
def test_min_k_averages_lowest_fraction(fraction, expected):
    log_probs = [np.array([-1.0, -4.0, -2.0, -5.0, -3.0])]

    [score] = attack_scores("min_k", log_probs, _parameters(fraction))

    assert score == pytest.approx(expected)


def test_min_k_exact_fraction_takes_that_many_codes():
    log_probs = [-np.arange(1.0, 101.0)]  # -1, -2, ..., -100

    [score] = attack_scores("min_k", log_probs, _parameters(0.07))

    # The lowest 7 are -94 ... -100, mean -97.
    assert score == pytest.approx(-97.0)


@pytest.mark.parametrize("fraction", ["0.07", "0.14", "0.2", "0.28", "0.55", "0.68", "0.81"])
def test_min_k_count_is_exact_ceiling(fraction):
    # For every sequence length up to 300, the count must be the ceiling of the
    # exact decimal product, which Fraction computes without rounding error. A
    # ceiling of the float product takes one code too many for all of these
    # fractions but 0.2, at lengths such as 100 (0.07, 0.55) or 25 (0.28).
    lengths = range(1, 301)
    log_probs = [-np.arange(1.0, n + 1) for n in lengths]

    scores = attack_scores("min_k", log_probs, _parameters(float(fraction)))

    for n, score in zip(lengths, scores, strict=True):
        k = max(1, math.ceil(Fraction(fraction) * n))
        # The lowest k of -1 ... -n are -n ... -(n - k + 1), mean -(2n - k + 1) / 2.
        assert score == pytest.approx(-(2 * n - k + 1) / 2), (n, k)


def test_min_k_plus_plus_standardizes_each_code():
    details = [_details([-1.0, -3.0, -2.0], mean=[-2.0, -2.0, -2.0], std=[1.0, 0.5, 2.0])]

    z_scores = standardized_log_probs(details[0])
    log_probs = [d.log_probs for d in details]
    [lowest] = attack_scores("min_k_plus_plus", log_probs, _parameters(0.3), details=details)

    # (log p - mean) / std per code is (1, -2, 0). 30% of 3 codes rounds up to 1.
    np.testing.assert_allclose(z_scores, [1.0, -2.0, 0.0])
    assert lowest == pytest.approx(-2.0)


def test_min_k_plus_plus_without_spread_is_zero():
    details = _details([-0.0, -1.0], mean=[-0.0, -1.0], std=[0.0, 0.0])

    np.testing.assert_array_equal(standardized_log_probs(details), [0.0, 0.0])


def test_min_k_plus_plus_distribution_moments():
    # One training sequence: A//1 twice, A//2 once, and one end event. With
    # add-one smoothing over A//1, A//2, the end event and the unknown bucket,
    # p = (3, 2, 2, 1) / 8 at every position.
    model = PopulationModel.fit([("A//1", "A//1", "A//2")])
    [details] = model.score_details([("A//1", "A//2")])
    probabilities = np.array([3, 2, 2, 1]) / 8
    mean = float(np.sum(probabilities * np.log(probabilities)))
    std = math.sqrt(float(np.sum(probabilities * (np.log(probabilities) - mean) ** 2)))

    np.testing.assert_allclose(details.log_probs, np.log([3 / 8, 2 / 8]))
    np.testing.assert_allclose(details.mean, [mean, mean])
    np.testing.assert_allclose(details.std, [std, std])
    np.testing.assert_allclose(
        standardized_log_probs(details), (np.log([3 / 8, 2 / 8]) - mean) / std
    )


def test_zlib_attack_per_compressed_byte():
    tokens = [("SNOMED//1", "SNOMED//2", "SNOMED//1")]
    log_probs = [np.array([-1.0, -2.0, -3.0])]
    compressed = len(zlib.compress(b"SNOMED//1 SNOMED//2 SNOMED//1", 9))

    [score] = attack_scores("zlib", log_probs, _parameters(), tokens=tokens)

    assert compressed_length(tokens[0]) == compressed
    assert score == pytest.approx(-6.0 / compressed)


def test_reference_attack_is_target_minus_reference():
    target = [np.array([-1.0, -1.0]), np.array([-2.0, -4.0])]
    reference = [np.array([-3.0, -1.0]), np.array([-3.0, -3.0])]

    scores = attack_scores("reference", target, _parameters(), reference_log_probs=reference)

    # Means: -1 - (-2) = 1 and -3 - (-3) = 0.
    np.testing.assert_allclose(scores, [1.0, 0.0])


@pytest.mark.parametrize("attack", ["min_k_plus_plus", "zlib", "reference"])
def test_attack_without_its_input_is_none(attack):
    assert attack_scores(attack, [np.array([-1.0])], _parameters()) is None


def test_unknown_attack_raises():
    with pytest.raises(ValueError, match="unknown membership attack 'perplexity'"):
        attack_scores("perplexity", [np.array([-1.0])], _parameters())


@pytest.mark.parametrize("attack", ALL_ATTACKS)
def test_higher_score_means_member(attack):
    # Both records have the same codes. The model finds the member's likelier at
    # every code, while the reference model and the distribution statistics agree.
    tokens = [("SNOMED//1", "SNOMED//2", "SNOMED//3")] * 2
    member, non_member = np.full(3, -0.5), np.full(3, -2.0)
    details = [_details(lp, mean=np.full(3, -2.0), std=np.ones(3)) for lp in (member, non_member)]

    member_score, non_member_score = attack_scores(
        attack,
        [member, non_member],
        _parameters(0.5),
        tokens=tokens,
        details=details,
        reference_log_probs=[np.full(3, -1.5)] * 2,
    )

    assert member_score > non_member_score
    assert auroc(np.array([member_score]), np.array([non_member_score])) == 1.0


# Membership headline: the loss attack, whatever scores best.


class TableModel(ModelAdapter):
    """A model whose per-code log-probabilities are fixed in advance for each sequence."""

    model_id = "table"

    def __init__(self, table: dict[tuple[str, ...], np.ndarray]) -> None:
        self._table = {tuple(sequence): np.asarray(lp, float) for sequence, lp in table.items()}

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({SCORE})

    def digest(self) -> str:
        text = repr(sorted((s, lp.tolist()) for s, lp in self._table.items()))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def vocabulary(self) -> frozenset[str]:
        return frozenset(code for sequence in self._table for code in sequence)

    def score(self, sequences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return [self._table[tuple(sequence)] for sequence in sequences]


def _cohort_sequences(cohort, max_length: int = 64):
    sequences = [build_sequence(p, max_length) for p in cohort.patients if p.split != "tuning"]
    return sequences, np.array([s.is_member for s in sequences])


def _all_subgroup(size: int) -> list[Subgroup]:
    return [Subgroup("all", "every evaluated patient", np.ones(size, bool))]


def _context(model, sequences, is_member, *, suite=None, canaries=None, resamples=50):
    return ProbeContext(
        suite=suite,
        model=model,
        executor=LocalExecutor(model, None, progress=False),
        sequences=sequences,
        is_member=is_member,
        subgroups=_all_subgroup(len(sequences)),
        bootstrap=BootstrapConfig(resamples=resamples, confidence=0.95, seed=0),
        seed=0,
        canaries=canaries,
    )


@pytest.fixture(scope="module")
def membership_context() -> ProbeContext:
    """24 members and 24 non-members of 10 tokens each, on which Min-K% wins.

    Every member code scores about -1. A non-member's codes score -0.5 but its
    last one -4, so its mean (about -0.85) beats the members' (loss AUROC 0),
    while its lowest 20% average -2.25 (Min-K% AUROC 1).
    """
    rng = np.random.default_rng(0)
    rows = []
    for index in range(48):
        split = MEMBER_SPLIT if index % 2 == 0 else NON_MEMBER_SPLIT
        codes = [f"SNOMED//{index}{position}" for position in range(8)]
        rows.append((split, "F", codes))
    sequences, is_member = _cohort_sequences(make_cohort_from_codes(rows))

    table = {}
    for sequence in sequences:
        jitter = rng.uniform(0, 0.01)
        if sequence.is_member:
            table[sequence.tokens] = np.full(len(sequence), -1.0 - jitter)
        else:
            log_probs = np.full(len(sequence), -0.5 - jitter)
            log_probs[-1] = -4.0
            table[sequence.tokens] = log_probs
    return _context(TableModel(table), sequences, is_member)


def _auroc_metric(outcome, attack: str):
    [found] = [
        m
        for m in outcome.metrics
        if m.name == "auroc" and m.attack == attack and m.subgroup == "all"
    ]
    return found


def test_membership_headline_is_loss_when_min_k_wins(membership_context):
    parameters = MembershipParameters(attacks=["min_k", "zlib", "loss"], min_k_fraction=0.2)

    outcome = MembershipProbe().run(membership_context, parameters)

    assert len(membership_context.sequences[0]) == 10
    assert _auroc_metric(outcome, "min_k").value == 1.0
    assert _auroc_metric(outcome, "loss").value == 0.0
    assert outcome.summary["membership_auroc"].value == 0.0
    assert "loss attack" in outcome.headline
    tpr_loss = [
        m.value
        for m in outcome.metrics
        if m.name == "tpr_at_fpr" and m.attack == "loss" and m.fpr == 0.01 and m.subgroup == "all"
    ]
    assert tpr_loss == [outcome.summary["membership_tpr_at_1pct_fpr"].value]


def test_membership_headline_without_loss_is_first_attack(membership_context):
    parameters = MembershipParameters(attacks=["zlib", "min_k"], min_k_fraction=0.2)

    outcome = MembershipProbe().run(membership_context, parameters)

    assert outcome.summary["membership_auroc"].value == _auroc_metric(outcome, "zlib").value
    assert _auroc_metric(outcome, "zlib").value < _auroc_metric(outcome, "min_k").value
    assert "zlib attack" in outcome.headline


def test_membership_attack_without_input_gets_note(membership_context):
    parameters = MembershipParameters(attacks=["reference", "min_k_plus_plus", "loss"])

    outcome = MembershipProbe().run(membership_context, parameters)

    for attack in ("reference", "min_k_plus_plus"):
        missing = _auroc_metric(outcome, attack)
        assert missing.value is None
        assert missing.note == MISSING_INPUT_NOTES[attack]
    assert outcome.summary["membership_auroc"].value == 0.0


# Attribute inference, reconstruction and perturbation headlines, run on the
# lookup model and a suite written to YAML files.

_SPEC_FILES = {
    "attributes/secret.yaml": """
        kind: attribute
        id: secret
        name: Secret condition
        description: A sensitive condition, weighted high.
        category: test
        harm_weight: 9
        harm_rationale: Weighted high for the test.
        codes:
          SNOMED: ["9001"]
    """,
    "attributes/minor.yaml": """
        kind: attribute
        id: minor
        name: Minor condition
        description: A sensitive condition, weighted low.
        category: test
        harm_weight: 1
        harm_rationale: Weighted low for the test.
        codes:
          SNOMED: ["9002"]
    """,
    "attributes/control.yaml": """
        kind: attribute
        id: control
        name: Control condition
        description: A generalization control, left out of the summary.
        category: test
        harm_weight: 10
        harm_rationale: The highest weight, so including it would show.
        control: true
        codes:
          SNOMED: ["9003"]
    """,
    "tiers/everything.yaml": """
        kind: tier
        id: everything
        name: Everything but the target
        description: Demographics and every event but the target attribute.
        severity: serious
        reveals: {demographics: true, history: all}
    """,
    "tiers/first_half.yaml": """
        kind: tier
        id: first_half
        name: First half
        description: Demographics and the first half of the events.
        severity: high
        reveals: {demographics: true, history: {fraction: 0.5}}
    """,
    "tiers/first_two.yaml": """
        kind: tier
        id: first_two
        name: First two
        description: Demographics and the first two events.
        severity: moderate
        reveals: {demographics: true, history: {first_events: 2}}
    """,
    "subgroups/all.yaml": """
        kind: subgroup
        id: all
        name: All patients
        description: Every evaluated patient.
        rule: {kind: all}
    """,
    "suites/headlines.yaml": """
        kind: suite
        id: headlines
        name: Headline rules
        description: Three attributes, one of them a control, and three tiers.
        version: 1
        attributes: [secret, minor, control]
        tiers: [everything, first_half, first_two]
        subgroups: [all]
        probes:
          attribute_inference: {samples: 2, max_new_tokens: 16}
          reconstruction: {samples: 2, max_new_tokens: 8}
        bootstrap: {resamples: 50}
    """,
}


@pytest.fixture(scope="module")
def lookup_context(tmp_path_factory) -> ProbeContext:
    """The lookup model on 30 members and 30 non-members of the ``headlines`` suite.

    Carriers of each attribute are half of each group, in different patterns.
    Every control carrier also has the marker code SNOMED//8003, so the
    control is predictable for members and non-members alike.
    """
    folder = tmp_path_factory.mktemp("specs")
    for name, text in _SPEC_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))
    suite = SpecRegistry.load([folder]).resolve_suite("headlines")

    rng = np.random.default_rng(3)
    rows = []
    for index in range(60):
        split = MEMBER_SPLIT if index % 2 == 0 else NON_MEMBER_SPLIT
        within = index // 2
        codes = [f"SNOMED//{1000 + c}" for c in rng.choice(40, size=8, replace=False)]
        if within % 2 == 0:
            codes.insert(int(rng.integers(2, len(codes))), "SNOMED//9001")
        if within % 4 in (1, 2):
            codes.insert(int(rng.integers(2, len(codes))), "SNOMED//9002")
        if within % 4 in (0, 3):
            codes[1:1] = ["SNOMED//8003", "SNOMED//9003"]
        rows.append((split, "F" if rng.random() < 0.5 else "M", codes))
    sequences, is_member = _cohort_sequences(make_cohort_from_codes(rows))

    model = LookupModel.fit([s.tokens for s in sequences if s.is_member])
    return _context(model, sequences, is_member, suite=suite)


def _cells(outcome, name: str) -> dict[tuple[str | None, str | None], float]:
    """Return the headline attack's cells on all patients, by (tier, attribute)."""
    return {
        (m.tier, m.attribute): m.value
        for m in outcome.metrics
        if m.name == name and m.subgroup == "all" and m.attack in (None, outcome.headline_attack)
    }


def test_attribute_headline_weights_and_skips_controls(lookup_context):
    suite = lookup_context.suite
    # Listed first, sampling is the headline attack although the model supports both.
    parameters = suite.probe_parameters["attribute_inference"].model_copy(
        update={"attacks": ["sampling", "likelihood"]}
    )

    outcome = AttributeInferenceProbe().run(lookup_context, parameters)

    assert outcome.headline_attack == "sampling"
    assert "sampling attack" in outcome.headline

    advantages = _cells(outcome, "member_advantage")
    weights = {a.id: a.harm_weight for a in suite.attributes if not a.control}
    counted = {cell: value for cell, value in advantages.items() if cell[1] in weights}
    expected = sum(weights[a] * v for (_, a), v in counted.items()) / sum(
        weights[a] for _, a in counted
    )
    unweighted = sum(counted.values()) / len(counted)
    with_control = sum(
        {**weights, "control": 10.0}[a] * v for (_, a), v in advantages.items()
    ) / sum({**weights, "control": 10.0}[a] for _, a in advantages)

    # Every (tier, attribute) cell is estimable, and the three rules differ here.
    assert len(advantages) == 9
    assert None not in advantages.values()
    assert abs(expected - with_control) > 0.01
    assert abs(expected - unweighted) > 0.01
    assert abs(expected - max(advantages.values())) > 0.01

    summary = outcome.summary
    assert summary["attribute_member_advantage"].value == pytest.approx(expected)
    assert summary["risk_index"].value == pytest.approx(100 * max(0.0, expected))
    assert summary["risk_index_unweighted"].value == pytest.approx(100 * max(0.0, unweighted))
    for tier in suite.tiers:
        in_tier = {a: v for (t, a), v in counted.items() if t == tier.id}
        tier_mean = sum(weights[a] * v for a, v in in_tier.items()) / sum(
            weights[a] for a in in_tier
        )
        assert outcome.tier_risk[tier.id].value == pytest.approx(100 * max(0.0, tier_mean))


def test_attribute_inference_summary_weights_cells():
    cells_in = [
        _summary_cell("everything", 0.30, 8.0),
        _summary_cell("everything", -0.10, 2.0),
    ]

    summary = summarize(cells_in, confidence=0.95)

    assert summary["attribute_member_advantage"].value == pytest.approx(0.22)
    assert summary["risk_index"].value == pytest.approx(22.0)
    assert summary["risk_index_unweighted"].value == pytest.approx(10.0)


def _summary_cell(tier: str, advantage: float, weight: float) -> SummaryCell:
    return SummaryCell(tier=tier, advantage=advantage, draws=None, harm_weight=weight)


def test_reconstruction_headline_is_overlap_mean(lookup_context):
    parameters = lookup_context.suite.probe_parameters["reconstruction"]

    outcome = ReconstructionProbe().run(lookup_context, parameters)

    overlap = _cells(outcome, "member_advantage")
    distance = _cells(outcome, "distance_member_advantage")
    # The 'everything' tier reveals the whole record and is skipped.
    assert sorted(tier for tier, _ in overlap) == ["first_half", "first_two"]
    expected = sum(overlap.values()) / len(overlap)
    assert abs(expected - sum(distance.values()) / len(distance)) > 0.01
    assert abs(expected - max(overlap.values())) > 1e-6
    assert outcome.summary["reconstruction_member_advantage"].value == pytest.approx(expected)


def _embedding_context(suite, subgroups: dict[str, slice] | None = None, resamples: int = 50):
    """200 patients, members and non-members alternating, under the unigram model.

    Carriers of the three attributes are independent halves of each group,
    and every patient has the same four background codes. Each attribute code
    comes with a marker code that the bag-of-codes embedding shows to the
    linear probe. Members' markers always agree with the attribute. Among
    non-members the secret marker is flipped at random for 25% and the minor
    marker for 10%, so the probe, trained on non-members, reads each attribute
    better off members, by different margins. The control marker is never
    flipped. ``subgroups`` adds subgroups of the patients in the given index
    ranges, beside ``all``.
    """
    rng = np.random.default_rng(6)
    rows = []
    for index in range(200):
        member, within = index % 2 == 0, index // 2
        carriers = (within % 2 == 0, (within // 2) % 2 == 0, (within // 4) % 2 == 0)
        flips = (rng.random() < 0.25, rng.random() < 0.1, False)
        codes = [f"SNOMED//{1000 + c}" for c in range(4)]
        for number, (carrier, flip) in enumerate(zip(carriers, flips, strict=True), 1):
            if carrier:
                codes.append(f"SNOMED//900{number}")
            if carrier != (flip and not member):
                codes.append(f"SNOMED//800{number}")
        rows.append((MEMBER_SPLIT if member else NON_MEMBER_SPLIT, "F", codes))
    sequences, is_member = _cohort_sequences(make_cohort_from_codes(rows))
    model = UnigramAdapter("unigram", [s.tokens for s in sequences if s.is_member])
    context = _context(model, sequences, is_member, suite=suite, resamples=resamples)
    for label, rows_in in (subgroups or {}).items():
        mask = np.zeros(len(sequences), bool)
        mask[rows_in] = True
        context.subgroups.append(Subgroup(label, label, mask))
    return context


def _advantage_cells(outcome, subgroup: str = "all") -> dict[str | None, object]:
    return {
        m.attribute: m
        for m in outcome.metrics
        if m.name == "member_advantage" and m.subgroup == subgroup
    }


def test_embedding_headline_is_harm_weighted(lookup_context):
    suite = lookup_context.suite
    context = _embedding_context(suite)

    outcome = EmbeddingProbe().run(context, EmbeddingParameters())

    cells = _advantage_cells(outcome)
    combined = cells.pop(None)
    advantages = {attribute: m.value for attribute, m in cells.items()}
    weights = {a.id: a.harm_weight for a in suite.attributes}
    without_controls = [a.id for a in suite.attributes if not a.control]
    expected = sum(weights[a] * advantages[a] for a in without_controls) / sum(
        weights[a] for a in without_controls
    )
    with_control = sum(weights[a] * advantages[a] for a in weights) / sum(weights.values())
    unweighted = sum(advantages[a] for a in without_controls) / len(without_controls)

    # Every attribute cell is estimable, and the three rules differ here.
    assert sorted(advantages) == ["control", "minor", "secret"]
    assert None not in advantages.values()
    assert abs(expected - with_control) > 0.01
    assert abs(expected - unweighted) > 0.01
    assert combined.value == pytest.approx(expected)
    assert combined.ci_low <= combined.value
    assert combined.value <= combined.ci_high
    assert combined.n_members == cells["secret"].n_members
    assert combined.n_non_members == cells["secret"].n_non_members
    assert outcome.headline.startswith("harm-weighted mean over non-control attributes")


def test_embedding_headline_per_subgroup(lookup_context):
    suite = lookup_context.suite
    subgroups = {"first_120": slice(0, 120), "first_60": slice(0, 60), "first_10": slice(0, 10)}
    context = _embedding_context(suite, subgroups)
    weights = {a.id: a.harm_weight for a in suite.attributes if not a.control}

    outcome = EmbeddingProbe().run(context, EmbeddingParameters())

    # 60 members and 29 held-out non-members: every cell is published.
    wide = _advantage_cells(outcome, "first_120")
    expected = sum(weights[a] * wide[a].value for a in weights) / sum(weights.values())
    assert not any(m.suppressed for m in wide.values())
    assert wide[None].value == pytest.approx(expected)
    assert wide[None].value != pytest.approx(_advantage_cells(outcome)[None].value)
    # 6 to 8 held-out carriers and non-carriers per attribute: the attribute cells
    # are suppressed, so none is left to combine, but the subgroup itself is
    # large enough to publish.
    narrow = _advantage_cells(outcome, "first_60")
    assert all(narrow[a].suppressed for a in weights)
    assert not narrow[None].suppressed
    assert narrow[None].value is None
    assert narrow[None].n_members == 30
    assert narrow[None].note == NO_ATTRIBUTE_CELL_NOTE
    # 5 members: the combined cell falls under the small-cell rule itself.
    tiny = _advantage_cells(outcome, "first_10")
    assert tiny[None].suppressed
    assert tiny[None].value is None
    assert tiny[None].n_members is None


def test_embedding_headline_interval_shares_resamples():
    # Two attributes with the same code have the same cells. Their weighted
    # mean keeps each cell's interval only when both cells were bootstrapped
    # on the same resamples of patients. Independent resamples would partly
    # cancel out and give a narrower interval.
    suite = SimpleNamespace(
        attributes=[_attribute("heavy", "9001", 9.0), _attribute("twin", "9001", 1.0)]
    )
    context = _embedding_context(suite)

    outcome = EmbeddingProbe().run(context, EmbeddingParameters())

    cells = _advantage_cells(outcome)
    heavy, twin, combined = cells["heavy"], cells["twin"], cells[None]
    assert (twin.value, twin.ci_low, twin.ci_high) == (heavy.value, heavy.ci_low, heavy.ci_high)
    assert heavy.ci_low < heavy.ci_high
    assert combined.value == pytest.approx(heavy.value)
    assert combined.ci_low == pytest.approx(heavy.ci_low)
    assert combined.ci_high == pytest.approx(heavy.ci_high)


def test_embedding_headline_without_resamples_has_no_interval(lookup_context):
    context = _embedding_context(lookup_context.suite, resamples=0)

    outcome = EmbeddingProbe().run(context, EmbeddingParameters())

    combined = _advantage_cells(outcome)[None]
    assert combined.value is not None
    assert combined.ci_low is None
    assert combined.ci_high is None


def test_harm_weighted_advantage_hand_built():
    cells = [
        AdvantageCell(0.30, np.array([0.3, 0.2, 0.4]), 8.0),
        AdvantageCell(-0.10, np.array([-0.1, 0.0, 0.1]), 2.0),
    ]

    estimate = harm_weighted_advantage(cells, confidence=1.0)
    without_draws = harm_weighted_advantage([cells[0], AdvantageCell(-0.1, None, 2.0)], 1.0)

    # Per draw (8 a + 2 b) / 10 = [0.22, 0.16, 0.34]. Confidence 1 spans min to max.
    assert estimate.value == pytest.approx(0.22)
    assert estimate.ci_low == pytest.approx(0.16)
    assert estimate.ci_high == pytest.approx(0.34)
    assert without_draws.value == pytest.approx(0.22)
    assert without_draws.ci_low is None
    assert without_draws.ci_high is None
    assert harm_weighted_advantage([], 0.95) == Estimate(None)


def test_utility_headline_is_non_member_loss(membership_context):
    outcome = UtilityProbe().run(membership_context, UtilityParameters())

    model = membership_context.model
    non_member_losses = [
        -model.score([s.tokens])[0].mean() for s in membership_context.sequences if not s.is_member
    ]
    assert outcome.summary["utility_loss"].value == pytest.approx(np.mean(non_member_losses))
    assert "utility_top10_accuracy" not in outcome.summary


# Perturbation headline: the surviving fraction of the harm-weighted advantage.


def _attribute(attribute_id: str, code: str, weight: float) -> AttributeSpec:
    return AttributeSpec(
        kind="attribute",
        id=attribute_id,
        name=attribute_id,
        description="d",
        category="c",
        harm_weight=weight,
        harm_rationale="r",
        codes={"SNOMED": [code]},
    )


def _attribute_cell(attribute: AttributeSpec, member_separates: bool, size: int) -> AttributeCell:
    """Members first, then non-members. Half of each group carry the attribute.

    Carriers among members score 1 and non-carriers 0 when ``member_separates``,
    so members' AUROC is 1 (else every member scores 0, AUROC 0.5).
    Non-members all score 0: AUROC 0.5.
    """
    labels = np.tile(np.arange(size) % 2 == 0, 2)
    scores = np.zeros(2 * size)
    if member_separates:
        scores[:size] = labels[:size].astype(float)
    return AttributeCell(
        attack="likelihood", tier=None, attribute=attribute, scores=scores, labels=labels
    )


def test_surviving_fraction_hand_built():
    original = np.array([0.4, 0.2])
    perturbed = np.array([0.2, 0.1])
    original_draws = np.array([[0.4, 0.3, 0.5], [0.2, 0.1, 0.3]])
    perturbed_draws = original_draws / 2

    before, after, fraction = surviving_fraction(
        original, perturbed, original_draws, perturbed_draws, 0.95
    )

    assert before.value == pytest.approx(0.3)
    assert after.value == pytest.approx(0.15)
    assert fraction.value == pytest.approx(0.5)
    assert fraction.ci_low == pytest.approx(0.5)
    assert fraction.ci_high == pytest.approx(0.5)


def test_surviving_fraction_needs_advantage_above_zero():
    draws = np.array([[0.1, -0.1, 0.2]])

    before, _, fraction = surviving_fraction(np.array([0.1]), np.array([0.1]), draws, draws, 0.95)

    assert before.ci_low < 0
    assert fraction.value is None


def test_perturbation_headline_weights_attributes_by_harm():
    size = 24
    heavy, light = _attribute("heavy", "9001", 9.0), _attribute("light", "9002", 1.0)
    original = [_attribute_cell(heavy, True, size), _attribute_cell(light, True, size)]
    # The heavy attribute's advantage survives in full, the light one's vanishes.
    perturbed = [_attribute_cell(heavy, True, size), _attribute_cell(light, False, size)]
    is_member = np.arange(2 * size) < size
    context = ProbeContext(
        suite=None,
        model=None,
        executor=None,
        sequences=[],
        is_member=is_member,
        subgroups=_all_subgroup(2 * size),
        bootstrap=BootstrapConfig(resamples=20, confidence=0.95, seed=0),
        seed=0,
    )

    metrics = PerturbationProbe()._attribute_metrics(
        "drop", context.subgroups[0], original, perturbed, context
    )

    values = {m.name: m.value for m in metrics}
    # Advantages: original 0.5 and 0.5, perturbed 0.5 and 0. Harm-weighted:
    # (9 * 0.5 + 1 * 0) / 10 = 0.45 of 0.5 survives, 0.9. Unweighted: 0.5.
    assert values["attribute_advantage_original"] == pytest.approx(0.5)
    assert values["attribute_advantage_perturbed"] == pytest.approx(0.45)
    assert values["attribute_surviving_fraction"] == pytest.approx(0.9)


# Canary headline: the canaries inserted most often, not the most exposed.


def test_canary_headline_is_most_repeated():
    cohort_rows = [(MEMBER_SPLIT, "F", [f"SNOMED//{1000 + i}" for i in range(30)])]
    canaries = generate_canaries(
        make_cohort_from_codes(cohort_rows),
        CanaryParameters(repetitions=[1, 4], per_repetition=3, references=20, length=6),
        max_sequence_length=64,
    )
    # Once-inserted canaries get the lowest perplexity of all. The ones inserted
    # four times rank mid-field among the references.
    table = {c.sequence: np.full(len(c.sequence), -0.1) for c in canaries.inserted[:3]}
    table.update({c.sequence: np.full(len(c.sequence), -2.05) for c in canaries.inserted[3:]})
    for index, reference in enumerate(canaries.references):
        table[reference.sequence] = np.full(len(reference.sequence), -1.0 - 0.1 * index)
    model = TableModel(table)
    context = _context(model, [], np.array([], bool), canaries=canaries)

    outcome = CanaryProbe().run(context, CanaryProbeParameters())

    exposures = {m.repetitions: m.value for m in outcome.metrics}
    # Eleven references (perplexity 1.0 to 2.0) have a lower perplexity than 2.05,
    # so the rank is 12 among 20 references and the exposure log2(21) - log2(12).
    assert exposures[4] == pytest.approx(math.log2(21) - math.log2(12))
    assert exposures[1] > exposures[4]
    assert outcome.summary["canary_exposure"].value == exposures[4]


# Prompt perturbations.

_PROMPT = (
    "GENDER//F",
    "AGE//40-44",
    "SNOMED//1",
    "LOINC//2",
    "SNOMED//3",
    "AGE//45-49",
    "SNOMED//4",
    "LOINC//5",
)


def _clinical(prompt: tuple[str, ...]) -> list[str]:
    return [t for t in prompt if not t.startswith(("GENDER//", "AGE//"))]


def _is_subsequence(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    remaining = iter(long)
    return all(token in remaining for token in short)


def test_drop_codes_removes_exactly_k_clinical_codes():
    dropped = drop_codes(_PROMPT, 2, np.random.default_rng(0))

    assert len(dropped) == len(_PROMPT) - 2
    assert _is_subsequence(dropped, _PROMPT)
    assert [t for t in dropped if t.startswith(("GENDER//", "AGE//"))] == [
        "GENDER//F",
        "AGE//40-44",
        "AGE//45-49",
    ]
    assert len(_clinical(dropped)) == len(_clinical(_PROMPT)) - 2


def test_drop_codes_is_seeded():
    first = drop_codes(_PROMPT, 3, np.random.default_rng(12))
    again = drop_codes(_PROMPT, 3, np.random.default_rng(12))
    variants = {drop_codes(_PROMPT, 3, np.random.default_rng(seed)) for seed in range(20)}

    assert first == again
    assert len(variants) > 1


def test_drop_codes_beyond_clinical_count():
    only_demographics = ("GENDER//F", "AGE//40-44")

    assert drop_codes(_PROMPT, 50, np.random.default_rng(0)) == (
        "GENDER//F",
        "AGE//40-44",
        "AGE//45-49",
    )
    assert drop_codes(only_demographics, 2, np.random.default_rng(0)) == only_demographics


def test_replace_codes_keeps_length_demographics_and_vocabulary():
    population = PopulationCodes(
        [("SNOMED//10", "SNOMED//11", "LOINC//20", "GENDER//M", "AGE//50-54")]
    )

    replaced = replace_codes(_PROMPT, 2, population, np.random.default_rng(1))

    assert len(replaced) == len(_PROMPT)
    changed = [i for i, (a, b) in enumerate(zip(_PROMPT, replaced, strict=True)) if a != b]
    assert len(changed) == 2
    for i in changed:
        assert not _PROMPT[i].startswith(("GENDER//", "AGE//"))
        assert replaced[i].partition("//")[0] == _PROMPT[i].partition("//")[0]
        assert replaced[i] in {"SNOMED//10", "SNOMED//11", "LOINC//20"}


def test_replace_codes_is_seeded():
    population = PopulationCodes([("SNOMED//10", "SNOMED//11", "LOINC//20", "LOINC//21")])

    first = replace_codes(_PROMPT, 3, population, np.random.default_rng(5))
    again = replace_codes(_PROMPT, 3, population, np.random.default_rng(5))
    variants = {
        replace_codes(_PROMPT, 3, population, np.random.default_rng(seed)) for seed in range(20)
    }

    assert first == again
    assert len(variants) > 1


def test_replace_codes_without_population_vocabulary_keeps_code():
    population = PopulationCodes([("RXNORM//1",)])

    assert replace_codes(_PROMPT, 3, population, np.random.default_rng(0)) == _PROMPT


def test_replace_codes_changes_k_codes_when_alternatives_exist():
    # SNOMED//1 is the most common SNOMED code of the population. SNOMED//2 is
    # the alternative a swap can pick.
    population = PopulationCodes([("SNOMED//1",) * 9 + ("SNOMED//2",)])
    prompt = ("GENDER//F", "SNOMED//1", "SNOMED//1", "SNOMED//1")

    replaced = replace_codes(prompt, 2, population, np.random.default_rng(0))

    changed = [i for i, (a, b) in enumerate(zip(prompt, replaced, strict=True)) if a != b]
    assert len(changed) == 2


def test_replace_codes_never_keeps_the_code():
    population = PopulationCodes([("SNOMED//1",) * 9 + ("SNOMED//2", "LOINC//7", "LOINC//8")])
    prompt = ("AGE//40-44", "SNOMED//1", "SNOMED//2", "LOINC//7", "SNOMED//1")

    for seed in range(30):
        replaced = replace_codes(prompt, 2, population, np.random.default_rng(seed))

        changed = [i for i, (a, b) in enumerate(zip(prompt, replaced, strict=True)) if a != b]
        assert len(changed) == 2
        # Each vocabulary here has one other code, so a change can only swap to it.
        for i in changed:
            assert replaced[i] == {"SNOMED//1": "SNOMED//2", "SNOMED//2": "SNOMED//1"}.get(
                prompt[i], "LOINC//8"
            )


def test_replace_codes_skips_codes_without_alternative():
    # LOINC//7 is the population's only LOINC code and RXNORM has none, so only
    # the two SNOMED positions can change, whatever the seed.
    population = PopulationCodes([("SNOMED//1", "SNOMED//2", "SNOMED//3", "LOINC//7")])
    prompt = ("GENDER//M", "LOINC//7", "SNOMED//1", "RXNORM//5", "SNOMED//2")

    for seed in range(10):
        two = replace_codes(prompt, 2, population, np.random.default_rng(seed))
        many = replace_codes(prompt, 4, population, np.random.default_rng(seed))

        for replaced in (two, many):
            changed = [i for i, (a, b) in enumerate(zip(prompt, replaced, strict=True)) if a != b]
            assert changed == [2, 4]


def test_population_draw_other_without_alternative_is_none():
    population = PopulationCodes([("SNOMED//1", "SNOMED//1", "LOINC//7", "LOINC//8")])
    rng = np.random.default_rng(0)

    assert not population.has_alternative("SNOMED//1")
    assert population.draw_other("SNOMED//1", rng) is None
    assert population.draw_other("RXNORM//5", rng) is None
    # A code the population never saw may take any code of its vocabulary.
    assert population.has_alternative("SNOMED//99")
    assert population.draw_other("SNOMED//99", rng) == "SNOMED//1"
    assert population.draw_other("LOINC//7", rng) == "LOINC//8"


def test_shift_age_moves_every_band_up_five_years():
    shifted = shift_age(_PROMPT)

    assert shifted == (
        "GENDER//F",
        "AGE//45-49",
        "SNOMED//1",
        "LOINC//2",
        "SNOMED//3",
        "AGE//50-54",
        "SNOMED//4",
        "LOINC//5",
    )


def test_shift_age_at_the_top_band():
    assert shift_age(("AGE//85-89", "SNOMED//1", "AGE//90+")) == (
        "AGE//90+",
        "SNOMED//1",
        "AGE//85-89",
    )
    assert shift_age(("AGE//0-4",)) == ("AGE//5-9",)
    assert shift_age(("SNOMED//1",)) == ("SNOMED//1",)


def test_perturbation_transform_is_seeded_per_patient(lookup_context):
    parameters = PerturbationParameters(codes_changed=2)
    prompt = lookup_context.sequences[0].tokens

    for kind in ("drop", "replace"):
        transform = make_transform(kind, parameters, lookup_context)
        again = make_transform(kind, parameters, lookup_context)
        assert transform(prompt, 0) == again(prompt, 0)
        results = {transform(prompt, index) for index in range(10)}
        assert len(results) > 1
    age_shift = make_transform("age_shift", parameters, lookup_context)
    assert age_shift(prompt, 3) == shift_age(prompt)


# Attribute leak share.


def _is_secret(code: str) -> bool:
    return code.startswith("SNOMED//9")


def test_leak_share_counts_samples_with_new_attribute_codes():
    samples = [("SNOMED//9001",), ("SNOMED//1",), ("SNOMED//1", "SNOMED//9002"), ()]

    assert leak_share(samples, ("GENDER//F",), _is_secret) == pytest.approx(0.5)


def test_leak_share_ignores_codes_in_prompt():
    prompt = ("GENDER//F", "SNOMED//9001")
    samples = [("SNOMED//9001",), ("SNOMED//9001", "SNOMED//1"), ("SNOMED//9002",)]

    assert leak_share(samples, prompt, _is_secret) == pytest.approx(1 / 3)
    assert leak_share(samples[:2], prompt, _is_secret) == 0.0


def test_leak_share_of_no_samples_is_zero():
    assert leak_share([], ("SNOMED//9001",), _is_secret) == 0.0


def test_likelihood_attack_is_the_default_headline(lookup_context):
    parameters = lookup_context.suite.probe_parameters["attribute_inference"]

    outcome = AttributeInferenceProbe().run(lookup_context, parameters)

    assert outcome.headline_attack == "likelihood"
    assert {m.attack for m in outcome.metrics} == {"likelihood", "sampling"}
    # The lookup model puts a removed code back where its member had it, so every
    # non-control attribute leaks more for members once the record is known.
    advantages = _cells(outcome, "member_advantage")
    known_record = [
        v for (tier, a), v in advantages.items() if tier == "everything" and a != "control"
    ]
    assert known_record and min(known_record) > 0.3


def test_sampling_headline_without_code_sets(lookup_context):
    pairs = zip(lookup_context.sequences, lookup_context.is_member, strict=True)
    members = [sequence.tokens for sequence, member in pairs if member]
    model = UnigramAdapter("unigram", members)
    context = _context(
        model, lookup_context.sequences, lookup_context.is_member, suite=lookup_context.suite
    )

    outcome = AttributeInferenceProbe().run(
        context, lookup_context.suite.probe_parameters["attribute_inference"]
    )

    assert outcome.headline_attack == "sampling"
    assert {m.attack for m in outcome.metrics} == {"sampling"}
