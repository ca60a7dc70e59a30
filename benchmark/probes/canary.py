"""Canary exposure: how far does the model prefer canaries it was trained on?

Following Carlini et al., "The Secret Sharer" (USENIX Security 2019), each
inserted canary is ranked by log-perplexity (mean negative log-probability per
code) among the R reference canaries, which come from the same generator and
were never inserted::

    exposure = log2(R + 1) - log2(rank)          rank 1 = lowest perplexity

A canary the model has not memorized lands at a uniformly random rank, which
gives an expected exposure of about log2(e) = 1.44 bits; the most a rank can
show is log2(R + 1). When an inserted canary ranks first, the rank says only
"more than log2(R + 1)", so its exposure is estimated instead from a
skew-normal distribution fitted to the reference log-perplexities:
exposure = -log2 P(reference perplexity <= the canary's), at most log2 of the
number of canaries the generator can draw (its candidate space).

Exposure is reported per repetition count (mean over that count's canaries,
with a bootstrap interval over canaries). Headline rule: the exposure of the
canaries inserted most often. Canaries are synthetic, so these numbers hold
no patient data and the small-cell rule does not apply to them.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import skewnorm

from benchmark.models.base import SCORE
from benchmark.probes.base import Probe, ProbeContext, ProbeOutcome
from benchmark.probes.parameters import CanaryProbeParameters
from benchmark.results.models import Metric
from benchmark.scoring.bootstrap import bootstrap_mean
from benchmark.scoring.roc import check_finite


def exposure(
    canary_perplexity: float, reference_perplexities: np.ndarray, space_bits: float = np.inf
) -> float:
    """Return the exposure in bits of one canary among reference canaries.

    ``space_bits`` is log2 of the number of canaries the generator can draw;
    no exposure exceeds it, since no rank in that space is better than 1.

    >>> exposure(5.0, np.array([1.0, 2.0, 3.0]))  # ranks last of 4
    0.0
    >>> round(exposure(2.5, np.array([1.0, 2.0, 3.0])), 6)  # ranks third of 4
    0.415037
    """
    rank = 1 + int(np.sum(reference_perplexities < canary_perplexity))
    if rank > 1:
        return float(np.log2(len(reference_perplexities) + 1) - np.log2(rank))
    shape, location, scale = skewnorm.fit(reference_perplexities)
    tail = float(skewnorm.cdf(canary_perplexity, shape, location, scale))
    # A rank of 1 shows at least log2(R + 1) bits; the fit extends beyond that.
    rank_bound = float(np.log2(len(reference_perplexities) + 1))
    estimate = -float(np.log2(tail)) if tail > 0 else np.inf
    return min(space_bits, max(rank_bound, estimate))


class CanaryProbe(Probe):
    name = "canary"
    requires = frozenset({SCORE})
    parameters_model = CanaryProbeParameters

    def run(self, context: ProbeContext, parameters: CanaryProbeParameters) -> ProbeOutcome:
        canaries = context.canaries
        outcome = ProbeOutcome(headline="exposure (bits) of the canaries inserted most often")
        if canaries is None or not canaries.inserted:
            outcome.metrics.append(
                Metric(name="exposure", value=None, subgroup="canaries",
                       note="not applicable: the suite inserts no canaries")
            )  # fmt: skip
            return outcome

        sequences = [c.sequence for c in canaries.inserted] + [
            c.sequence for c in canaries.references
        ]
        log_probs = context.executor.score(sequences, label="canary: scoring canaries")
        perplexity = np.array([-lp.mean() for lp in log_probs])
        check_finite(perplexity, "canary probe, log-perplexity")
        inserted = perplexity[: len(canaries.inserted)]
        references = perplexity[len(canaries.inserted) :]

        exposures = np.array([exposure(p, references, canaries.space_bits) for p in inserted])
        counts = np.array([c.repetitions for c in canaries.inserted])
        for repetitions in sorted(set(counts.tolist())):
            estimate = bootstrap_mean(
                exposures[counts == repetitions], context.bootstrap, (self.name, repetitions)
            )
            outcome.metrics.append(
                Metric(
                    name="exposure",
                    value=estimate.value,
                    ci_low=estimate.ci_low,
                    ci_high=estimate.ci_high,
                    subgroup="canaries",
                    repetitions=repetitions,
                    note=f"{int((counts == repetitions).sum())} canaries among "
                    f"{len(references)} references",
                )
            )
            if repetitions == counts.max():
                outcome.summary["canary_exposure"] = estimate
        return outcome
