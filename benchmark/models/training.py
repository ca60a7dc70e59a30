"""Train clinmem's reference GPT: a small GPT-2 on the members of a cohort.

The model learns next-code prediction on ``[BOS] + tokens + [EOS]`` for every
member (split ``train``), where ``tokens`` is ``build_sequence``'s view of the
patient. Its vocabulary covers the codes of the whole cohort and every age band
token, so non-members' codes are known to it too and differ only in never
having been trained on. Early stopping watches the loss on the ``tuning``
split and keeps the best weights; non-members are never used for training or
model selection.

Two variants build the known-answer ladder (``benchmark.runner.ladder``):
``duplicate_fraction`` / ``duplicate_times`` show a seeded share of the members
several times per epoch, and ``dp_epsilon`` trains with DP-SGD (opacus'
``PrivacyEngine``), which bounds what any one training sequence can change.

The output folder loads as ``hf:<folder>``: weights as safetensors, the code
tokenizer, and ``clinmem_training.json`` with the losses, seed, cohort
fingerprint, configuration and wall time.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmark.data.cohort import TUNING_SPLIT, Cohort, Patient, code_vocabulary
from benchmark.data.sequence import AGE_BAND_YEARS, AGE_TOP_CODED, age_band_token, build_sequence
from benchmark.models.hf import available_cores, transformers_progress
from benchmark.models.tokenizer import build_code_tokenizer

logger = logging.getLogger(__name__)

TRAINING_RECORD = "clinmem_training.json"

DEFAULT_EPOCHS = 12
DEFAULT_LEARNING_RATE = 3e-3
#: GPT-2's own dropout probability. The validity ladder's overtrained GPT trains without.
DEFAULT_DROPOUT = 0.1
# Opacus' hooks mode computes per-sample gradients with its own grad samplers and
# falls back to torch.func for layers it has none for, such as GPT-2's Conv1D.
DP_GRAD_SAMPLE_MODE = "hooks"
# Batches sorted by length together, per shuffled window.
_BUCKET_WINDOW_BATCHES = 8


class TrainingSetupError(ValueError):
    """Raised when a cohort, setting or output folder cannot be used for training."""


@dataclass(frozen=True)
class TrainingReport:
    """The outcome of a training run, also written to ``clinmem_training.json``.

    Losses are mean cross-entropy per predicted token, in nats. ``train_loss``
    is measured during each epoch, with dropout on; the other losses are
    measured with the model in evaluation mode. ``member_loss`` and
    ``non_member_loss`` are those of the kept weights, and a member loss well
    below the non-member loss shows that the model memorized its members.
    """

    out_dir: str
    epochs_run: int
    best_epoch: int
    train_loss: list[float]
    tuning_loss: list[float]
    member_loss: float
    non_member_loss: float | None
    seed: int
    cohort_name: str
    cohort_fingerprint: str
    members: int
    tuning_patients: int
    non_members: int
    config: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0
    #: Members shown ``duplicate_times`` times per epoch instead of once.
    duplicated_members: int = 0
    #: The (epsilon, delta) that DP-SGD achieved, per opacus' RDP accountant; None without DP.
    dp_epsilon: float | None = None
    dp_delta: float | None = None
    #: Noise standard deviation relative to ``max_grad_norm``, chosen for the target epsilon.
    dp_noise_multiplier: float | None = None


def train_reference_gpt(
    cohort: Cohort,
    out_dir: str | os.PathLike[str],
    *,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    max_sequence_length: int = 256,
    early_stopping: bool = True,
    patience: int = 2,
    n_layer: int = 2,
    n_head: int = 4,
    n_embd: int = 128,
    batch_size: int = 32,
    lr: float = DEFAULT_LEARNING_RATE,
    dropout: float = DEFAULT_DROPOUT,
    duplicate_fraction: float = 0.0,
    duplicate_times: int = 1,
    dp_epsilon: float | None = None,
    dp_delta: float | None = None,
    max_grad_norm: float = 1.0,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainingReport:
    """Train a GPT-2 on the cohort's members and save it to ``out_dir``.

    ``epochs`` is the maximum number of passes over the members. With
    ``early_stopping``, the run stops once the tuning loss has not improved for
    ``patience`` epochs, and it keeps the weights of the best epoch. The run is
    deterministic for a ``seed`` on the same hardware and library versions.

    ``duplicate_fraction`` of the real members (canaries, which have negative
    ``subject_id`` values, excluded), drawn with the seed, appear
    ``duplicate_times`` times in every epoch. With ``dp_epsilon``, training
    runs DP-SGD with Poisson sampling: per-sample gradients clipped to
    ``max_grad_norm`` and Gaussian noise scaled so that all ``epochs`` together
    spend ``dp_epsilon`` at ``dp_delta`` (default 1 / training sequences).
    Early stopping still picks the best epoch, so a DP run can stop sooner and
    spend less; the record holds the epsilon spent by every epoch run.

    Raises ``TrainingSetupError`` for a cohort without members, early stopping
    without tuning patients, invalid settings, or a non-empty ``out_dir``
    without ``overwrite``.
    """
    started = time.perf_counter()
    out_path = Path(out_dir)
    settings = dict(
        epochs=epochs,
        max_sequence_length=max_sequence_length,
        patience=patience,
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        batch_size=batch_size,
    )
    _check_settings(settings, lr)
    if not 0 <= dropout < 1:
        raise TrainingSetupError(f"dropout must lie in [0, 1), got {dropout}")
    _check_variant_settings(
        duplicate_fraction, duplicate_times, dp_epsilon, dp_delta, max_grad_norm
    )
    _check_out_dir(out_path, overwrite)

    members = cohort.members
    tuning = cohort.in_split(TUNING_SPLIT)
    non_members = cohort.non_members
    if not members:
        raise TrainingSetupError(
            f"cohort {cohort.name!r} has no patient in the 'train' split, so there is "
            "nothing to train on"
        )
    if early_stopping and not tuning:
        raise TrainingSetupError(
            f"early stopping needs patients in the 'tuning' split, and cohort {cohort.name!r} "
            "has none; turn early stopping off or give the cohort a tuning split"
        )

    tokenizer = build_code_tokenizer(_cohort_tokens(cohort))
    member_ids = _encode(members, tokenizer, max_sequence_length)
    tuning_ids = _encode(tuning, tokenizer, max_sequence_length)
    non_member_ids = _encode(non_members, tokenizer, max_sequence_length)
    duplicated = _duplicated_members(members, duplicate_fraction, seed)
    training_ids = member_ids + [
        member_ids[index] for index in duplicated for _ in range(duplicate_times - 1)
    ]
    if duplicated:
        logger.info(
            "showing %d of %d members %d times per epoch",
            len(duplicated),
            len(members),
            duplicate_times,
        )

    model = _new_model(tokenizer, settings, seed, dropout)
    logger.info(
        "training a GPT-2 (%d layers, %d heads, %d dimensions, %d tokens) on %d members of %s "
        "(%d of them canary patients)",
        n_layer,
        n_head,
        n_embd,
        len(tokenizer),
        len(members),
        cohort.name,
        sum(patient.subject_id < 0 for patient in members),
    )
    privacy = None
    if dp_epsilon is None:
        train_losses, tuning_losses, best_epoch = _fit(
            model,
            training_ids,
            tuning_ids,
            settings,
            lr=lr,
            seed=seed,
            early_stopping=early_stopping,
            progress=progress,
        )
    else:
        budget = PrivacyBudget(
            epsilon=dp_epsilon,
            delta=dp_delta if dp_delta is not None else 1 / len(training_ids),
            max_grad_norm=max_grad_norm,
        )
        train_losses, tuning_losses, best_epoch, privacy = _fit_private(
            model,
            training_ids,
            tuning_ids,
            settings,
            budget,
            lr=lr,
            seed=seed,
            early_stopping=early_stopping,
            progress=progress,
        )

    report = TrainingReport(
        out_dir=str(out_path),
        epochs_run=len(train_losses),
        best_epoch=best_epoch,
        train_loss=train_losses,
        tuning_loss=tuning_losses,
        member_loss=_mean_loss(model, member_ids, batch_size),
        non_member_loss=_mean_loss(model, non_member_ids, batch_size) if non_member_ids else None,
        seed=seed,
        cohort_name=cohort.name,
        cohort_fingerprint=cohort.fingerprint,
        members=len(members),
        tuning_patients=len(tuning),
        non_members=len(non_members),
        config={
            **settings,
            "early_stopping": early_stopping,
            "lr": lr,
            "dropout": dropout,
            "duplicate_fraction": duplicate_fraction,
            "duplicate_times": duplicate_times,
            "dp_target_epsilon": dp_epsilon,
            "max_grad_norm": max_grad_norm if dp_epsilon is not None else None,
        },
        wall_time_s=round(time.perf_counter() - started, 3),
        duplicated_members=len(duplicated),
        dp_epsilon=None if privacy is None else privacy.epsilon,
        dp_delta=None if privacy is None else privacy.delta,
        dp_noise_multiplier=None if privacy is None else privacy.noise_multiplier,
    )
    with transformers_progress(progress):
        _save(model, tokenizer, report, out_path)
    logger.info(
        "saved %s: member loss %.4f, non-member loss %s",
        out_path,
        report.member_loss,
        "n/a" if report.non_member_loss is None else f"{report.non_member_loss:.4f}",
    )
    return report


def _encode(
    patients: Sequence[Patient], tokenizer: Any, max_sequence_length: int
) -> list[list[int]]:
    """Return ``[BOS] + tokens + [EOS]`` as token ids for each patient."""
    vocabulary = tokenizer.get_vocab()
    return [
        [tokenizer.bos_token_id]
        + [vocabulary[token] for token in build_sequence(patient, max_sequence_length).tokens]
        + [tokenizer.eos_token_id]
        for patient in patients
    ]


def _duplicated_members(members: Sequence[Patient], fraction: float, seed: int) -> list[int]:
    """Return the sorted indices of ``round(fraction * real members)`` members, drawn with the seed.

    Canary copies (negative ``subject_id``, see ``benchmark.data.canaries``) are
    never drawn: their repetition counts are what the canary probe measures.
    """
    import numpy as np

    real = [index for index, patient in enumerate(members) if patient.subject_id >= 0]
    count = round(fraction * len(real))
    if count == 0:
        return []
    rng = np.random.default_rng([seed, 8128])
    return sorted(real[i] for i in rng.choice(len(real), size=count, replace=False))


def _new_model(tokenizer: Any, settings: dict[str, int], seed: int, dropout: float) -> Any:
    """Build a freshly initialized GPT-2 whose context fits BOS, the sequence and EOS.

    ``dropout`` applies to the embeddings, the attention weights and the
    residual branches alike.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.set_num_threads(available_cores())
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=settings["max_sequence_length"] + 2,
        n_embd=settings["n_embd"],
        n_layer=settings["n_layer"],
        n_head=settings["n_head"],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        resid_pdrop=dropout,
    )
    return GPT2LMHeadModel(config)


