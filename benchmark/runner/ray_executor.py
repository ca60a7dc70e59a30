"""The Ray executor: the local executor's batches, computed by model replicas on Ray.

When one machine is not enough, clinmem does not run its own cluster code. The
parent process deduplicates requests, serves the cache and cuts the rest into
length-sorted batches exactly as ``LocalExecutor`` does. ``RayExecutor`` then
sends each batch to one of N Ray actors, each holding one model replica loaded
with ``load_model`` inside the actor, and hands the answers back as they
finish. The parent checks, encodes and stores every finished batch in its own
cache, so the cache and the result file are the ones a local run writes.

Answers do not depend on the worker. Every generation request carries its own
seed, and a batch is computed by one replica as a whole, as in a local run.

``ray`` is an optional dependency (``pip install 'clinmem[ray]'``) and is only
imported when this executor is used.

Usage::

    with make_executor("ray", model, cache, model_id="lookup", model_context=context,
                       workers=4) as executor:
        log_probabilities = executor.score(sequences)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from benchmark.models.base import ModelAdapter
from benchmark.runner.cache import AnswerCache
from benchmark.runner.executor import LocalExecutor, ModelCallError, call_model

if TYPE_CHECKING:
    from benchmark.models.registry import ModelContext

logger = logging.getLogger(__name__)

LOCAL = "local"
RAY = "ray"
EXECUTORS = (LOCAL, RAY)
RAY_INSTALL_COMMAND = "pip install 'clinmem[ray]'"

# Environment of a Ray runtime that clinmem starts on this machine. Ray sends
# no usage statistics. With multi-node mode off, Ray takes 127.0.0.1 as the
# node address, and its servers listen there only (checked with Ray 2.60 on
# Linux), so nothing outside this machine can reach the runtime. Ray reads the
# second variable when ``ray`` is first imported.
LOCAL_RUNTIME_ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
}


class ExecutorSetupError(RuntimeError):
    """Raised when the chosen executor cannot start: bad options, no cluster, replicas that
    fail to load or differ from the parent's model."""


class RayNotInstalledError(ExecutorSetupError):
    """Raised when the Ray executor is chosen but the ``ray`` package cannot be imported."""


def import_ray(*, for_local_runtime: bool = False) -> ModuleType:
    """Import and return ``ray``; raise ``RayNotInstalledError`` with the install command.

    With ``for_local_runtime``, the first import of ``ray`` in this process runs with
    ``LOCAL_RUNTIME_ENVIRONMENT`` set.
    """
    first_import = "ray" not in sys.modules
    environment = LOCAL_RUNTIME_ENVIRONMENT if for_local_runtime and first_import else {}
    try:
        with _environment(environment):
            import ray
    except ImportError as error:
        raise RayNotInstalledError(
            f"--executor ray needs the ray package, which is not installed ({error}). "
            f"Install it with: {RAY_INSTALL_COMMAND}"
        ) from None
    return ray


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


class ModelReplica:
    """One model replica inside a Ray actor; computes whole batches with ``call_model``.

    A load error is kept and raised by ``ready``, so the parent receives the
    adapter's own exception instead of a bare "actor died".
    """

    def __init__(self, model_id: str, context: ModelContext, torch_threads: int | None) -> None:
        from benchmark.models.registry import load_model

        self._model: ModelAdapter | None = None
        self._load_error: Exception | None = None
        try:
            self._model = load_model(model_id, context)
        except Exception as error:  # any adapter or plugin error; ready() raises it
            self._load_error = error
            return

        # Ray starts one worker process per actor; torch in each must not use
        # every core of the node when several replicas share it.
        if torch_threads is not None and "torch" in sys.modules:
            import torch

            torch.set_num_threads(torch_threads)

    def ready(self) -> tuple[str, str, int]:
        """Return (model digest, host name, process id); raise the load error, if any."""
        if self._load_error is not None:
            raise self._load_error
        return self._model.digest(), socket.gethostname(), os.getpid()

    def call(self, method: str, batch: list) -> tuple[list, float]:
        """Return the raw answers of one batch and the seconds the model took."""
        started = time.perf_counter()
        answers = call_model(self._model, method, batch)
        return answers, time.perf_counter() - started


