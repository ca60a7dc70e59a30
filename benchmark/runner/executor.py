"""The local executor: deduplicates, caches and batches model requests.

Probes hand the executor every request of a step at once. The executor drops
duplicates, serves what the cache holds, sorts the rest by length so batches
carry little padding, calls the model one batch at a time, and stores each
batch's answers before the next, so an interrupted run loses at most one
batch of work.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm.auto import tqdm

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
)
from benchmark.runner.cache import AnswerCache, request_key

logger = logging.getLogger(__name__)


class ModelCallError(RuntimeError):
    """Raised when the model adapter failed or returned a malformed answer."""


# A code as cohorts write it, 'VOCABULARY//VALUE', up to a quote, bracket or comma.
_CODE_PATTERN = re.compile(r"[A-Za-z0-9_.\-]+//[^\s'\",;\])}]+")
#: Characters of an adapter's error message kept in the log and the result.
MAX_REASON_CHARACTERS = 500


def redact_codes(message: str) -> str:
    """Replace code strings in an adapter's error message with ``<code>`` and shorten it.

    The message goes to the log and to the published result, and an adapter
    that quotes its input would otherwise put a patient's codes in both.

    >>> redact_codes("no id for 'SNOMED//44054006' in ['GENDER//F', 'ICD10CM//E11.9']")
    "no id for '<code>' in ['<code>', '<code>']"
    """
    redacted = _CODE_PATTERN.sub("<code>", message)
    if len(redacted) > MAX_REASON_CHARACTERS:
        redacted = redacted[:MAX_REASON_CHARACTERS] + " [cut]"
    return redacted


#: Largest log-probability accepted. A probability is at most 1, so its log is at
#: most 0; the margin absorbs rounding in a float32 log-softmax.
MAX_LOG_PROBABILITY = 1e-4


def check_log_probs(model_id: str, values: object, length: int) -> np.ndarray:
    """Return one sequence's log-probabilities as float64, or raise ``ModelCallError``.

    NaN and values above 0 are rejected because every statistic built on them
    would be wrong without showing it. Minus infinity (probability 0) passes,
    and the probes report the scores it makes as not finite.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (length,):
        raise ModelCallError(
            f"{model_id} returned {array.size} log-probabilities for a sequence of {length} codes"
        )
    nan = int(np.isnan(array).sum())
    if nan:
        raise ModelCallError(
            f"{model_id} returned NaN log-probabilities for {nan} of {length} codes of a "
            "sequence; adapters without an unknown token return NaN for codes missing from "
            "their vocabulary"
        )
    if (array > MAX_LOG_PROBABILITY).any():
        raise ModelCallError(
            f"{model_id} returned a log-probability of {float(array.max()):.4g}, above 0; "
            "score must return natural-log probabilities (after log-softmax), not logits"
        )
    return array


@dataclass
class MethodStatistics:
    """Counts of one model method's requests in a run."""

    requested: int = 0
    unique: int = 0
    from_cache: int = 0
    computed: int = 0
    model_seconds: float = 0.0


@dataclass
class ExecutorStatistics:
    methods: dict[str, MethodStatistics] = field(default_factory=dict)

    def for_method(self, method: str) -> MethodStatistics:
        return self.methods.setdefault(method, MethodStatistics())

    @property
    def model_seconds(self) -> float:
        return sum(m.model_seconds for m in self.methods.values())

    def as_dict(self) -> dict[str, dict]:
        return {name: asdict(stats) for name, stats in self.methods.items()}


def _encode_scores(values: np.ndarray) -> bytes:
    return np.asarray(values, dtype="<f8").tobytes()


def _decode_scores(payload: bytes) -> np.ndarray:
    return np.frombuffer(payload, dtype="<f8").copy()


def _encode_details(details: TokenScores) -> bytes:
    stacked = np.stack([details.log_probs, details.mean, details.std, details.rank])
    return np.asarray(stacked, dtype="<f8").tobytes()


def _decode_details(payload: bytes) -> TokenScores:
    log_probs, mean, std, rank = np.frombuffer(payload, dtype="<f8").reshape(4, -1).copy()
    return TokenScores(log_probs, mean, std, rank)


