"""Training the reference GPT: determinism, early stopping, memorization, output folder."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from synthetic_cohorts import make_cohort, make_cohort_from_codes
from transformers import AutoModelForCausalLM

from benchmark.data.sequence import build_sequence
from benchmark.models.tokenizer import InvalidCodeError
from benchmark.models.training import TRAINING_RECORD, TrainingSetupError, train_reference_gpt

TINY = dict(n_layer=1, n_head=2, n_embd=32, batch_size=8, max_sequence_length=16, progress=False)


def _weights_digest(folder) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def _tuning_loss(folder, cohort) -> float:
    """Mean per-token cross-entropy of the saved model on the tuning split, one by one."""
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    vocabulary = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    total, tokens = 0.0, 0
    for patient in cohort.in_split("tuning"):
        codes = build_sequence(patient, TINY["max_sequence_length"]).tokens
        ids = torch.tensor(
            [[vocabulary["[BOS]"]] + [vocabulary[c] for c in codes] + [vocabulary["[EOS]"]]]
        )
        with torch.no_grad():
            loss = model(ids, labels=ids).loss.item()
        total += loss * (ids.shape[1] - 1)
        tokens += ids.shape[1] - 1
    return total / tokens


def test_same_seed_same_weights(tmp_path):
    cohort = make_cohort(30)

    first = train_reference_gpt(cohort, tmp_path / "a", epochs=2, seed=3, **TINY)
    second = train_reference_gpt(cohort, tmp_path / "b", epochs=2, seed=3, **TINY)
    train_reference_gpt(cohort, tmp_path / "c", epochs=2, seed=4, **TINY)

    assert _weights_digest(tmp_path / "a") == _weights_digest(tmp_path / "b")
    assert _weights_digest(tmp_path / "a") != _weights_digest(tmp_path / "c")
    assert first.train_loss == second.train_loss


def test_early_stopping_keeps_best_epoch(tmp_path):
    # Random walks over 40 codes leave little to generalize, so a high learning rate
    # overfits the members within a few epochs and the tuning loss turns up.
    cohort = make_cohort(60, vocabulary_size=40)

    report = train_reference_gpt(cohort, tmp_path / "model", epochs=40, lr=3e-2, patience=2, **TINY)

    assert report.epochs_run < 40
    assert report.epochs_run == report.best_epoch + 2
    assert report.tuning_loss[report.best_epoch - 1] == min(report.tuning_loss)
    assert _tuning_loss(tmp_path / "model", cohort) == pytest.approx(
        report.tuning_loss[report.best_epoch - 1], abs=1e-4
    )


def test_members_memorized(tmp_path):
    cohort = make_cohort(60, vocabulary_size=40)

    report = train_reference_gpt(
        cohort, tmp_path / "model", epochs=12, lr=1e-2, early_stopping=False, **TINY
    )

    assert report.best_epoch == 12
    assert report.member_loss < report.non_member_loss - 0.2


def test_training_record_written(tmp_path):
    cohort = make_cohort(30)

    report = train_reference_gpt(cohort, tmp_path / "model", epochs=2, seed=9, **TINY)
    record = json.loads((tmp_path / "model" / TRAINING_RECORD).read_text())

    assert record["epochs_run"] == 2 == report.epochs_run
    assert record["seed"] == 9
    assert record["cohort_fingerprint"] == cohort.fingerprint
    assert record["members"] == len(cohort.members)
    assert record["tuning_patients"] == len(cohort.in_split("tuning"))
    assert len(record["train_loss"]) == len(record["tuning_loss"]) == 2
    assert record["config"]["max_sequence_length"] == 16
    assert record["config"]["early_stopping"] is True
    assert record["wall_time_s"] > 0
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["n_positions"] == 18


def test_vocabulary_covers_non_member_codes(tmp_path):
    cohort = make_cohort_from_codes(
        [
            ("train", "F", ["SNOMED//1"]),
            ("tuning", "F", ["SNOMED//2"]),
            ("held_out", "M", ["SNOMED//3"]),
        ]
    )

    train_reference_gpt(cohort, tmp_path / "model", epochs=1, **TINY)
    vocabulary = json.loads((tmp_path / "model" / "tokenizer.json").read_text())["model"]["vocab"]

    assert {"SNOMED//1", "SNOMED//2", "SNOMED//3", "GENDER//M", "AGE//90+"} <= set(vocabulary)


def test_non_empty_out_dir_rejected(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")

    with pytest.raises(TrainingSetupError, match="is not empty"):
        train_reference_gpt(make_cohort(20), out, epochs=1, **TINY)
    assert (out / "notes.txt").read_text() == "keep me"


def test_overwrite_replaces_folder(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "notes.txt").write_text("old")

    train_reference_gpt(make_cohort(20), out, epochs=1, overwrite=True, **TINY)

    assert not (out / "notes.txt").exists()
    assert (out / "model.safetensors").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]


def test_out_dir_file_rejected(tmp_path):
    out = tmp_path / "model"
    out.write_text("a file")

    with pytest.raises(TrainingSetupError, match="is not a folder"):
        train_reference_gpt(make_cohort(20), out, epochs=1, overwrite=True, **TINY)


def test_cohort_without_members_rejected(tmp_path):
    cohort = make_cohort_from_codes([("held_out", "F", ["SNOMED//1"])])

    with pytest.raises(TrainingSetupError, match="no patient in the 'train' split"):
        train_reference_gpt(cohort, tmp_path / "model", **TINY)


def test_early_stopping_needs_tuning_split(tmp_path):
    cohort = make_cohort_from_codes([("train", "F", ["SNOMED//1"]), ("held_out", "F", ["A//1"])])

    with pytest.raises(TrainingSetupError, match="needs patients in the 'tuning' split"):
        train_reference_gpt(cohort, tmp_path / "model", **TINY)

    report = train_reference_gpt(cohort, tmp_path / "model", epochs=1, early_stopping=False, **TINY)
    assert report.tuning_loss == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(epochs=0), "epochs must be at least 1, got 0"),
        (dict(n_embd=30, n_head=4), r"n_embd \(30\) must be a multiple of n_head \(4\)"),
        (dict(lr=0.0), "learning rate must be positive"),
        (dict(max_sequence_length=0), "max_sequence_length must be at least 1"),
    ],
)
def test_invalid_settings_rejected(tmp_path, settings, message):
    arguments = {**TINY, **settings}

    with pytest.raises(TrainingSetupError, match=message):
        train_reference_gpt(make_cohort(20), tmp_path / "model", **arguments)


def test_code_with_whitespace_rejected(tmp_path):
    cohort = make_cohort_from_codes([("train", "F", ["SNOMED//1 2"]), ("tuning", "F", [])])

    with pytest.raises(InvalidCodeError, match="'SNOMED//1 2' contains whitespace"):
        train_reference_gpt(cohort, tmp_path / "model", **TINY)
    assert not (tmp_path / "model").exists()


def test_quiet_training_draws_no_bars(tmp_path, capfd):
    train_reference_gpt(make_cohort(20), tmp_path / "model", epochs=1, **TINY)

    errors = capfd.readouterr().err
    assert "Writing model shards" not in errors
    assert "%|" not in errors
