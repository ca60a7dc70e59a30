"""Trajectory reconstruction: how close do sampled continuations come to the
patient's true next events?

For each tier that leaves part of the record hidden, the prompt is what the
tier reveals; the model samples continuations of ``max_new_tokens`` codes and
each is compared with the true next ``max_new_tokens`` codes in two ways:

- ``overlap``: the Jaccard overlap of the two code sets (0 = no code in
  common, 1 = the same codes);
- ``distance``: the time-aware earth mover's distance of
  ``benchmark.scoring.trajectory_distance`` (0 = the same codes in the same
  order, 1 = nothing in common).

A patient's value is the mean over samples. The population baseline compares
each patient's truth with another evaluated patient's true continuation at
the same tier: what an attacker gets by guessing a typical record.

Headline rule: the member advantage in overlap (members minus non-members),
averaged over tiers. For the distance the advantage is non-members minus
members, so that for both a positive advantage means memorization. A model
that predicts the course of unseen patients as well generalizes; only the
advantage counts. The ``all`` history tier reveals the whole record and is
skipped: nothing is left to reconstruct.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmark.models.base import GENERATE, GenerationRequest
from benchmark.probes.base import Probe, ProbeContext, ProbeOutcome, metric
from benchmark.probes.parameters import ReconstructionParameters
from benchmark.probes.prompts import build_prompt, true_continuation
from benchmark.probes.seeding import derive_seed
from benchmark.scoring.advantage import mean_difference_with_draws, weighted_mean_estimate
from benchmark.scoring.bootstrap import bootstrap_mean
from benchmark.scoring.trajectory_distance import trajectory_distance

PromptTransform = Callable[[tuple[str, ...], int], tuple[str, ...]]


def jaccard_overlap(generated: tuple[str, ...], truth: tuple[str, ...]) -> float:
    """Return |A ∩ B| / |A ∪ B| of the two code sets (0 when both are empty).

    >>> jaccard_overlap(("a", "b"), ("b", "c"))
    0.3333333333333333
    """
    a, b = set(generated), set(truth)
    union = a | b
    return len(a & b) / len(union) if union else 0.0


@dataclass(frozen=True)
class TierReconstruction:
    """Per-patient reconstruction values at one tier (never published)."""

    tier: object
    overlap: np.ndarray
    distance: np.ndarray
    baseline_distance: np.ndarray
    has_truth: np.ndarray


def reconstruction_tiers(context: ProbeContext) -> list:
    return [t for t in context.suite.tiers if t.reveals.history != "all"]


def measure_reconstruction(
    context: ProbeContext,
    parameters: ReconstructionParameters,
    transform: PromptTransform | None = None,
    label: str = "reconstruction: sampling",
) -> list[TierReconstruction]:
    """Sample continuations for every tier and patient and compare them with the truth.

    ``transform(prompt, patient_index)`` changes each prompt before sampling;
    the perturbation probe uses it to alter patient-specific details.
    """
    sequences = context.sequences
    plans, requests = [], []
    for tier in reconstruction_tiers(context):
        prompts = [build_prompt(tier, s) for s in sequences]
        if transform is not None:
            prompts = [transform(p, i) for i, p in enumerate(prompts)]
        truths = [true_continuation(tier, s, parameters.max_new_tokens) for s in sequences]
        plans.append((tier, truths))
        requests.extend(
            GenerationRequest(
                prompt=prompt,
                samples=parameters.samples,
                max_new_tokens=parameters.max_new_tokens,
                temperature=parameters.temperature,
                seed=derive_seed(context.seed, "reconstruction", prompt),
            )
            for prompt in prompts
        )
    answers = context.executor.generate(requests, label=label)

    # Each patient's baseline is the truth of the next evaluated patient in a
    # seeded shuffle: another record of the same population, never its own.
    order = np.random.default_rng([context.seed, 7]).permutation(len(sequences))
    partner = np.empty(len(sequences), int)
    partner[order] = np.roll(order, -1)

    measured, position = [], 0
    for tier, truths in plans:
        samples = answers[position : position + len(truths)]
        position += len(truths)
        overlap = np.array(
            [
                np.mean([jaccard_overlap(g, truth) for g in generated]) if generated else 0.0
                for generated, truth in zip(samples, truths, strict=True)
            ]
        )
        distance = np.array(
            [
                np.mean([trajectory_distance(g, truth) for g in generated]) if generated else 1.0
                for generated, truth in zip(samples, truths, strict=True)
            ]
        )
        baseline = np.array(
            [trajectory_distance(truths[partner[i]], truth) for i, truth in enumerate(truths)]
        )
        has_truth = np.array([len(t) > 0 for t in truths], bool)
        measured.append(TierReconstruction(tier, overlap, distance, baseline, has_truth))
    return measured


class ReconstructionProbe(Probe):
    name = "reconstruction"
    requires = frozenset({GENERATE})
    parameters_model = ReconstructionParameters

    def run(self, context: ProbeContext, parameters: ReconstructionParameters) -> ProbeOutcome:
        outcome = ProbeOutcome(
            headline="member advantage in code overlap with the true continuation, mean over tiers"
        )
        summary_points, summary_draws = [], []

        for measured in measure_reconstruction(context, parameters):
            tier = measured.tier
            for subgroup in context.subgroups:
                in_members = subgroup.mask & context.is_member & measured.has_truth
                in_non_members = subgroup.mask & ~context.is_member & measured.has_truth
                sizes = (int(in_members.sum()), int(in_non_members.sum()))
                cell = {
                    "tier": tier.id,
                    "subgroup": subgroup.label,
                    "n_members": sizes[0],
                    "n_non_members": sizes[1],
                }
                key = (self.name, subgroup.label, *sizes)

                overlap_m, overlap_n, advantage, draws = mean_difference_with_draws(
                    measured.overlap[in_members], measured.overlap[in_non_members],
                    context.bootstrap, key,
                )  # fmt: skip
                # Distance: lower is closer, so non-members minus members.
                distance_n, distance_m, distance_advantage, _ = mean_difference_with_draws(
                    measured.distance[in_non_members], measured.distance[in_members],
                    context.bootstrap, (*key, "distance"),
                )  # fmt: skip
                in_evaluated = subgroup.mask & measured.has_truth
                baseline = bootstrap_mean(
                    measured.baseline_distance[in_evaluated], context.bootstrap, (*key, "baseline")
                )

                published = [
                    metric("overlap_members", overlap_m, **cell),
                    metric("overlap_non_members", overlap_n, **cell),
                    metric("member_advantage", advantage, **cell),
                    metric("distance_members", distance_m, **cell),
                    metric("distance_non_members", distance_n, **cell),
                    metric("distance_member_advantage", distance_advantage, **cell),
                    metric("distance_population_baseline", baseline, **cell),
                ]
                outcome.metrics.extend(published)
                usable = not published[2].suppressed and advantage.value is not None
                if subgroup.label == "all" and usable:
                    summary_points.append(advantage.value)
                    summary_draws.append(draws)

        # Tiers may leave out different patients (no continuation left), so their
        # resamples differ; the summary averages each tier's draws index by index.
        all_draws = None if any(d is None for d in summary_draws) else np.array(summary_draws)
        outcome.summary["reconstruction_member_advantage"] = weighted_mean_estimate(
            np.array(summary_points),
            all_draws,
            np.ones(len(summary_points)),
            context.bootstrap.confidence,
        )
        return outcome