def _encode_samples(samples: list[tuple[str, ...]]) -> bytes:
    return json.dumps([list(s) for s in samples], separators=(",", ":")).encode()


def _decode_samples(payload: bytes) -> list[tuple[str, ...]]:
    return [tuple(s) for s in json.loads(payload)]


def _encode_vector(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def _decode_vector(payload: bytes) -> np.ndarray:
    return np.frombuffer(payload, dtype="<f4").copy()


def call_model(model: ModelAdapter, method: str, batch: list) -> list:
    """Call one adapter method on a batch of request payloads; return its raw answers."""
    if method == SCORE:
        return model.score(batch)
    if method == SCORE_DETAILS:
        return model.score_details(batch)
    if method == GENERATE:
        requests = [GenerationRequest(**(p | {"prompt": tuple(p["prompt"])})) for p in batch]
        return model.generate(requests)
    if method == EMBED:
        return list(np.asarray(model.embed(batch)))
    if method == SCORE_CODE_SETS:
        requests = [
            CodeSetRequest(tuple(p["prompt"]), tuple(tuple(codes) for codes in p["code_sets"]))
            for p in batch
        ]
        return model.score_code_sets(requests)
    raise ValueError(f"unknown model method {method!r}")


class LocalExecutor:
    """Runs a model's requests in this process, in batches, through the cache."""

    def __init__(
        self,
        model: ModelAdapter,
        cache: AnswerCache | None,
        *,
        batch_size: int = 32,
        generation_batch_rows: int = 256,
        progress: bool = True,
    ) -> None:
        self.model = model
        self.cache = cache
        self.batch_size = batch_size
        self.generation_batch_rows = generation_batch_rows
        self.progress = progress
        self.statistics = ExecutorStatistics()
        self._model_digest = model.digest()

    def score(self, sequences: Sequence[Sequence[str]], label: str = "score") -> list[np.ndarray]:
        """Return per-code log-probabilities for each sequence."""
        payloads = [list(s) for s in sequences]

        def check(batch: list[list[str]], answers: list) -> list[bytes]:
            if len(answers) != len(batch):
                raise ModelCallError(
                    f"{self.model.model_id} returned {len(answers)} scores for "
                    f"{len(batch)} sequences"
                )
            model_id = self.model.model_id
            return [
                _encode_scores(check_log_probs(model_id, answer, len(sequence)))
                for sequence, answer in zip(batch, answers, strict=True)
            ]

        encoded = self._run(SCORE, payloads, check, len, self.batch_size, label)
        return [_decode_scores(e) for e in encoded]

    def score_details(
        self, sequences: Sequence[Sequence[str]], label: str = "score"
    ) -> list[TokenScores]:
        """Return per-code log-probabilities with statistics of the full distribution."""
        payloads = [list(s) for s in sequences]

        def check(batch: list[list[str]], answers: list) -> list[bytes]:
            if len(answers) != len(batch):
                raise ModelCallError(
                    f"{self.model.model_id} returned {len(answers)} scores for "
                    f"{len(batch)} sequences"
                )
            for sequence, answer in zip(batch, answers, strict=True):
                lengths = {len(a) for a in (answer.log_probs, answer.mean, answer.std, answer.rank)}
                if lengths != {len(sequence)}:
                    raise ModelCallError(
                        f"{self.model.model_id} returned score details of lengths "
                        f"{sorted(lengths)} for a sequence of {len(sequence)} codes"
                    )
                check_log_probs(self.model.model_id, answer.log_probs, len(sequence))
                statistics = np.stack([answer.mean, answer.std, answer.rank]).astype(np.float64)
                if np.isnan(statistics).any():
                    raise ModelCallError(
                        f"{self.model.model_id} returned NaN in the mean, std or rank of "
                        "its next-code distribution"
                    )
            return [_encode_details(a) for a in answers]

        encoded = self._run(SCORE_DETAILS, payloads, check, len, self.batch_size, label)
        return [_decode_details(e) for e in encoded]

    def score_code_sets(
        self, requests: Sequence[CodeSetRequest], label: str = "score code sets"
    ) -> list[np.ndarray]:
        """Return, per request, each code set's highest log-probability over the prompt's
        prefixes."""
        # Requests of one probe share their code sets, so each distinct tuple is sorted once.
        normalized: dict[tuple, list[list[str]]] = {}
        for request in requests:
            if request.code_sets not in normalized:
                normalized[request.code_sets] = [sorted(set(c)) for c in request.code_sets]
        payloads = [
            {"prompt": list(r.prompt), "code_sets": normalized[r.code_sets]} for r in requests
        ]

        def check(batch: list[dict], answers: list) -> list[bytes]:
            if len(answers) != len(batch):
                raise ModelCallError(
                    f"{self.model.model_id} returned {len(answers)} code-set scores for "
                    f"{len(batch)} requests"
                )
            encoded = []
            for payload, answer in zip(batch, answers, strict=True):
                sets = len(payload["code_sets"])
                array = np.asarray(answer, dtype=np.float64)
                if array.shape != (sets,):
                    raise ModelCallError(
                        f"{self.model.model_id} returned {array.size} code-set log-probabilities "
                        f"for a request of {sets} code sets; score_code_sets returns one per set"
                    )
                # NaN or a value above 0 is rejected as in score; -inf (no known code) passes.
                encoded.append(_encode_scores(check_log_probs(self.model.model_id, array, sets)))
            return encoded

        def prompt_length(payload: dict) -> int:
            return len(payload["prompt"])

        encoded = self._run(SCORE_CODE_SETS, payloads, check, prompt_length, self.batch_size, label)
        return [_decode_scores(e) for e in encoded]

    def generate(
        self, requests: Sequence[GenerationRequest], label: str = "generate"
    ) -> list[list[tuple[str, ...]]]:
        """Return the sampled continuations of each request."""
        payloads = [
            {
                "prompt": list(r.prompt),
                "samples": r.samples,
                "max_new_tokens": r.max_new_tokens,
                "temperature": r.temperature,
                "seed": r.seed,
            }
            for r in requests
        ]
        samples_per_request = max((r.samples for r in requests), default=1)
        requests_per_batch = max(1, self.generation_batch_rows // samples_per_request)

        def check(batch: list[dict], answers: list) -> list[bytes]:
            if len(answers) != len(batch):
                raise ModelCallError(
                    f"{self.model.model_id} answered {len(answers)} of "
                    f"{len(batch)} generation requests"
                )
            for request, samples in zip(batch, answers, strict=True):
                if len(samples) != request["samples"]:
                    raise ModelCallError(
                        f"{self.model.model_id} returned {len(samples)} samples where "
                        f"{request['samples']} were requested"
                    )
                for sample in samples:
                    self._check_sample(sample, request["max_new_tokens"])
            return [_encode_samples(list(a)) for a in answers]

        encoded = self._run(
            GENERATE, payloads, check, lambda p: len(p["prompt"]), requests_per_batch, label
        )
        answers = [_decode_samples(e) for e in encoded]
        self._check_not_all_empty(requests, answers)
        return answers

    def _check_sample(self, sample: object, max_new_tokens: int) -> None:
        # A string would pass as a sequence of one-character codes.
        if not isinstance(sample, list | tuple):
            raise ModelCallError(
                f"{self.model.model_id} returned a continuation of type "
                f"{type(sample).__name__}; each continuation must be a tuple of code strings"
            )
        if len(sample) > max_new_tokens:
            raise ModelCallError(
                f"{self.model.model_id} returned a continuation of {len(sample)} codes, longer "
                f"than max_new_tokens={max_new_tokens}"
            )
        for code in sample:
            if not isinstance(code, str):
                raise ModelCallError(
                    f"{self.model.model_id} returned a code of type {type(code).__name__} in a "
                    "continuation; codes must be strings"
                )

    def _check_not_all_empty(
        self, requests: Sequence[GenerationRequest], answers: list[list[tuple[str, ...]]]
    ) -> None:
        """Raise when every continuation the requests allow is empty.

        A leak or reconstruction score of zero would then reflect a broken
        ``generate`` or end-of-sequence handling, not a model that keeps its
        patients private.
        """
        sampled = [
            samples
            for request, samples in zip(requests, answers, strict=True)
            if request.samples > 0 and request.max_new_tokens > 0
        ]
        total = sum(len(samples) for samples in sampled)
        if total and not any(sample for samples in sampled for sample in samples):
            raise ModelCallError(
                f"{self.model.model_id} returned {total} empty continuations and no code; check "
                "that its generate method samples codes and does not end every continuation "
                "at once"
            )

    def embed(self, sequences: Sequence[Sequence[str]], label: str = "embed") -> np.ndarray:
        """Return one embedding vector per sequence, stacked."""
        payloads = [list(s) for s in sequences]

        def check(batch: list[list[str]], answers) -> list[bytes]:
            vectors = np.asarray(answers, dtype=np.float64)
            if vectors.ndim != 2 or vectors.shape[0] != len(batch):
                raise ModelCallError(
                    f"{self.model.model_id} returned embeddings of shape {vectors.shape} "
                    f"for {len(batch)} sequences"
                )
            bad = int((~np.isfinite(vectors)).any(axis=1).sum())
            if bad:
                raise ModelCallError(
                    f"{self.model.model_id} returned NaN or infinite values in {bad} of "
                    f"{len(batch)} embeddings"
                )
            return [_encode_vector(v) for v in vectors]

        encoded = self._run(EMBED, payloads, check, len, self.batch_size, label)
        return np.stack([_decode_vector(e) for e in encoded]) if encoded else np.zeros((0, 0))

    def compute_batches(
        self, method: str, batches: list[list]
    ) -> Iterator[tuple[int, list, float]]:
        """Yield (batch index, raw answers, model seconds) for each batch, in any order.

        This executor runs them one after another in this process; other
        executors override this to run them elsewhere.
        """
        for index, batch in enumerate(batches):
            started = time.perf_counter()
            answers = call_model(self.model, method, batch)
            yield index, answers, time.perf_counter() - started

    def _run(
        self,
        method: str,
        payloads: list,
        check: Callable[[list, list], list[bytes]],
        length: Callable[[object], int],
        batch_size: int,
        label: str,
    ) -> list[bytes]:
        stats = self.statistics.for_method(method)
        keys = [request_key(self._model_digest, method, p) for p in payloads]
        unique: dict[str, object] = dict(zip(keys, payloads, strict=True))
        stats.requested += len(keys)
        stats.unique += len(unique)

        answers: dict[str, bytes] = self.cache.get_many(unique) if self.cache is not None else {}
        stats.from_cache += len(answers)
        missing = sorted((k for k in unique if k not in answers), key=lambda k: length(unique[k]))
        logger.info(
            "%s: %d %s requests, %d unique, %d from cache, %d to compute",
            label,
            len(keys),
            method,
            len(unique),
            len(answers),
            len(missing),
        )

        batch_keys = [missing[i : i + batch_size] for i in range(0, len(missing), batch_size)]
        batches = [[unique[k] for k in keys_of_batch] for keys_of_batch in batch_keys]
        with tqdm(
            total=len(missing), desc=label, unit="req", disable=not self.progress or not missing
        ) as bar:
            try:
                for index, raw, seconds in self.compute_batches(method, batches):
                    encoded = check(batches[index], raw)
                    stats.model_seconds += seconds
                    batch_answers = dict(zip(batch_keys[index], encoded, strict=True))
                    if self.cache is not None:
                        self.cache.put_many(batch_answers)
                    answers.update(batch_answers)
                    stats.computed += len(batch_answers)
                    bar.update(len(batch_answers))
            except ModelCallError:
                raise
            except Exception as error:  # an adapter may fail in any way; keep the reason
                raise ModelCallError(
                    f"{self.model.model_id}.{method} failed: {type(error).__name__}: "
                    f"{redact_codes(str(error))}"
                ) from error

        return [answers[k] for k in keys]
