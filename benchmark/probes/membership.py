"""Membership inference: can one forward pass tell members from non-members?

Each attack turns a sequence's per-code log-probabilities into one score,
higher meaning "more likely a member":

- ``loss``: the mean log-probability (the negated per-code loss);
- ``min_k``: the mean of the lowest ``min_k_fraction`` of log-probabilities,
  with the count of codes rounded up and at least one (Min-K%, Shi et al.,
  "Detecting Pretraining Data from Large Language Models", ICLR 2024);
- ``min_k_plus_plus``: the same over each code's log-probability standardized
  by the mean and standard deviation of log-probabilities under the model's
  full next-code distribution at that position (Min-K%++, Zhang et al., 2024);
  needs a model that describes its distribution (``score_details``);
- ``zlib``: the summed log-probability over the zlib-compressed length of the
  code sequence in bytes, which discounts sequences that are easy for any
  model (Carlini et al., "Extracting Training Data from Large Language
  Models", USENIX Security 2021);
- ``reference``: the target model's mean log-probability minus a reference
  model's (``--reference-model``), which discounts sequences that are easy for
  a model that never saw them.

Headline rule: the AUROC of the ``loss`` attack on all evaluated patients,
whatever the other attacks score, so the headline never depends on which
attack happened to win. An attack whose input is missing (no reference
model, no distribution statistics) is reported with a note, not a number.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from benchmark.models.base import SCORE, SCORE_DETAILS, TokenScores
from benchmark.probes.base import Probe, ProbeContext, ProbeOutcome, metric
from benchmark.probes.parameters import MembershipParameters
from benchmark.results.models import Metric, RocCurve
from benchmark.scoring.bootstrap import Estimate, bootstrap_auroc
from benchmark.scoring.roc import check_finite, roc_curve_points, tpr_at_fpr
from benchmark.scoring.suppression import any_small_cell

REPORTED_FPRS = (0.01, 0.001, 0.0)


def _lowest_fraction_mean(values: np.ndarray, fraction: float) -> float:
    if len(values) == 0:
        return np.nan
    # Round before the ceiling: 0.07 * 100 is 7.000000000000001 in binary floating
    # point, and its ceiling would take 8 codes where 7% of 100 is 7.
    k = max(1, math.ceil(round(fraction * len(values), 9)))
    return float(np.sort(values)[:k].mean())


def standardized_log_probs(details: TokenScores) -> np.ndarray:
    """Return (log p - mean) / std per code, 0 where the distribution has no spread."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (details.log_probs - details.mean) / details.std
    return np.where(details.std > 0, z, 0.0)


def compressed_length(tokens: tuple[str, ...]) -> int:
    """Return the zlib-compressed length in bytes of the space-joined codes."""
    return len(zlib.compress(" ".join(tokens).encode("utf-8"), 9))


def attack_scores(
    attack: str,
    log_probs: list[np.ndarray],
    parameters: MembershipParameters,
    *,
    tokens: list[tuple[str, ...]] | None = None,
    details: list[TokenScores] | None = None,
    reference_log_probs: list[np.ndarray] | None = None,
) -> np.ndarray | None:
    """Return one membership score per sequence (higher = more likely a member),
    or None when the attack's input is missing."""
    if attack == "loss":
        return np.array([lp.mean() if len(lp) else np.nan for lp in log_probs])
    if attack == "min_k":
        return np.array([_lowest_fraction_mean(lp, parameters.min_k_fraction) for lp in log_probs])
    if attack == "min_k_plus_plus":
        if details is None:
            return None
        return np.array(
            [
                _lowest_fraction_mean(standardized_log_probs(d), parameters.min_k_fraction)
                for d in details
            ]
        )
    if attack == "zlib":
        if tokens is None:
            return None
        return np.array(
            [lp.sum() / compressed_length(t) for lp, t in zip(log_probs, tokens, strict=True)]
        )
    if attack == "reference":
        if reference_log_probs is None:
            return None
        return np.array(
            [
                target.mean() - reference.mean()
                for target, reference in zip(log_probs, reference_log_probs, strict=True)
            ]
        )
    raise ValueError(f"unknown membership attack {attack!r}")


