"""Membership inference: can one forward pass tell members from non-members?

Each attack turns a sequence's per-code log-probabilities into one score,
higher meaning "more likely a member":

- ``loss``: the mean log-probability (the negated per-token loss);
- ``min_k``: the mean of the lowest ``min_k_fraction`` of log-probabilities
  (Min-K%, Shi et al., "Detecting Pretraining Data from Large Language
  Models", ICLR 2024).

Headline rule: the AUROC of the ``loss`` attack on all evaluated patients,
whatever the other attacks score, so the headline never depends on which
attack happened to win.
"""

from __future__ import annotations

import numpy as np

from benchmark.models.base import SCORE
from benchmark.probes.base import Probe, ProbeContext, ProbeOutcome, metric
from benchmark.probes.parameters import MembershipParameters
from benchmark.results.models import RocCurve
from benchmark.scoring.bootstrap import Estimate, bootstrap_auroc
from benchmark.scoring.roc import check_finite, roc_curve_points, tpr_at_fpr
from benchmark.scoring.suppression import any_small_cell

REPORTED_FPRS = (0.01, 0.001, 0.0)


def attack_scores(log_probs: list[np.ndarray], attack: str, min_k_fraction: float) -> np.ndarray:
    """Return one membership score per sequence (higher = more likely a member)."""
    if attack == "loss":
        return np.array([lp.mean() if len(lp) else np.nan for lp in log_probs])
    if attack == "min_k":
        scores = []
        for lp in log_probs:
            k = max(1, int(np.ceil(min_k_fraction * len(lp))))
            scores.append(np.sort(lp)[:k].mean() if len(lp) else np.nan)
        return np.array(scores)
    raise ValueError(f"unknown membership attack {attack!r}")


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
        log_probs = context.executor.score(
            [s.tokens for s in context.sequences], label="membership: scoring sequences"
        )
        headline_attack = "loss" if "loss" in parameters.attacks else parameters.attacks[0]
        outcome = ProbeOutcome(
            headline=f"AUROC of the {headline_attack} attack on all evaluated patients "
            "(members positive)"
        )

        for attack in parameters.attacks:
            scores = attack_scores(log_probs, attack, parameters.min_k_fraction)
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