def _fit(
    model: Any,
    member_ids: list[list[int]],
    tuning_ids: list[list[int]],
    settings: dict[str, int],
    *,
    lr: float,
    seed: int,
    early_stopping: bool,
    progress: bool,
) -> tuple[list[float], list[float], int]:
    """Train for up to ``epochs`` epochs; return the train and tuning losses and the kept epoch.

    With early stopping the model ends with the weights of the epoch of lowest
    tuning loss, otherwise with those of the last epoch.
    """
    import torch

    epochs, batch_size = settings["epochs"], settings["batch_size"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    shuffler = torch.Generator().manual_seed(seed)

    train_losses: list[float] = []
    tuning_losses: list[float] = []
    best_epoch, best_state = 0, None
    for epoch in range(1, epochs + 1):
        train_losses.append(
            _train_epoch(
                model, optimizer, member_ids, batch_size, shuffler, epoch, epochs, progress
            )
        )
        if tuning_ids:
            tuning_losses.append(_mean_loss(model, tuning_ids, batch_size))
        logger.info(
            "epoch %d: train loss %.4f, tuning loss %s",
            epoch,
            train_losses[-1],
            f"{tuning_losses[-1]:.4f}" if tuning_losses else "n/a",
        )

        if not early_stopping:
            best_epoch = epoch
            continue
        if best_state is None or tuning_losses[-1] < tuning_losses[best_epoch - 1]:
            best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= settings["patience"]:
            logger.info("stopping early: tuning loss last improved at epoch %d", best_epoch)
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    return train_losses, tuning_losses, best_epoch


@dataclass(frozen=True)
class PrivacyBudget:
    """The (epsilon, delta) target of DP-SGD and the per-sample gradient norm bound."""

    epsilon: float
    delta: float
    max_grad_norm: float


@dataclass(frozen=True)
class PrivacySpent:
    """The privacy budget DP-SGD spent on the kept weights, per opacus' RDP accountant."""

    epsilon: float
    delta: float
    noise_multiplier: float


def _fit_private(
    model: Any,
    training_ids: list[list[int]],
    tuning_ids: list[list[int]],
    settings: dict[str, int],
    budget: PrivacyBudget,
    *,
    lr: float,
    seed: int,
    early_stopping: bool,
    progress: bool,
) -> tuple[list[float], list[float], int, PrivacySpent]:
    """Train with DP-SGD; return the losses, the kept epoch and the privacy it spent.

    Batches are Poisson samples with expected size ``batch_size``, as the RDP
    accountant assumes. Each sequence's loss is its own mean over tokens, so
    clipping bounds every sequence's gradient alike, whatever its length.
    """
    import warnings

    import torch
    from opacus import PrivacyEngine

    epochs, batch_size = settings["epochs"], settings["batch_size"]
    indices = torch.arange(len(training_ids))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(indices),
        batch_size=batch_size,
        generator=torch.Generator().manual_seed(seed),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    with warnings.catch_warnings():
        # Opacus warns that its secure RNG is off; a seeded generator is what makes
        # the run reproducible, and reproducibility is what the benchmark needs.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant="rdp")
        private_model, private_optimizer, private_loader = engine.make_private_with_epsilon(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            target_epsilon=budget.epsilon,
            target_delta=budget.delta,
            epochs=epochs,
            max_grad_norm=budget.max_grad_norm,
            noise_generator=torch.Generator().manual_seed(seed + 1),
            grad_sample_mode=DP_GRAD_SAMPLE_MODE,
        )
    noise_multiplier = float(private_optimizer.noise_multiplier)
    logger.info(
        "DP-SGD: noise multiplier %.3f for epsilon %.2f at delta %.2e over %d epochs",
        noise_multiplier,
        budget.epsilon,
        budget.delta,
        epochs,
    )

    train_losses: list[float] = []
    tuning_losses: list[float] = []
    spent: list[float] = []
    best_epoch, best_state = 0, None
    for epoch in range(1, epochs + 1):
        train_losses.append(
            _train_private_epoch(
                private_model, private_optimizer, private_loader, training_ids, epoch, epochs,
                progress,
            )
        )  # fmt: skip
        spent.append(float(engine.get_epsilon(budget.delta)))
        tuning_losses.append(_mean_loss(model, tuning_ids, batch_size) if tuning_ids else math.nan)
        logger.info(
            "epoch %d: train loss %.4f, tuning loss %.4f, epsilon spent %.3f",
            epoch,
            train_losses[-1],
            tuning_losses[-1],
            spent[-1],
        )

        if not early_stopping:
            best_epoch = epoch
            continue
        if best_state is None or tuning_losses[-1] < tuning_losses[best_epoch - 1]:
            best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= settings["patience"]:
            logger.info("stopping early: tuning loss last improved at epoch %d", best_epoch)
            break

    # The per-sample gradient hooks must go before the model is saved or reused.
    private_model.cleanup()
    if best_state is not None:
        model.load_state_dict(best_state)
    if not tuning_ids:
        tuning_losses = []
    # Choosing the best epoch looked at every epoch's weights, so the whole run's spend counts.
    privacy = PrivacySpent(spent[-1], budget.delta, noise_multiplier)
    return train_losses, tuning_losses, best_epoch, privacy


def _train_private_epoch(
    model: Any,
    optimizer: Any,
    loader: Any,
    sequences: list[list[int]],
    epoch: int,
    epochs: int,
    progress: bool,
) -> float:
    """Run one DP-SGD epoch and return the mean per-token training loss (nats)."""
    import warnings

    import torch
    from tqdm import tqdm

    model.train()
    total_loss, total_tokens = 0.0, 0
    bar = tqdm(
        loader, desc=f"epoch {epoch}/{epochs} (DP-SGD)", unit="batch", file=sys.stderr,
        disable=not progress,
    )  # fmt: skip
    for (batch,) in bar:
        optimizer.zero_grad()
        if len(batch) == 0:
            # NOTE: an empty Poisson sample (probability about exp(-batch_size)) skips its
            # noise step, so that step adds no noise although the accountant counts it.
            continue
        input_ids, labels = _padded([sequences[i] for i in batch.tolist()])
        attention_mask = (labels != -100).long()
        # Explicit per-row positions: opacus reads the batch size of every layer's input,
        # and GPT-2's default position ids have a batch dimension of 1.
        position_ids = torch.arange(input_ids.shape[1]).expand(input_ids.shape[0], -1)
        logits = model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
        ).logits
        targets = labels[:, 1:]
        token_losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), targets, ignore_index=-100, reduction="none"
        )
        token_counts = (targets != -100).sum(dim=1)
        loss = (token_losses.sum(dim=1) / token_counts.clamp(min=1)).mean()
        with warnings.catch_warnings():
            # Opacus' backward hook on the token embedding fires although its input, the
            # token ids, needs no gradient; the embedding's per-sample gradient is still right.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            loss.backward()
        optimizer.step()

        total_loss += token_losses.detach().sum().item()
        total_tokens += int(token_counts.sum())
        if total_tokens:
            bar.set_postfix(loss=f"{total_loss / total_tokens:.4f}")
    return total_loss / total_tokens if total_tokens else math.nan


