"""Member advantage: a metric on members minus the same metric on non-members.

Memorization is what a model does better for the patients it was trained on
than for unseen patients of the same population, so every leakage number is
reported as this difference, with raw leakage beside it.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from benchmark.scoring.bootstrap import BootstrapConfig, Estimate, _interval
from benchmark.scoring.roc import auroc


def labelled_auroc_batch(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Return the AUROC of each row's positives against its negatives (NaN when a
    row lacks either class); rows may hold different numbers of positives."""
    ranks = rankdata(scores, axis=1)
    n_pos = labels.sum(axis=1)
    n_neg = labels.shape[1] - n_pos
    u_statistic = (ranks * labels).sum(axis=1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u_statistic / (n_pos * n_neg), np.nan)


def labelled_auroc_resampled(
    scores: np.ndarray, labels: np.ndarray, index: np.ndarray
) -> np.ndarray:
    """Return ``labelled_auroc_batch(scores[index], labels[index])`` without sorting each row.

    Every row of ``index`` (B, n) resamples the same n patients, so the rank of
    a score within a row follows from how many resampled scores fall below its
    tie group: count the resampled patients per group of equal scores, and the
    Mann-Whitney U of row b is sum over groups of positives_g * midrank_g minus
    n_pos (n_pos + 1) / 2, with midrank_g = below_g + (count_g + 1) / 2. This
    costs O(B n) against rankdata's O(B n log n) and a copy of every row.
    """
    groups, group_of = np.unique(scores, return_inverse=True)
    n_groups = len(groups)
    rows = index.shape[0]
    offsets = (np.arange(rows) * n_groups)[:, None]
    flat = (group_of[index] + offsets).ravel()
    total = np.bincount(flat, minlength=rows * n_groups).reshape(rows, n_groups)
    positive = np.bincount(
        flat, weights=labels[index].ravel().astype(np.float64), minlength=rows * n_groups
    ).reshape(rows, n_groups)

    below = np.cumsum(total, axis=1) - total
    midrank = below + (total + 1) / 2
    n_pos = positive.sum(axis=1)
    n_neg = index.shape[1] - n_pos
    u_statistic = (positive * midrank).sum(axis=1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u_statistic / (n_pos * n_neg), np.nan)


def _auroc_of(scores: np.ndarray, labels: np.ndarray) -> float | None:
    if labels.all() or not labels.any():
        return None
    return auroc(scores[labels], scores[~labels])


def attribute_auroc_advantage(
    member_scores: np.ndarray,
    member_labels: np.ndarray,
    non_member_scores: np.ndarray,
    non_member_labels: np.ndarray,
    config: BootstrapConfig,
    key: tuple,
) -> tuple[Estimate, Estimate, Estimate, np.ndarray | None]:
    """Return (AUROC on members, AUROC on non-members, their difference, the
    difference's bootstrap draws).

    The attack's score predicts the attribute (label true = carrier) within each
    group. Members and non-members are resampled as patients, each with its label;
    the same ``key`` and group sizes give the same resamples, so draws of several
    cells can be combined into one interval.
    """
    point_members = _auroc_of(member_scores, member_labels)
    point_non_members = _auroc_of(non_member_scores, non_member_labels)
    point_advantage = (
        point_members - point_non_members
        if point_members is not None and point_non_members is not None
        else None
    )
    if config.resamples == 0 or point_advantage is None:
        return (
            Estimate(point_members),
            Estimate(point_non_members),
            Estimate(point_advantage),
            None,
        )

    rng = config.rng(*key)
    m_index = rng.integers(0, len(member_scores), (config.resamples, len(member_scores)))
    n_index = rng.integers(0, len(non_member_scores), (config.resamples, len(non_member_scores)))
    m_draws = labelled_auroc_resampled(member_scores, member_labels, m_index)
    n_draws = labelled_auroc_resampled(non_member_scores, non_member_labels, n_index)
    return (
        Estimate(point_members, *_interval(m_draws, config.confidence)),
        Estimate(point_non_members, *_interval(n_draws, config.confidence)),
        Estimate(point_advantage, *_interval(m_draws - n_draws, config.confidence)),
        m_draws - n_draws,
    )


def weighted_mean_estimate(
    points: np.ndarray, draws: np.ndarray | None, weights: np.ndarray, confidence: float
) -> Estimate:
    """Weighted mean of cells, each with its bootstrap draws of shape (cells, B)."""
    if len(points) == 0:
        return Estimate(None)
    value = float(np.average(points, weights=weights))
    if draws is None:
        return Estimate(value)
    combined = np.average(draws, axis=0, weights=weights)
    return Estimate(value, *_interval(combined, confidence))


def mean_difference_with_draws(
    members: np.ndarray, non_members: np.ndarray, config: BootstrapConfig, key: tuple
) -> tuple[Estimate, Estimate, Estimate, np.ndarray | None]:
    """Return (member mean, non-member mean, difference, the difference's draws)."""
    if len(members) == 0 or len(non_members) == 0:
        return Estimate(None), Estimate(None), Estimate(None), None
    point_m, point_n = float(members.mean()), float(non_members.mean())
    if config.resamples == 0 or len(members) < 2 or len(non_members) < 2:
        return Estimate(point_m), Estimate(point_n), Estimate(point_m - point_n), None
    rng = config.rng(*key)
    m_draws = members[rng.integers(0, len(members), (config.resamples, len(members)))].mean(1)
    n_draws = non_members[
        rng.integers(0, len(non_members), (config.resamples, len(non_members)))
    ].mean(1)
    return (
        Estimate(point_m, *_interval(m_draws, config.confidence)),
        Estimate(point_n, *_interval(n_draws, config.confidence)),
        Estimate(point_m - point_n, *_interval(m_draws - n_draws, config.confidence)),
        m_draws - n_draws,
    )
