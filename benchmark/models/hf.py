"""The ``hf:<path>`` adapter: a Hugging Face causal LM whose tokens are the codes.

The folder is one written by ``save_pretrained``: ``config.json``, weights as
safetensors, and a tokenizer whose vocabulary contains the code strings as
whole tokens (``benchmark.models.tokenizer`` builds such a tokenizer). Pickle
weights (``pytorch_model.bin``) are rejected because unpickling can run code.
Only local folders are read; nothing is downloaded.

Codes map to token ids through the tokenizer's vocabulary, not through its
text splitting. A code the vocabulary lacks maps to the unknown token when the
tokenizer has one, and ``unknown_code_counts`` counts every such occurrence.
Without an unknown token the code is left out of the model input, still
counted, and its log-probability is NaN.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.models.base import (
    EMBED,
    GENERATE,
    SCORE,
    SCORE_CODE_SETS,
    SCORE_DETAILS,
    CodeSetRequest,
    GenerationRequest,
    ModelAdapter,
    TokenScores,
    code_set_columns,
)
from benchmark.models.registry import HF_PREFIX, ModelContext, ModelLoadError
from benchmark.models.sampling import SamplingRow, row_seed, sample_rows

logger = logging.getLogger(__name__)

PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
)


#: Generation batches hold this many times the scoring batch size in sampled rows.
GENERATION_ROWS_PER_SCORED_SEQUENCE = 8


class ContextLengthError(ValueError):
    """Raised when a sequence or a generation does not fit the model's context window."""


@contextmanager
def transformers_progress(enabled: bool) -> Iterator[None]:
    """Turn the progress bars that transformers draws itself (loading and saving
    weights) on or off inside the block, and restore its setting afterwards."""
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    if not enabled:
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()


def load_hf_model(model_id: str, context: ModelContext) -> HuggingFaceModel:
    """Load ``hf:<path>`` from a local folder, after checking its files."""
    folder = _check_model_folder(model_id)
    if context.trust_remote_code:
        logger.warning(
            "trust_remote_code is on: loading %s runs Python code from that folder", folder
        )

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(available_cores())
    try:
        with transformers_progress(context.progress):
            model = AutoModelForCausalLM.from_pretrained(
                folder,
                use_safetensors=True,
                trust_remote_code=context.trust_remote_code,
                local_files_only=True,
            )
    # from_pretrained raises many types (OSError, ValueError, RuntimeError, tokenizers'
    # own Exception); each becomes one error that names the folder.
    except Exception as error:
        raise ModelLoadError(f"failed to load the causal LM in {folder}: {error}") from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            folder, trust_remote_code=context.trust_remote_code, local_files_only=True
        )
    except Exception as error:
        raise ModelLoadError(f"failed to load the tokenizer in {folder}: {error}") from error

    model.to(context.device)
    model.eval()
    return HuggingFaceModel(model_id, folder, model, tokenizer, context)