def _cohort_tokens(cohort: Cohort) -> set[str]:
    """Return the cohort's codes plus every age band token ``build_sequence`` can emit."""
    tokens = code_vocabulary(cohort.patients)
    tokens.update(age_band_token(age) for age in range(0, AGE_TOP_CODED + 1, AGE_BAND_YEARS))
    return tokens


def _train_epoch(
    model: Any,
    optimizer: Any,
    sequences: list[list[int]],
    batch_size: int,
    shuffler: Any,
    epoch: int,
    epochs: int,
    progress: bool,
) -> float:
    from tqdm import tqdm

    model.train()
    batches = _length_bucketed_batches(sequences, batch_size, shuffler)

    total_loss, total_tokens = 0.0, 0
    bar = tqdm(
        batches, desc=f"epoch {epoch}/{epochs}", unit="batch", file=sys.stderr, disable=not progress
    )
    for batch in bar:
        input_ids, labels = _padded([sequences[i] for i in batch])
        loss, tokens = _batch_loss(model, input_ids, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        total_loss += loss.item() * tokens
        total_tokens += tokens
        bar.set_postfix(loss=f"{total_loss / total_tokens:.4f}")
    return total_loss / total_tokens


def _length_bucketed_batches(
    sequences: list[list[int]], batch_size: int, shuffler: Any
) -> list[list[int]]:
    """Shuffle, group similar lengths into batches within windows, and shuffle the batches.

    Sorting by length inside windows of a few batches cuts padding while the
    batches still differ from epoch to epoch.
    """
    import torch

    order = torch.randperm(len(sequences), generator=shuffler).tolist()
    window = batch_size * _BUCKET_WINDOW_BATCHES
    batches = []
    for start in range(0, len(order), window):
        bucket = sorted(order[start : start + window], key=lambda index: len(sequences[index]))
        batches.extend(bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size))
    permutation = torch.randperm(len(batches), generator=shuffler).tolist()
    return [batches[i] for i in permutation]