class RayExecutor(LocalExecutor):
    """Computes the local executor's batches on Ray actors, one model replica each.

    Ray must already be initialized in this process (``ray_runtime`` does it).
    Each replica reserves one CPU. It also reserves one GPU when the model's
    device is CUDA or the cluster has GPUs. ``workers`` defaults to one replica
    per free GPU, or per free CPU. Call ``close`` to stop the replicas.
    """

    def __init__(
        self,
        model: ModelAdapter,
        cache: AnswerCache | None,
        *,
        model_id: str,
        model_context: ModelContext,
        workers: int | None = None,
        batch_size: int = 32,
        generation_batch_rows: int = 256,
        progress: bool = True,
    ) -> None:
        super().__init__(
            model,
            cache,
            batch_size=batch_size,
            generation_batch_rows=generation_batch_rows,
            progress=progress,
        )
        ray = import_ray()
        total = ray.cluster_resources()
        uses_gpus = model_context.device.startswith("cuda") or total.get("GPU", 0) >= 1
        workers = _worker_count(
            workers, total, ray.available_resources(), uses_gpus, model_context.device
        )

        # Ray shows each GPU actor only its own GPU, as cuda:0.
        # NOTE: this GPU path has not been run on a machine with GPUs; the tests
        # cover the CPU path only.
        replica_context = (
            dataclasses.replace(model_context, device="cuda") if uses_gpus else model_context
        )
        # Replicas are not restarted by Ray: a restart needs the context from the
        # object store again, which Ray 2.60 may have evicted by then. A replica
        # that dies is dropped instead (see compute_batches).
        actor_class = ray.remote(ModelReplica).options(
            num_cpus=1, num_gpus=1 if uses_gpus else 0, max_restarts=0
        )
        context_reference = ray.put(replica_context)
        torch_threads = None if uses_gpus else 1
        self.replicas: list[Any] = [
            actor_class.remote(model_id, context_reference, torch_threads) for _ in range(workers)
        ]
        try:
            self._check_replicas(model_id)
        except BaseException:
            self.close()
            raise
        logger.info(
            "Ray executor: %d replicas of %s, one %s each",
            workers,
            model_id,
            "GPU" if uses_gpus else "CPU",
        )

    def compute_batches(
        self, method: str, batches: list[list]
    ) -> Iterator[tuple[int, list, float]]:
        """Yield (batch index, raw answers, model seconds) as replicas finish their batches.

        Each replica holds at most one batch at a time and gets the next one
        when it finishes. After a failed batch no new batch is sent, the
        batches still running are yielded (so the parent stores them), and
        then the first failure is raised: the adapter's own exception, which
        the parent turns into the same ``ModelCallError`` as a local run. A
        replica whose process died is dropped, and later calls use the rest.
        """
        ray = import_ray()
        if batches and not self.replicas:
            raise ModelCallError(
                f"every Ray replica of {self.model.model_id} has died; run the command again "
                "to resume from the cache with new replicas"
            )
        idle = list(self.replicas)
        running: dict[Any, tuple[int, Any]] = {}
        next_batch = 0
        failure: Exception | None = None

        while running or (failure is None and next_batch < len(batches)):
            while failure is None and idle and next_batch < len(batches):
                replica = idle.pop()
                running[replica.call.remote(method, batches[next_batch])] = (next_batch, replica)
                next_batch += 1

            [finished], _ = ray.wait(list(running), num_returns=1)
            index, replica = running.pop(finished)
            try:
                answers, seconds = ray.get(finished)
            except ray.exceptions.RayActorError as error:
                self.replicas.remove(replica)
                logger.warning(
                    "a Ray replica of %s died computing batch %d of %s; %d replicas remain: %s",
                    self.model.model_id,
                    index,
                    method,
                    len(self.replicas),
                    error,
                )
                failure = failure or error
                continue
            except ray.exceptions.RayError as error:
                idle.append(replica)
                logger.debug("batch %d of %s failed on Ray: %s", index, method, error)
                failure = failure or error
                continue
            idle.append(replica)
            yield index, answers, seconds

        if failure is not None:
            _raise_remote_failure(failure)

    def close(self) -> None:
        """Stop the replicas and free their memory; the statistics stay readable."""
        ray = import_ray()
        for replica in self.replicas:
            ray.kill(replica)
        self.replicas = []

    def _check_replicas(self, model_id: str) -> None:
        """Wait until every replica has loaded; check it is the parent's model."""
        ray = import_ray()
        try:
            loaded = ray.get([replica.ready.remote() for replica in self.replicas])
        except ray.exceptions.RayTaskError as error:
            cause = error.cause
            raise ExecutorSetupError(
                f"a Ray worker failed to load model {model_id!r}: {type(cause).__name__}: "
                f"{cause}. Every node needs clinmem installed and the model files at the "
                "same path"
            ) from error
        except ray.exceptions.RayActorError as error:
            raise ExecutorSetupError(
                f"a Ray worker for model {model_id!r} failed to start: {error}. Every node "
                "needs clinmem installed in the Python environment Ray runs"
            ) from error

        for digest, host, pid in loaded:
            logger.debug("replica of %s loaded on %s, process %d", model_id, host, pid)
            if digest != self._model_digest:
                raise ExecutorSetupError(
                    f"the replica of {model_id!r} on {host} has digest {digest}, but this "
                    f"process loaded {self._model_digest}; every node must read the same "
                    "model files and cohort"
                )