class HuggingFaceModel(ModelAdapter):
    """A causal LM and its code tokenizer, scored and sampled in batches."""

    def __init__(
        self, model_id: str, folder: Path, model: Any, tokenizer: Any, context: ModelContext
    ) -> None:
        import torch

        self.model_id = model_id
        self._folder = folder
        self._model = model
        self._batch_size = context.batch_size
        self._prompts_cut = 0
        #: Whether a warning about cut prompts was logged; later cuts go to the debug log.
        self._cut_warning_logged = False
        self._device = torch.device(context.device)
        self._digest: str | None = None
        self._unknown_code_counts: Counter[str] = Counter()

        output_embeddings = model.get_output_embeddings()
        logit_count = (
            output_embeddings.weight.shape[0]
            if output_embeddings is not None
            else model.config.vocab_size
        )
        special_ids = set(tokenizer.all_special_ids)
        self._code_ids = {
            token: index
            for token, index in tokenizer.get_vocab().items()
            if index not in special_ids and index < logit_count
        }
        if not self._code_ids:
            raise ModelLoadError(f"the tokenizer in {folder} has no tokens besides special tokens")

        self._unk_id = tokenizer.unk_token_id
        self._eos_id = tokenizer.eos_token_id
        # GPT-2 style tokenizers use one token for both BOS and EOS.
        self._bos_id = tokenizer.bos_token_id
        if self._bos_id is None:
            self._bos_id = self._eos_id
        if self._bos_id is None:
            raise ModelLoadError(
                f"the tokenizer in {folder} defines neither a BOS nor an EOS token, so "
                "sequences have no start token to be scored after"
            )
        self._pad_id = next((i for i in (tokenizer.pad_token_id, self._eos_id) if i is not None), 0)

        allowed = torch.zeros(logit_count, dtype=torch.bool)
        allowed[list(self._code_ids.values())] = True
        if self._eos_id is not None:
            allowed[self._eos_id] = True
        self._allowed_ids = allowed.to(self._device)
        self._id_codes = {index: token for token, index in self._code_ids.items()}
        self._context_length = _context_length(model.config)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({SCORE, SCORE_DETAILS, GENERATE, EMBED, SCORE_CODE_SETS})

    @property
    def unknown_code_counts(self) -> Counter[str]:
        """Occurrences of each code not in the vocabulary, over all calls so far."""
        return Counter(self._unknown_code_counts)

    def digest(self) -> str:
        if self._digest is None:
            self._digest = _folder_digest(self._folder)
        return self._digest

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self._code_ids)

    def score(self, sequences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return [values[0] for values in self._score(sequences, with_details=False)]

    def score_details(self, sequences: Sequence[Sequence[str]]) -> list[TokenScores]:
        """Score like ``score``, with statistics of the full softmax at each position.

        The distribution is the softmax over every logit of the model, special
        tokens included. The statistics come from the same forward pass as the
        scores, and a code left out of the input gets NaN in every array.
        """
        return [TokenScores(*values) for values in self._score(sequences, with_details=True)]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[tuple[str, ...]]]:
        """Sample each request's continuations, all samples of a request in one batch."""
        self._prompts_cut = 0
        prompts = [self._prompt_ids(request) for request in requests]
        if self._prompts_cut:
            # The executor calls generate once per batch, so one warning per model is enough.
            log = logger.debug if self._cut_warning_logged else logger.warning
            log(
                "%d of %d prompts were cut to their last codes so that the new codes fit the "
                "context of %s (%d positions)%s",
                self._prompts_cut,
                len(requests),
                self.model_id,
                self._context_length,
                "" if self._cut_warning_logged else "; later cuts are logged at debug level",
            )
            self._cut_warning_logged = True
        order = sorted(range(len(requests)), key=lambda index: len(prompts[index]))
        results: list[list[tuple[str, ...]]] = [[] for _ in requests]

        # One sampled row costs one position per step, far less than a scored
        # sequence, so generation batches hold more rows than scoring batches.
        rows_per_batch = self._batch_size * GENERATION_ROWS_PER_SCORED_SEQUENCE
        batch: list[int] = []
        batch_rows = 0
        for index in order:
            if batch and batch_rows + requests[index].samples > rows_per_batch:
                self._generate_batch(batch, requests, prompts, results)
                batch, batch_rows = [], 0
            batch.append(index)
            batch_rows += requests[index].samples
        if batch:
            self._generate_batch(batch, requests, prompts, results)
        return results

    def score_code_sets(self, requests: Sequence[CodeSetRequest]) -> list[np.ndarray]:
        """Sum the softmax over each set's codes after every prefix, one forward pass per prompt,
        and keep each set's highest value."""
        import torch

        encoded = [self._input_ids(request.prompt)[0] for request in requests]
        for ids in encoded:
            self._check_fits(len(ids), "scoring code sets")

        # The requests of one probe share their code sets, so each tuple is mapped once.
        columns_of: dict[tuple, list[list[int]]] = {}
        for request in requests:
            if request.code_sets not in columns_of:
                columns_of[request.code_sets] = code_set_columns(request.code_sets, self._code_ids)

        results: list[np.ndarray] = [np.empty(0)] * len(requests)
        with torch.inference_mode():
            for batch in self._length_sorted_batches(encoded):
                input_ids, attention_mask = self._right_padded([encoded[i] for i in batch])
                positions = torch.arange(input_ids.shape[1], device=self._device)
                output = self._model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    position_ids=positions.expand_as(input_ids),
                )
                log_probabilities = torch.log_softmax(output.logits.float(), dim=-1)
                for row, index in enumerate(batch):
                    # Padding positions follow no prefix of the prompt.
                    prefixes = log_probabilities[row, : len(encoded[index])]
                    values = []
                    for columns in columns_of[requests[index].code_sets]:
                        if not columns:
                            values.append(-np.inf)
                            continue
                        values.append(float(torch.logsumexp(prefixes[:, columns], dim=-1).max()))
                    results[index] = np.array(values)
        return results

    def embed(self, sequences: Sequence[Sequence[str]]) -> np.ndarray:
        """Mean-pool the last hidden state over each sequence's codes (BOS when it has none)."""
        import torch

        vectors: list[np.ndarray] = [np.empty(0)] * len(sequences)
        encoded = [self._input_ids(sequence)[0] for sequence in sequences]
        for ids in encoded:
            self._check_fits(len(ids), "embedding a sequence")
        with torch.inference_mode():
            for batch in self._length_sorted_batches(encoded):
                input_ids, attention_mask = self._right_padded([encoded[i] for i in batch])
                output = self._model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    output_hidden_states=True,
                )
                hidden = output.hidden_states[-1].float()

                pool = attention_mask.clone()
                has_codes = attention_mask.sum(dim=-1) > 1
                pool[has_codes, 0] = 0
                pool = pool.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * pool).sum(dim=1) / pool.sum(dim=1)
                for row, index in enumerate(batch):
                    vectors[index] = pooled[row].double().cpu().numpy()
        if not sequences:
            return np.empty((0, self._model.config.hidden_size))
        return np.stack(vectors)

    def close(self) -> None:
        import gc

        import torch

        del self._model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _score(
        self, sequences: Sequence[Sequence[str]], with_details: bool
    ) -> list[tuple[np.ndarray, ...]]:
        """Return per-code arrays per sequence: log_probs, then mean, std and rank with details."""
        import torch

        encoded = [self._input_ids(sequence) for sequence in sequences]
        for ids, _ in encoded:
            self._check_fits(len(ids), "scoring a sequence")

        results: list[tuple[np.ndarray, ...]] = [()] * len(sequences)
        with torch.inference_mode():
            for batch in self._length_sorted_batches([ids for ids, _ in encoded]):
                batch_ids = [encoded[i][0] for i in batch]
                per_token = self._forward_log_probabilities(batch_ids, with_details)
                for row, index in enumerate(batch):
                    _, known = encoded[index]
                    results[index] = tuple(
                        _spread_over_codes(values[row], known) for values in per_token
                    )
        return results

    def _forward_log_probabilities(
        self, batch_ids: list[list[int]], with_details: bool
    ) -> list[list[np.ndarray]]:
        """Run one forward pass; return per-row arrays in the order ``_score`` returns them."""
        import torch

        input_ids, attention_mask = self._right_padded(batch_ids)
        output = self._model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=torch.arange(input_ids.shape[1], device=self._device).expand_as(input_ids),
        )
        log_probabilities = torch.log_softmax(output.logits[:, :-1].float(), dim=-1)
        observed = log_probabilities.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        per_position = [observed]

        if with_details:
            probabilities = log_probabilities.exp()
            finite = torch.where(probabilities > 0, log_probabilities, 0.0)
            mean = (probabilities * finite).sum(dim=-1)
            variance = (probabilities * (finite - mean.unsqueeze(-1)) ** 2).sum(dim=-1)
            std = variance.clamp(min=0).sqrt()
            rank = (log_probabilities > observed.unsqueeze(-1)).sum(dim=-1)
            per_position.extend([mean, std, rank])

        lengths = [len(ids) - 1 for ids in batch_ids]
        return [
            [values[row, :length].double().cpu().numpy() for row, length in enumerate(lengths)]
            for values in per_position
        ]

    def _generate_batch(
        self,
        batch: list[int],
        requests: Sequence[GenerationRequest],
        prompts: list[list[int]],
        results: list[list[tuple[str, ...]]],
    ) -> None:
        import torch

        rows = []
        for index in batch:
            request = requests[index]
            for sample in range(request.samples):
                row = SamplingRow(
                    prompt_ids=(self._bos_id, *prompts[index]),
                    max_new_tokens=request.max_new_tokens,
                    temperature=request.temperature,
                    seed=row_seed(request.seed, sample),
                )
                rows.append(row)
        if not rows:
            return

        with torch.inference_mode():
            sampled = sample_rows(
                self._model,
                rows,
                allowed_ids=self._allowed_ids,
                eos_id=self._eos_id,
                pad_id=self._pad_id,
            )

        position = 0
        for index in batch:
            samples = requests[index].samples
            results[index] = [
                tuple(self._id_codes[token] for token in ids)
                for ids in sampled[position : position + samples]
            ]
            position += samples

    def _prompt_ids(self, request: GenerationRequest) -> list[int]:
        if request.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {request.temperature}")
        if request.samples < 0 or request.max_new_tokens < 0:
            raise ValueError(
                f"samples and max_new_tokens must be at least 0, got {request.samples} and "
                f"{request.max_new_tokens}"
            )

        ids, _ = self._input_ids(request.prompt)
        ids = ids[1:]
        if self._context_length is None:
            return ids

        # BOS takes one position, and the sampled codes need room after the prompt.
        room = self._context_length - 1 - request.max_new_tokens
        if room < 0:
            raise ContextLengthError(
                f"max_new_tokens={request.max_new_tokens} does not fit the context of "
                f"{self.model_id} ({self._context_length} positions, one of them BOS); "
                "lower max_new_tokens"
            )
        if len(ids) > room:
            self._prompts_cut += 1
            ids = ids[len(ids) - room :] if room else []
        return ids

    def _input_ids(self, codes: Sequence[str]) -> tuple[list[int], np.ndarray]:
        """Map codes to ``[BOS] + ids``; also return which codes are in the input."""
        ids = [self._bos_id]
        known = np.ones(len(codes), dtype=bool)
        new_unknown: set[str] = set()
        for position, code in enumerate(codes):
            index = self._code_ids.get(code)
            if index is None:
                if code not in self._unknown_code_counts:
                    new_unknown.add(code)
                self._unknown_code_counts[code] += 1
                index = self._unk_id
            if index is None:
                known[position] = False
            else:
                ids.append(index)

        if new_unknown:
            examples = ", ".join(sorted(new_unknown)[:5])
            handling = "mapped to the unknown token" if self._unk_id is not None else "left out"
            logger.warning(
                "%d codes not in the vocabulary of %s were %s (e.g. %s); "
                "unknown_code_counts has the counts",
                len(new_unknown),
                self.model_id,
                handling,
                examples,
            )
        return ids, known

    def _check_fits(self, length: int, operation: str) -> None:
        if self._context_length is not None and length > self._context_length:
            raise ContextLengthError(
                f"{operation} needs {length} positions (BOS included), but {self.model_id} has a "
                f"context of {self._context_length}; lower the maximum sequence length"
            )

    def _length_sorted_batches(self, sequences: Sequence[Sequence[int]]) -> list[list[int]]:
        order = sorted(range(len(sequences)), key=lambda index: -len(sequences[index]))
        return [order[i : i + self._batch_size] for i in range(0, len(order), self._batch_size)]

    def _right_padded(self, batch_ids: list[list[int]]) -> tuple[Any, Any]:
        import torch

        width = max(len(ids) for ids in batch_ids)
        input_ids = torch.full((len(batch_ids), width), self._pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for row, ids in enumerate(batch_ids):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
        return input_ids.to(self._device), attention_mask.to(self._device)


def _check_model_folder(model_id: str) -> Path:
    text = model_id[len(HF_PREFIX) :]
    if not text:
        raise ModelLoadError("hf: needs a folder, as in hf:path/to/model")
    folder = Path(text).expanduser()
    if not folder.exists():
        raise ModelLoadError(
            f"model folder not found: {folder} (from {model_id!r}). hf:<path> reads a local "
            "folder written by save_pretrained; download hub models into a folder first"
        )
    if not folder.is_dir():
        raise ModelLoadError(f"{folder} is not a folder; hf:<path> needs a save_pretrained folder")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder} has no config.json; is it a save_pretrained folder?")

    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(
            f"{folder} has no tokenizer files ({', '.join(TOKENIZER_FILES)}); save the "
            "model's tokenizer into it with save_pretrained"
        )

    if any(folder.glob("*.safetensors")):
        return folder
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_WEIGHT_SUFFIXES)
    if pickles:
        raise ModelLoadError(
            f"{folder} has only pickle weights ({', '.join(pickles)}), which can run code when "
            "loaded; convert them to safetensors (load the model where you trust the file, "
            "then call save_pretrained) and pass that folder"
        )
    raise ModelLoadError(f"{folder} has no weights: no *.safetensors file found")


def _folder_digest(folder: Path) -> str:
    names = sorted(path.name for path in folder.glob("*.safetensors"))
    if (folder / "model.safetensors.index.json").is_file():
        names.append("model.safetensors.index.json")
    names.append("config.json")
    names.extend(name for name in TOKENIZER_FILES if (folder / name).is_file())

    hasher = hashlib.sha256()
    for name in names:
        hasher.update(f"{name}\n".encode())
        with open(folder / name, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                hasher.update(block)
    return f"sha256:{hasher.hexdigest()}"


def _context_length(config: Any) -> int | None:
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _spread_over_codes(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Place per-input-token values at their codes' positions; codes left out get NaN."""
    if known.all():
        return values
    spread = np.full(len(known), np.nan)
    spread[known] = values
    return spread


def available_cores() -> int:
    """Return the number of CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
