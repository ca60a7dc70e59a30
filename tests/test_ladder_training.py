"""The ladder's training variants: duplicated members and DP-SGD."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from synthetic_cohorts import make_cohort

from benchmark.data.sequence import build_sequence
from benchmark.models.registry import ModelContext, load_model
from benchmark.models.training import (
    TRAINING_RECORD,
    TrainingSetupError,
    _duplicated_members,
    train_reference_gpt,
)

TINY = dict(n_layer=1, n_head=2, n_embd=32, batch_size=8, max_sequence_length=16, progress=False)


def _weights_digest(folder) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_duplicated_members_seeded_and_real():
    cohort = make_cohort(100)
    members = cohort.members
    # Turn the first ten members into canary copies, which must never be drawn.
    members = [
        dataclasses.replace(p, subject_id=-(i + 1)) for i, p in enumerate(members[:10])
    ] + members[10:]

    first = _duplicated_members(members, 0.1, seed=0)
    again = _duplicated_members(members, 0.1, seed=0)
    other = _duplicated_members(members, 0.1, seed=1)

    assert first == again
    assert first != other
    assert len(first) == round(0.1 * (len(members) - 10))
    assert all(members[i].subject_id >= 0 for i in first)
    assert _duplicated_members(members, 0.0, seed=0) == []


@pytest.mark.slow
def test_duplicates_change_training(tmp_path):
    cohort = make_cohort(60)

    plain = train_reference_gpt(cohort, tmp_path / "plain", epochs=1, **TINY)
    duplicated = train_reference_gpt(
        cohort, tmp_path / "dup", epochs=1, duplicate_fraction=0.5, duplicate_times=4, **TINY
    )
    repeated = train_reference_gpt(
        cohort, tmp_path / "dup2", epochs=1, duplicate_fraction=0.5, duplicate_times=4, **TINY
    )

    assert plain.duplicated_members == 0
    assert duplicated.duplicated_members == round(0.5 * len(cohort.members))
    assert _weights_digest(tmp_path / "dup") == _weights_digest(tmp_path / "dup2")
    assert _weights_digest(tmp_path / "dup") != _weights_digest(tmp_path / "plain")
    record = json.loads((tmp_path / "dup" / TRAINING_RECORD).read_text())
    assert record["config"]["duplicate_times"] == 4
    assert repeated.train_loss == duplicated.train_loss


@pytest.mark.slow
def test_dropout_reaches_the_model(tmp_path):
    cohort = make_cohort(60)

    train_reference_gpt(cohort, tmp_path / "plain", epochs=1, **TINY)
    train_reference_gpt(cohort, tmp_path / "no-dropout", epochs=1, dropout=0.0, **TINY)

    plain = json.loads((tmp_path / "plain" / "config.json").read_text())
    no_dropout = json.loads((tmp_path / "no-dropout" / "config.json").read_text())
    assert [plain[key] for key in ("embd_pdrop", "attn_pdrop", "resid_pdrop")] == [0.1] * 3
    assert [no_dropout[key] for key in ("embd_pdrop", "attn_pdrop", "resid_pdrop")] == [0.0] * 3
    record = json.loads((tmp_path / "no-dropout" / TRAINING_RECORD).read_text())
    assert record["config"]["dropout"] == 0.0
    assert _weights_digest(tmp_path / "plain") != _weights_digest(tmp_path / "no-dropout")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"duplicate_fraction": 1.5}, "duplicate_fraction must lie in"),
        ({"duplicate_fraction": -0.1}, "duplicate_fraction must lie in"),
        ({"duplicate_times": 0}, "duplicate_times must be at least 1"),
        ({"dp_epsilon": 0.0}, "dp_epsilon must be positive"),
        ({"dp_epsilon": 8.0, "dp_delta": 1.0}, "dp_delta must lie in"),
        ({"dp_epsilon": 8.0, "max_grad_norm": 0.0}, "max_grad_norm must be positive"),
        ({"dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
        ({"dropout": -0.1}, r"dropout must lie in \[0, 1\)"),
    ],
)
def test_variant_settings_rejected(tmp_path, setting, message):
    with pytest.raises(TrainingSetupError, match=message):
        train_reference_gpt(make_cohort(20), tmp_path / "model", epochs=1, **setting, **TINY)
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
def test_dp_training_records_epsilon(tmp_path):
    cohort = make_cohort(60)

    report = train_reference_gpt(
        cohort, tmp_path / "dp", epochs=2, dp_epsilon=8.0, early_stopping=False, **TINY
    )
    train_reference_gpt(
        cohort, tmp_path / "dp2", epochs=2, dp_epsilon=8.0, early_stopping=False, **TINY
    )

    assert 0 < report.dp_epsilon <= 8.0 * 1.01
    assert report.dp_delta == pytest.approx(1 / len(cohort.members))
    assert report.dp_noise_multiplier > 0
    record = json.loads((tmp_path / "dp" / TRAINING_RECORD).read_text())
    assert record["dp_epsilon"] == report.dp_epsilon
    assert record["config"]["dp_target_epsilon"] == 8.0
    assert _weights_digest(tmp_path / "dp") == _weights_digest(tmp_path / "dp2")

    model = load_model(f"hf:{tmp_path / 'dp'}", ModelContext(cohort=None, max_sequence_length=16))
    [scores] = model.score([build_sequence(cohort.members[0], 16).tokens[:4]])
    assert len(scores) == 4
