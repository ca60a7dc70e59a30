"""Trajectory reconstruction: how close do sampled continuations come to the
patient's true next events?

For each tier that leaves part of the record hidden, the prompt is what the
tier reveals; the model samples continuations of ``max_new_tokens`` codes and
each is compared with the true next ``max_new_tokens`` codes by the Jaccard
overlap of their code sets (0 = no code in common, 1 = the same codes). A
patient's value is the mean over samples.

Headline rule: the member advantage in overlap, averaged over tiers. A model
that predicts the course of unseen patients as well generalizes; only the
advantage counts as memorization. The ``all`` history tier reveals the whole
record and is skipped: nothing is left to reconstruct.
"""

from __future__ import annotations

import numpy as np

from benchmark.models.base import GENERATE, GenerationRequest
from benchmark.probes.base import Probe, ProbeContext, ProbeOutcome, metric
from benchmark.probes.parameters import ReconstructionParameters
from benchmark.probes.prompts import build_prompt, true_continuation
from benchmark.probes.seeding import derive_seed
from benchmark.scoring.advantage import mean_difference_with_draws, weighted_mean_estimate


def jaccard_overlap(generated: tuple[str, ...], truth: tuple[str, ...]) -> float:
    """Return |A ∩ B| / |A ∪ B| of the two code sets (0 when both are empty).

    >>> jaccard_overlap(("a", "b"), ("b", "c"))
    0.3333333333333333
    """
    a, b = set(generated), set(truth)
    union = a | b
    return len(a & b) / len(union) if union else 0.0


class ReconstructionProbe(Probe):
    name = "reconstruction"
    requires = frozenset({GENERATE})
    parameters_model = ReconstructionParameters

    def run(self, context: ProbeContext, parameters: ReconstructionParameters) -> ProbeOutcome:
        tiers = [t for t in context.suite.tiers if t.reveals.history != "all"]
        sequences = context.sequences

        plans = []
        requests: list[GenerationRequest] = []
        for tier in tiers:
            prompts = [build_prompt(tier, s) for s in sequences]
            truths = [true_continuation(tier, s, parameters.max_new_tokens) for s in sequences]
            plans.append((tier, prompts, truths))
            requests.extend(
                GenerationRequest(
                    prompt=prompt,
                    samples=parameters.samples,
                    max_new_tokens=parameters.max_new_tokens,
                    temperature=parameters.temperature,
                    seed=derive_seed(context.seed, self.name, prompt),
                )
                for prompt in prompts
            )
        answers = context.executor.generate(requests, label="reconstruction: sampling")

        outcome = ProbeOutcome(
            headline="member advantage in code overlap with the true continuation, mean over tiers"
        )
        summary_points, summary_draws = [], []
        position = 0
        for tier, prompts, truths in plans:
            samples = answers[position : position + len(prompts)]
            position += len(prompts)
            overlap = np.array(
                [
                    np.mean([jaccard_overlap(g, truth) for g in generated]) if generated else 0.0
                    for generated, truth in zip(samples, truths, strict=True)
                ]
            )
            has_truth = np.array([len(t) > 0 for t in truths], bool)

            for subgroup in context.subgroups:
                in_members = subgroup.mask & context.is_member & has_truth
                in_non_members = subgroup.mask & ~context.is_member & has_truth
                member_mean, non_member_mean, advantage, draws = mean_difference_with_draws(
                    overlap[in_members],
                    overlap[in_non_members],
                    context.bootstrap,
                    (self.name, subgroup.label, int(in_members.sum()), int(in_non_members.sum())),
                )
                cell = {
                    "tier": tier.id,
                    "subgroup": subgroup.label,
                    "n_members": int(in_members.sum()),
                    "n_non_members": int(in_non_members.sum()),
                }
                published = [
                    metric("overlap_members", member_mean, **cell),
                    metric("overlap_non_members", non_member_mean, **cell),
                    metric("member_advantage", advantage, **cell),
                ]
                outcome.metrics.extend(published)
                if subgroup.label == "all" and not published[2].suppressed:
                    if advantage.value is not None:
                        summary_points.append(advantage.value)
                        summary_draws.append(draws)

        # Tiers may drop different patients (no continuation left), so their
        # resamples differ and are combined as independent draws of each tier.
        all_draws = None if any(d is None for d in summary_draws) else np.array(summary_draws)
        outcome.summary["reconstruction_member_advantage"] = weighted_mean_estimate(
            np.array(summary_points),
            all_draws,
            np.ones(len(summary_points)),
            context.bootstrap.confidence,
        )
        return outcome