def _worker_count(
    workers: int | None,
    total: dict[str, float],
    available: dict[str, float],
    uses_gpus: bool,
    device: str,
) -> int:
    """Return the number of replicas, after checking that the cluster can place them all.

    The default is one replica per free GPU (or CPU), at least one.
    """
    unit = "GPU" if uses_gpus else "CPU"
    total_units, free_units = int(total.get(unit, 0)), int(available.get(unit, 0))
    if uses_gpus and total_units == 0:
        raise ExecutorSetupError(
            f"device {device!r} needs GPUs, but the Ray cluster has none; pass --device cpu "
            "or connect to a cluster with GPUs"
        )
    if workers is None:
        return max(free_units, 1)
    if workers < 1:
        raise ExecutorSetupError(f"workers must be at least 1, got {workers}")

    # NOTE: this counts the cluster's resources now; an autoscaling cluster must
    # be scaled up first, or a replica that cannot be placed would wait forever.
    if workers > total_units:
        raise ExecutorSetupError(
            f"{workers} workers need {workers} {unit}s (one each), but the Ray cluster has "
            f"{total_units}; pass --workers {total_units} or fewer"
        )
    if workers > free_units:
        logger.warning(
            "%d of the cluster's %d %ss are free; %d replicas wait until other jobs free theirs",
            free_units,
            total_units,
            unit,
            workers - free_units,
        )
    return workers


def _raise_remote_failure(error: Exception) -> None:
    """Raise the adapter's own exception behind a Ray task error, else the Ray error."""
    ray = import_ray()
    cause = getattr(error, "cause", None)
    if isinstance(error, ray.exceptions.RayTaskError) and isinstance(cause, Exception):
        raise cause from error
    raise error


@contextmanager
def ray_runtime(address: str | None, workers: int | None) -> Iterator[None]:
    """Connect to the Ray cluster at ``address``, or start a Ray runtime on this machine.

    Without an address, the runtime has ``workers`` CPUs (default: all cores),
    no dashboard and no usage statistics, listens on 127.0.0.1 only, and is
    shut down on exit. A runtime that this process had already started or
    joined is used as it is and left running.
    """
    ray = import_ray(for_local_runtime=address is None)
    if ray.is_initialized():
        logger.info("using the Ray runtime this process is already connected to")
        yield
        return

    if address is None:
        _start_local_runtime(ray, workers)
    else:
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ExecutorSetupError(
                f"failed to connect to the Ray cluster at {address!r}: {error}. Start one "
                "with 'ray start --head' and pass its address (or 'auto' on one of its nodes)"
            ) from error
    logger.info(
        "Ray runtime at %s, resources: %s",
        ray.get_runtime_context().gcs_address,
        ray.cluster_resources(),
    )
    try:
        yield
    finally:
        ray.shutdown()


def _start_local_runtime(ray: ModuleType, workers: int | None) -> None:
    """Start a Ray runtime on this machine, with ``LOCAL_RUNTIME_ENVIRONMENT``.

    Ray's processes inherit the variables when ``ray.init`` starts them, so
    this process's environment is restored afterwards.
    """
    # address="local" starts a new runtime even when RAY_ADDRESS names a cluster.
    with _environment(LOCAL_RUNTIME_ENVIRONMENT):
        ray.init(
            address="local",
            num_cpus=workers,
            include_dashboard=False,
            logging_level=logging.WARNING,
        )

    address = ray.get_runtime_context().gcs_address
    if not address.startswith("127.0.0.1:"):
        logger.warning(
            "the Ray runtime listens on %s, not on 127.0.0.1 only, because this process "
            "imported ray before clinmem started the runtime",
            address,
        )


def check_executor_options(kind: str, ray_address: str | None, workers: int | None) -> None:
    """Check the executor options before any data or model is loaded.

    Raises ``ExecutorSetupError`` for an unknown kind or Ray options given to
    the local executor, and ``RayNotInstalledError`` when ``kind`` is ``ray``
    and ``ray`` cannot be imported.
    """
    if kind not in EXECUTORS:
        raise ExecutorSetupError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    if kind == LOCAL and (ray_address is not None or workers is not None):
        raise ExecutorSetupError(
            "--ray-address and --workers apply only to --executor ray; add "
            "--executor ray or leave them out"
        )
    if kind == RAY:
        import_ray(for_local_runtime=ray_address is None)


@contextmanager
def make_executor(
    kind: str,
    model: ModelAdapter,
    cache: AnswerCache | None,
    *,
    model_id: str,
    model_context: ModelContext,
    batch_size: int = 32,
    progress: bool = True,
    ray_address: str | None = None,
    workers: int | None = None,
) -> Iterator[LocalExecutor]:
    """Open the executor ``kind`` (``local`` or ``ray``) for a loaded model; close it on exit.

    ``ray_address`` and ``workers`` apply to the Ray executor only. Raises
    ``ExecutorSetupError`` when ``check_executor_options`` rejects the options
    or the Ray executor cannot start.
    """
    check_executor_options(kind, ray_address, workers)
    if kind == LOCAL:
        yield LocalExecutor(model, cache, batch_size=batch_size, progress=progress)
        return

    with ray_runtime(ray_address, workers):
        executor = RayExecutor(
            model,
            cache,
            model_id=model_id,
            model_context=model_context,
            workers=workers,
            batch_size=batch_size,
            progress=progress,
        )
        try:
            yield executor
        finally:
            executor.close()
