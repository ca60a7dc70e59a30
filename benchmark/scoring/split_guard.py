"""The split guard: can the data alone tell members from non-members?

A blind classifier that never queries the model sees each evaluated patient's
bag of codes, record length and birth year, and tries to predict membership
(out-of-fold, stratified k-fold cross-validation). On a sound split, such as
clinmem's hash of ``subject_id``, it scores an AUROC near 0.5. When its
interval excludes 0.5, members and non-members differ in the data itself (a
split by time or site, say), any membership number would mix that shift with
memorization, and the result is flagged ``split_shift_suspected``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmark.data.sequence import SECONDS_PER_YEAR, PatientSequence
from benchmark.scoring.bootstrap import BootstrapConfig, Estimate, bootstrap_auroc

SPLIT_SHIFT_FLAG = "split_shift_suspected"
FOLDS = 5
EPOCH_YEAR = 1970


def guard_features(sequences: Sequence[PatientSequence]):
    """Return a sparse matrix: code counts, log record length, birth year."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction import DictVectorizer

    bags = [{code: 1.0 for code in s.tokens} for s in sequences]
    codes = DictVectorizer().fit_transform(bags)
    lengths = np.log1p([len(s.events) for s in sequences])
    birth_years = np.array(
        [
            EPOCH_YEAR + s.birth_time / SECONDS_PER_YEAR if s.birth_time is not None else np.nan
            for s in sequences
        ]
    )
    birth_years = np.nan_to_num(
        birth_years, nan=np.nanmean(birth_years) if np.isfinite(birth_years).any() else 0.0
    )
    dense = np.column_stack(
        [lengths, (birth_years - birth_years.mean()) / (birth_years.std() or 1.0)]
    )
    return hstack([codes, csr_matrix(dense)]).tocsr()


def split_guard_auroc(
    sequences: Sequence[PatientSequence], is_member: np.ndarray, config: BootstrapConfig
) -> Estimate:
    """Return the blind classifier's out-of-fold AUROC (members positive), with its interval."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    n_folds = min(FOLDS, int(is_member.sum()), int((~is_member).sum()))
    if n_folds < 2:
        return Estimate(None)
    features = guard_features(sequences)
    scores = np.zeros(len(sequences))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=config.seed)
    for train, test in folds.split(features, is_member):
        classifier = LogisticRegression(C=1.0, max_iter=2000)
        classifier.fit(features[train], is_member[train])
        scores[test] = classifier.decision_function(features[test])
    return bootstrap_auroc(scores[is_member], scores[~is_member], config, ("split_guard",))


def split_shift_suspected(estimate: Estimate) -> bool:
    """Return whether the guard's interval lies wholly above 0.5."""
    return estimate.ci_low is not None and estimate.ci_low > 0.5