def _mean_loss(model: Any, sequences: list[list[int]], batch_size: int) -> float:
    """Mean next-token cross-entropy (nats) over all sequences, in evaluation mode."""
    import torch

    model.eval()
    order = sorted(range(len(sequences)), key=lambda index: len(sequences[index]))
    total_loss, total_tokens = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = [sequences[i] for i in order[start : start + batch_size]]
            loss, tokens = _batch_loss(model, *_padded(batch))
            total_loss += loss.item() * tokens
            total_tokens += tokens
    return total_loss / total_tokens if total_tokens else math.nan


def _batch_loss(model: Any, input_ids: Any, labels: Any) -> tuple[Any, int]:
    """Return the mean loss over the batch's predicted tokens and their number."""
    import torch

    attention_mask = (labels != -100).long()
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    targets = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100
    )
    return loss, int((targets != -100).sum())


def _padded(sequences: list[list[int]]) -> tuple[Any, Any]:
    """Right-pad with id 0 ([PAD]). Labels are -100 at padding, so the loss skips it."""
    import torch

    width = max(len(ids) for ids in sequences)
    input_ids = torch.zeros((len(sequences), width), dtype=torch.long)
    labels = torch.full((len(sequences), width), -100, dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(ids)] = torch.tensor(ids)
    return input_ids, labels


