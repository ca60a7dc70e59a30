import numpy as np
import pytest

from benchmark.scoring.advantage import (
    attribute_auroc_advantage,
    labelled_auroc_batch,
    labelled_auroc_resampled,
)
from benchmark.scoring.bootstrap import BootstrapConfig, bootstrap_auroc
from benchmark.scoring.roc import (
    NonFiniteScoresError,
    auroc,
    check_finite,
    roc_curve_points,
    tpr_at_fpr,
)


@pytest.mark.parametrize("n_members,n_non_members", [(10, 10), (3, 50), (200, 7)])
def test_auroc_constant_scores_is_half(n_members, n_non_members):
    assert auroc(np.zeros(n_members), np.zeros(n_non_members)) == 0.5


def test_auroc_members_are_positive_class():
    members = np.array([0.9, 0.8, 0.7])
    non_members = np.array([0.1, 0.2, 0.3])
    assert auroc(members, non_members) == 1.0
    assert auroc(non_members, members) == 0.0


def test_auroc_ties_count_half():
    assert auroc(np.array([1.0, 2.0]), np.array([1.0, 0.0])) == pytest.approx(0.875)


def test_tpr_at_zero_fpr_counts_members_above_every_non_member():
    members = np.array([10.0, 9.0, 5.0, 1.0])
    non_members = np.array([6.0, 2.0, 0.0])
    assert tpr_at_fpr(members, non_members, 0.0) == 0.5


def test_tpr_below_one_over_n_is_not_estimable():
    members = np.arange(10.0)
    non_members = np.arange(50.0)
    assert tpr_at_fpr(members, non_members, 0.01) is None
    assert tpr_at_fpr(members, non_members, 0.02) is not None


def test_tpr_at_fpr_allows_that_many_false_positives():
    members = np.array([4.5, 3.5, 2.5])
    non_members = np.array([5.0, 4.0, 3.0, 2.0])
    # One non-member (5.0) may score above the threshold at FPR 0.25.
    assert tpr_at_fpr(members, non_members, 0.25) == pytest.approx(1 / 3)
    assert tpr_at_fpr(members, non_members, 0.5) == pytest.approx(2 / 3)


def test_non_finite_scores_raise_with_count():
    with pytest.raises(NonFiniteScoresError, match="2 of 4 patient scores"):
        check_finite(np.array([1.0, np.nan, np.inf, 0.0]), "membership probe")


def test_bootstrap_interval_contains_point_and_is_seeded():
    rng = np.random.default_rng(0)
    members = rng.normal(0.5, 1, 200)
    non_members = rng.normal(0.0, 1, 200)
    config = BootstrapConfig(resamples=500, confidence=0.95, seed=3)
    first = bootstrap_auroc(members, non_members, config, ("k",))
    second = bootstrap_auroc(members, non_members, config, ("k",))
    assert first == second
    assert first.ci_low < first.value < first.ci_high
    assert 0.5 < first.ci_low


def test_labelled_auroc_batch_matches_scalar():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(5, 40))
    labels = rng.random((5, 40)) < 0.3
    batch = labelled_auroc_batch(scores, labels)
    for row in range(5):
        expected = auroc(scores[row][labels[row]], scores[row][~labels[row]])
        assert batch[row] == pytest.approx(expected)


def test_attribute_advantage_zero_for_equal_groups():
    scores = np.array([0.9, 0.8, 0.1, 0.2] * 10)
    labels = np.array([True, True, False, False] * 10)
    config = BootstrapConfig(resamples=200, confidence=0.95, seed=0)
    m, n, advantage, draws = attribute_auroc_advantage(
        scores, labels, scores, labels, config, ("a",)
    )
    assert m.value == n.value == 1.0
    assert advantage.value == 0.0
    assert draws.shape == (200,)


def test_roc_points_are_aggregate_rates():
    points = roc_curve_points(np.linspace(0, 1, 30), np.linspace(-1, 0.5, 40))
    assert points[0][0] == 0.0
    assert all(0 <= fpr <= 1 and 0 <= tpr <= 1 for fpr, tpr in points)
    assert [p[0] for p in points] == sorted(p[0] for p in points)


@pytest.mark.parametrize("tied", [False, True])
def test_resampled_auroc_equals_ranked_rows(tied):
    rng = np.random.default_rng(7)
    for n in (2, 5, 40, 301):
        scores = rng.integers(0, 4, n).astype(float) if tied else rng.normal(size=n)
        labels = rng.random(n) < 0.3
        index = rng.integers(0, n, (50, n))

        expected = labelled_auroc_batch(scores[index], labels[index])
        actual = labelled_auroc_resampled(scores, labels, index)

        np.testing.assert_allclose(actual, expected, atol=1e-12, equal_nan=True)
