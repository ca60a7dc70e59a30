"""ROC metrics for member-versus-non-member scores.

Members are the positive class everywhere in clinmem: a score is "how much
the attack believes this patient was trained on", and a model that memorizes
gives an AUROC above 0.5, never below.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


class NonFiniteScoresError(ValueError):
    """Raised when an attack produced NaN or infinite scores."""


def check_finite(scores: np.ndarray, what: str) -> None:
    """Raise when any score is NaN or infinite, saying how many and where."""
    bad = ~np.isfinite(scores)
    if bad.any():
        raise NonFiniteScoresError(
            f"{what}: {int(bad.sum())} of {scores.size} patient scores are NaN or infinite; "
            "the model returned non-finite log-probabilities"
        )


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Return the area under the ROC curve, positives ranked above negatives.

    Ties count one half (the Mann-Whitney U statistic), so constant scores give
    exactly 0.5 whatever the class balance.

    >>> auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0]))
    1.0
    >>> auroc(np.array([1.0, 1.0, 1.0]), np.array([1.0]))
    0.5
    """
    n_pos, n_neg = len(positive), len(negative)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([positive, negative]))
    u_statistic = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u_statistic / (n_pos * n_neg))


def auroc_batch(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Return the AUROC of each row of (B, n_pos) positives against (B, n_neg) negatives."""
    n_pos, n_neg = positive.shape[1], negative.shape[1]
    ranks = rankdata(np.concatenate([positive, negative], axis=1), axis=1)
    u_statistic = ranks[:, :n_pos].sum(axis=1) - n_pos * (n_pos + 1) / 2
    return u_statistic / (n_pos * n_neg)


def tpr_at_fpr(positive: np.ndarray, negative: np.ndarray, fpr: float) -> float | None:
    """Return the true-positive rate at a false-positive rate of at most ``fpr``.

    The threshold is the smallest that lets at most ``floor(fpr * n_neg)``
    negatives score strictly above it; positives count when strictly above.
    ``fpr = 0`` gives the share of positives scoring above every negative. A
    non-zero ``fpr`` below ``1 / n_neg`` cannot be estimated from this many
    negatives and returns None.

    >>> tpr_at_fpr(np.array([5.0, 3.0, 1.0]), np.array([2.0, 4.0]), 0.0)
    0.3333333333333333
    >>> tpr_at_fpr(np.array([5.0]), np.array([2.0, 4.0]), 0.01) is None
    True
    """
    n_neg = len(negative)
    if len(positive) == 0 or n_neg == 0:
        return None
    if 0 < fpr < 1 / n_neg:
        return None
    allowed = int(np.floor(fpr * n_neg + 1e-9))
    ordered = np.sort(negative)[::-1]
    threshold = ordered[allowed] if allowed < n_neg else -np.inf
    return float(np.mean(positive > threshold))


def roc_curve_points(
    positive: np.ndarray, negative: np.ndarray, max_points: int = 64
) -> list[tuple[float, float]]:
    """Return aggregate (FPR, TPR) points of the ROC curve, log-spaced in FPR.

    Only rates are returned, never a score, so the points hold no patient-level data.
    """
    n_neg = len(negative)
    if len(positive) == 0 or n_neg == 0:
        return []
    fprs = np.unique(np.concatenate([[0.0], np.geomspace(1 / n_neg, 1.0, num=max_points - 1)]))
    points = []
    for fpr in fprs:
        tpr = tpr_at_fpr(positive, negative, float(fpr))
        if tpr is not None:
            points.append((round(float(fpr), 6), round(tpr, 6)))
    return points