def _check_settings(settings: dict[str, int], lr: float) -> None:
    for name, value in settings.items():
        if value < 1:
            raise TrainingSetupError(f"{name} must be at least 1, got {value}")
    if settings["n_embd"] % settings["n_head"]:
        raise TrainingSetupError(
            f"n_embd ({settings['n_embd']}) must be a multiple of n_head ({settings['n_head']})"
        )
    if not lr > 0:
        raise TrainingSetupError(f"the learning rate must be positive, got {lr}")


def _check_variant_settings(
    duplicate_fraction: float,
    duplicate_times: int,
    dp_epsilon: float | None,
    dp_delta: float | None,
    max_grad_norm: float,
) -> None:
    if not 0 <= duplicate_fraction <= 1:
        raise TrainingSetupError(f"duplicate_fraction must lie in [0, 1], got {duplicate_fraction}")
    if duplicate_times < 1:
        raise TrainingSetupError(f"duplicate_times must be at least 1, got {duplicate_times}")
    if dp_epsilon is not None and not dp_epsilon > 0:
        raise TrainingSetupError(f"dp_epsilon must be positive, got {dp_epsilon}")
    if dp_delta is not None and not 0 < dp_delta < 1:
        raise TrainingSetupError(f"dp_delta must lie in (0, 1), got {dp_delta}")
    if not max_grad_norm > 0:
        raise TrainingSetupError(f"max_grad_norm must be positive, got {max_grad_norm}")