MISSING_INPUT_NOTES = {
    "min_k_plus_plus": "not applicable: the model does not describe its next-code distribution",
    "reference": "not applicable: no reference model was given (--reference-model)",
}


def _bootstrap_tpr(member_scores, non_member_scores, fpr, context, key) -> Estimate:
    point = tpr_at_fpr(member_scores, non_member_scores, fpr)
    if point is None or context.bootstrap.resamples == 0:
        return Estimate(point)
    rng = context.bootstrap.rng(*key)
    draws = []
    for _ in range(context.bootstrap.resamples):
        m = member_scores[rng.integers(0, len(member_scores), len(member_scores))]
        n = non_member_scores[rng.integers(0, len(non_member_scores), len(non_member_scores))]
        draws.append(tpr_at_fpr(m, n, fpr))
    tail = (1 - context.bootstrap.confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Estimate(point, float(low), float(high))


class MembershipProbe(Probe):
    name = "membership"
    requires = frozenset({SCORE})
    parameters_model = MembershipParameters

    def run(self, context: ProbeContext, parameters: MembershipParameters) -> ProbeOutcome:
        tokens = [s.tokens for s in context.sequences]
        details = None
        if SCORE_DETAILS in context.model.capabilities:
            details = context.executor.score_details(tokens, label="membership: scoring")
            log_probs = [d.log_probs for d in details]
        else:
            log_probs = context.executor.score(tokens, label="membership: scoring")
        reference_log_probs = None
        if "reference" in parameters.attacks and context.reference_executor is not None:
            reference_log_probs = context.reference_executor.score(
                tokens, label="membership: scoring with the reference model"
            )

        headline_attack = "loss" if "loss" in parameters.attacks else parameters.attacks[0]
        outcome = ProbeOutcome(
            headline=f"AUROC of the {headline_attack} attack on all evaluated patients "
            "(members positive)"
        )

        for attack in parameters.attacks:
            scores = attack_scores(
                attack,
                log_probs,
                parameters,
                tokens=tokens,
                details=details,
                reference_log_probs=reference_log_probs,
            )
            if scores is None:
                outcome.metrics.append(
                    Metric(
                        name="auroc",
                        attack=attack,
                        value=None,
                        subgroup="all",
                        note=MISSING_INPUT_NOTES[attack],
                    )
                )
                continue
            check_finite(scores, f"membership probe, {attack} attack")

            for subgroup in context.subgroups:
                members = scores[subgroup.mask & context.is_member]
                non_members = scores[subgroup.mask & ~context.is_member]
                counts = {"n_members": len(members), "n_non_members": len(non_members)}
                key = ("membership", attack, subgroup.label)

                estimate = bootstrap_auroc(members, non_members, context.bootstrap, key)
                outcome.metrics.append(
                    metric("auroc", estimate, subgroup=subgroup.label, attack=attack, **counts)
                )
                if subgroup.label == "all" and attack == headline_attack:
                    outcome.summary["membership_auroc"] = estimate

                for fpr in REPORTED_FPRS:
                    tpr = _bootstrap_tpr(members, non_members, fpr, context, (*key, fpr))
                    note = None
                    if tpr.value is None and len(non_members) > 0:
                        note = f"not estimable: FPR {fpr} is below 1/{len(non_members)} non-members"
                    if subgroup.label == "all" and attack == headline_attack and fpr == 0.01:
                        outcome.summary["membership_tpr_at_1pct_fpr"] = tpr
                    outcome.metrics.append(
                        metric(
                            "tpr_at_fpr",
                            tpr,
                            subgroup=subgroup.label,
                            attack=attack,
                            fpr=fpr,
                            note=note,
                            **counts,
                        )
                    )

                if subgroup.label == "all" and not any_small_cell(*counts.values()):
                    outcome.roc_curves.append(
                        RocCurve(
                            attack=attack,
                            subgroup="all",
                            points=roc_curve_points(members, non_members),
                        )
                    )
        return outcome
