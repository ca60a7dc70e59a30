"""Utility: how well does the model predict patients it never saw?

A model that memorizes nothing because it learned nothing must not look
good, so every result reports utility beside risk, on non-members only:

- ``utility_loss``: the mean per-code loss (negative log-likelihood, nats),
  averaged per patient first, then over patients; lower is better;
- ``utility_top10_accuracy``: the share of a patient's codes that are among
  the model's ``top_k`` most likely next codes, averaged over patients;
  needs a model that describes its distribution (``score_details``).

It reuses the membership probe's forward pass: both ask the executor for the
same answers, so the second comes from the cache.
"""

from __future__ import annotations

import numpy as np

from benchmark.models.base import SCORE, SCORE_DETAILS
from benchmark.probes.base import Probe, ProbeContext, ProbeOutcome, metric
from benchmark.probes.parameters import UtilityParameters
from benchmark.scoring.bootstrap import bootstrap_mean
from benchmark.scoring.roc import check_finite


class UtilityProbe(Probe):
    name = "utility"
    requires = frozenset({SCORE})
    parameters_model = UtilityParameters

    def run(self, context: ProbeContext, parameters: UtilityParameters) -> ProbeOutcome:
        tokens = [s.tokens for s in context.sequences]
        ranks = None
        if SCORE_DETAILS in context.model.capabilities:
            details = context.executor.score_details(tokens, label="utility: scoring")
            log_probs = [d.log_probs for d in details]
            ranks = [d.rank for d in details]
        else:
            log_probs = context.executor.score(tokens, label="utility: scoring")

        loss = np.array([-lp.mean() for lp in log_probs])
        check_finite(loss, "utility probe, per-code loss")
        top_k = None if ranks is None else np.array([np.mean(r < parameters.top_k) for r in ranks])

        outcome = ProbeOutcome(headline="mean per-code loss on non-members (nats)")
        for subgroup in context.subgroups:
            non_members = subgroup.mask & ~context.is_member
            counts = {"n_members": 0, "n_non_members": int(non_members.sum())}
            key = (self.name, subgroup.label)
            loss_estimate = bootstrap_mean(loss[non_members], context.bootstrap, (*key, "loss"))
            outcome.metrics.append(
                metric("utility_loss", loss_estimate, subgroup=subgroup.label, **counts)
            )
            if subgroup.label == "all":
                outcome.summary["utility_loss"] = loss_estimate

            if top_k is None:
                continue
            accuracy = bootstrap_mean(top_k[non_members], context.bootstrap, (*key, "top_k"))
            outcome.metrics.append(
                metric(
                    f"utility_top{parameters.top_k}_accuracy",
                    accuracy,
                    subgroup=subgroup.label,
                    **counts,
                )
            )
            if subgroup.label == "all" and parameters.top_k == 10:
                outcome.summary["utility_top10_accuracy"] = accuracy
        return outcome
