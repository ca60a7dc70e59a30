"""Percentile bootstrap intervals that resample patients.

Members and non-members are resampled separately (a stratified bootstrap),
so every resample keeps the original group sizes. A patient is one unit: all
samples generated for a patient are aggregated into one per-patient value
before any metric, so resampling patients keeps them together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmark.scoring.roc import auroc_batch


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap interval (None when not computed)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class BootstrapConfig:
    resamples: int
    confidence: float
    seed: int

    def rng(self, *key: object) -> np.random.Generator:
        """Return a generator seeded from the run seed and a metric key, so each
        metric's interval is reproducible on its own.

        The key enters as the first 8 bytes of the SHA-256 of its ``repr``, so
        different keys get independent streams (unless those 64 bits collide, at
        odds of about 2**-64 per pair) and the same (seed, key) gets the same
        stream in every Python process. Key parts need a ``repr`` that does not
        change between processes, as str, int, float, None and tuples of them have.
        """
        digest = hashlib.sha256(repr(key).encode()).digest()
        return np.random.default_rng([self.seed, int.from_bytes(digest[:8], "big")])


def _interval(values: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _resample_indices(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    return rng.integers(0, n, size=(resamples, n))


def bootstrap_two_groups(
    members: np.ndarray,
    non_members: np.ndarray,
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    point: float | None,
    config: BootstrapConfig,
    key: tuple,
) -> Estimate:
    """Bootstrap a statistic of two groups of per-patient values.

    ``statistic`` takes (B, n_members) and (B, n_non_members) resampled arrays
    and returns B values, so the resamples are computed in one vectorized call.
    """
    if point is None or not np.isfinite(point):
        return Estimate(None)
    if config.resamples == 0 or len(members) < 2 or len(non_members) < 2:
        return Estimate(point)
    rng = config.rng(*key)
    member_draws = members[_resample_indices(rng, len(members), config.resamples)]
    non_member_draws = non_members[_resample_indices(rng, len(non_members), config.resamples)]
    low, high = _interval(statistic(member_draws, non_member_draws), config.confidence)
    return Estimate(point, low, high)


def bootstrap_auroc(
    members: np.ndarray, non_members: np.ndarray, config: BootstrapConfig, key: tuple
) -> Estimate:
    """AUROC of member scores against non-member scores, with its interval."""
    from benchmark.scoring.roc import auroc

    return bootstrap_two_groups(
        members, non_members, auroc_batch, auroc(members, non_members), config, key
    )


def bootstrap_mean_difference(
    members: np.ndarray, non_members: np.ndarray, config: BootstrapConfig, key: tuple
) -> Estimate:
    """Mean over members minus mean over non-members, with its interval."""
    if len(members) == 0 or len(non_members) == 0:
        return Estimate(None)
    point = float(members.mean() - non_members.mean())
    return bootstrap_two_groups(
        members,
        non_members,
        lambda m, n: m.mean(axis=1) - n.mean(axis=1),
        point,
        config,
        key,
    )


def bootstrap_mean(values: np.ndarray, config: BootstrapConfig, key: tuple) -> Estimate:
    """Mean of one group of per-patient values, with its interval."""
    if len(values) == 0:
        return Estimate(None)
    point = float(values.mean())
    if config.resamples == 0 or len(values) < 2:
        return Estimate(point)
    rng = config.rng(*key)
    draws = values[_resample_indices(rng, len(values), config.resamples)].mean(axis=1)
    low, high = _interval(draws, config.confidence)
    return Estimate(point, low, high)