def _check_out_dir(out_path: Path, overwrite: bool) -> None:
    if out_path.exists() and not out_path.is_dir():
        raise TrainingSetupError(f"{out_path} exists and is not a folder; choose another --out")
    if out_path.is_dir() and any(out_path.iterdir()) and not overwrite:
        raise TrainingSetupError(
            f"{out_path} is not empty; choose another folder or pass overwrite=True "
            "(--overwrite) to replace it"
        )


def _save(model: Any, tokenizer: Any, report: TrainingReport, out_path: Path) -> None:
    """Write everything to a temporary sibling folder, then move it into place."""
    import inspect

    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(f".{out_path.name}.partial-{os.getpid()}")
    if partial.exists():
        shutil.rmtree(partial)
    try:
        # transformers 4.x needs safe_serialization=True for safetensors; 5.x always writes them.
        if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
            model.save_pretrained(partial, safe_serialization=True)
        else:
            model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        record = json.dumps(asdict(report), indent=2) + "\n"
        (partial / TRAINING_RECORD).write_text(record, encoding="utf-8")

        if out_path.exists():
            replaced = out_path.with_name(f".{out_path.name}.replaced-{os.getpid()}")
            out_path.rename(replaced)
            partial.rename(out_path)
            shutil.rmtree(replaced)
        else:
            partial.rename(out_path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
