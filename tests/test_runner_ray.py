"""The Ray executor against the local one, on a Ray runtime started in this module.

Each replica reserves one CPU, and the runtime has 4 logical CPUs, so the
shared GPT executor (2 replicas) and one more 2-replica executor fit at once.
Tests that need no Ray runtime (option errors, a missing ray package) are in
``test_runner_ray_cli.py``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest
import yaml
from synthetic_cohorts import make_cohort

from benchmark.data.sequence import build_sequence
from benchmark.models.base import GenerationRequest
from benchmark.models.registry import ModelContext, load_model
from benchmark.models.training import train_reference_gpt
from benchmark.runner.cache import AnswerCache
from benchmark.runner.executor import ExecutorStatistics, LocalExecutor, ModelCallError
from benchmark.runner.ray_executor import (
    LOCAL_RUNTIME_ENVIRONMENT,
    ExecutorSetupError,
    RayExecutor,
    ray_runtime,
)
from benchmark.runner.run import RunOptions, run_suite
from benchmark.specs.resources import default_specs_dir

# Starting the Ray runtime and the replicas of the shared GPT takes 10 to 30 s on 2 cores.
pytestmark = pytest.mark.slow

MAX_SEQUENCE_LENGTH = 16
RUNTIME_CPUS = 4


@pytest.fixture(scope="module")
def ray_cluster():
    # Not importorskip: ray_runtime must import ray first, with its environment.
    if importlib.util.find_spec("ray") is None:
        pytest.skip("the ray extra is not installed")
    with pytest.MonkeyPatch.context() as patch:
        for name in LOCAL_RUNTIME_ENVIRONMENT:
            patch.delenv(name, raising=False)
        with ray_runtime(None, RUNTIME_CPUS):
            yield sys.modules["ray"]
    assert not sys.modules["ray"].is_initialized()


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(60, seed=1)


@pytest.fixture(scope="module")
def sequences(cohort) -> list[tuple[str, ...]]:
    return [build_sequence(p, MAX_SEQUENCE_LENGTH).tokens for p in cohort.patients[:20]]


@pytest.fixture(scope="module")
def gpt_dir(tmp_path_factory, cohort) -> Path:
    folder = tmp_path_factory.mktemp("ray-gpt") / "gpt"
    train_reference_gpt(
        cohort,
        folder,
        epochs=2,
        early_stopping=False,
        max_sequence_length=MAX_SEQUENCE_LENGTH,
        n_layer=1,
        n_head=2,
        n_embd=32,
        batch_size=8,
        progress=False,
    )
    return folder


@pytest.fixture(scope="module")
def gpt_context() -> ModelContext:
    return ModelContext(cohort=None, max_sequence_length=MAX_SEQUENCE_LENGTH, batch_size=4)


@pytest.fixture(scope="module")
def gpt_model(gpt_dir, gpt_context):
    return load_model(f"hf:{gpt_dir}", gpt_context)


@pytest.fixture(scope="module")
def gpt_on_ray(ray_cluster, gpt_dir, gpt_context, gpt_model):
    executor = RayExecutor(
        gpt_model,
        None,
        model_id=f"hf:{gpt_dir}",
        model_context=gpt_context,
        workers=2,
        batch_size=4,
        progress=False,
    )
    yield executor
    executor.close()


@pytest.fixture()
def lookup_context(cohort) -> ModelContext:
    return ModelContext(cohort=cohort, max_sequence_length=MAX_SEQUENCE_LENGTH)


def _free_cpus_settle_at(ray, expected: int, timeout_seconds: float = 10.0) -> bool:
    """Wait until the runtime has ``expected`` free CPUs; killed actors free theirs shortly
    after ``ray.kill`` returns."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if ray.available_resources().get("CPU", 0) == expected:
            return True
        time.sleep(0.1)
    return False


def _replica_dead(ray, replica, timeout_seconds: float = 30.0) -> bool:
    """Wait until calls to the replica fail; ``ray.kill`` returns before it acts."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            ray.get(replica.ready.remote(), timeout=timeout_seconds)
        except ray.exceptions.RayActorError:
            return True
        time.sleep(0.1)
    return False


def _generation_requests(sequences) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            prompt=sequence[: 2 + index % 5],
            samples=3,
            max_new_tokens=6,
            temperature=1.0,
            seed=1000 + index,
        )
        for index, sequence in enumerate(sequences)
    ]


def test_local_runtime_settings(ray_cluster):
    # Whether it listens on 127.0.0.1 depends on which test imported ray first,
    # so test_runner_ray_cli.py checks that in a fresh process.
    assert ray_cluster.cluster_resources()["CPU"] == RUNTIME_CPUS
    # The variables are set only while ray.init starts the runtime's processes.
    assert not any(name in os.environ for name in LOCAL_RUNTIME_ENVIRONMENT)


def test_gpt_scores_bit_identical(gpt_on_ray, gpt_model, sequences, monkeypatch):
    monkeypatch.setattr(gpt_on_ray, "statistics", ExecutorStatistics())
    local = LocalExecutor(gpt_model, None, batch_size=4, progress=False)

    expected = local.score(sequences)
    computed = gpt_on_ray.score(sequences)

    assert gpt_on_ray.statistics.for_method("score").computed == len(sequences)
    assert len(computed) == len(expected)
    for ray_answer, local_answer in zip(computed, expected, strict=True):
        assert ray_answer.tobytes() == local_answer.tobytes()


def test_gpt_samples_identical(gpt_on_ray, gpt_model, sequences, monkeypatch):
    monkeypatch.setattr(gpt_on_ray, "statistics", ExecutorStatistics())
    local = LocalExecutor(gpt_model, None, batch_size=4, progress=False)
    local.generation_batch_rows = gpt_on_ray.generation_batch_rows = 6
    requests = _generation_requests(sequences)

    expected = local.generate(requests)
    computed = gpt_on_ray.generate(requests)

    # 6 rows per batch at 3 samples per request: 10 batches over 2 replicas.
    assert gpt_on_ray.statistics.for_method("generate").computed == len(requests)
    assert computed == expected
    assert all(len(samples) == 3 for samples in computed)


def test_gpt_embeddings_bit_identical(gpt_on_ray, gpt_model, sequences):
    local = LocalExecutor(gpt_model, None, batch_size=4, progress=False)

    expected = local.embed(sequences)
    computed = gpt_on_ray.embed(sequences)

    assert computed.shape == expected.shape
    assert computed.tobytes() == expected.tobytes()


def test_adapter_error_same_as_local(gpt_on_ray, gpt_model, sequences):
    # Three copies of a sequence exceed the context of MAX_SEQUENCE_LENGTH + 2 positions.
    too_long = [sequences[0] * 3]
    local = LocalExecutor(gpt_model, None, batch_size=4, progress=False)

    with pytest.raises(ModelCallError) as local_error:
        local.score(too_long)
    with pytest.raises(ModelCallError) as ray_error:
        gpt_on_ray.score(too_long)

    assert "ContextLengthError" in str(local_error.value)
    assert str(ray_error.value) == str(local_error.value)


def test_failed_batch_keeps_finished_ones(gpt_on_ray, sequences, tmp_path, monkeypatch):
    cache = AnswerCache(tmp_path / "cache")
    monkeypatch.setattr(gpt_on_ray, "cache", cache)
    monkeypatch.setattr(gpt_on_ray, "statistics", ExecutorStatistics())
    short = sequences[:12]
    # Batches are sorted by length, so the 2 over-long sequences form the last batch.
    too_long = [sequences[12] * 3, sequences[13] * 3]

    with pytest.raises(ModelCallError, match="ContextLengthError"):
        gpt_on_ray.score(short + too_long)
    monkeypatch.setattr(gpt_on_ray, "statistics", ExecutorStatistics())
    resumed = gpt_on_ray.score(short)

    statistics = gpt_on_ray.statistics.for_method("score")
    assert statistics.from_cache == len(short)
    assert statistics.computed == 0
    assert len(resumed) == len(short)
    cache.close()


@pytest.fixture()
def small_smoke_suite(tmp_path) -> Path:
    """The smoke suite's probes, tiers and subgroups, with 3 attributes, 20 patients per
    group, 2 samples of 8 codes and 50 bootstrap resamples, so two runs take seconds."""
    spec = yaml.safe_load((default_specs_dir() / "suites" / "smoke.yaml").read_text())
    spec["id"] = "smoke_small"
    spec["attributes"] = spec["attributes"][:3]
    spec["cohort"]["max_patients_per_group"] = 20
    spec["bootstrap"]["resamples"] = 50
    for parameters in spec["probes"].values():
        if "samples" in parameters:
            parameters["samples"] = 2
        if "max_new_tokens" in parameters:
            parameters["max_new_tokens"] = 8
    path = tmp_path / "smoke_small.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_smoke_suite_equals_local(ray_cluster, small_smoke_suite, tmp_path):
    local_options = RunOptions(cache_dir=tmp_path / "local-cache", progress=False)
    ray_options = dataclasses.replace(
        local_options, cache_dir=tmp_path / "ray-cache", executor="ray", workers=2
    )
    suite = str(small_smoke_suite)

    local = run_suite("lookup", suite, None, tmp_path / "local.json", local_options)
    on_ray = run_suite("lookup", suite, None, tmp_path / "ray.json", ray_options)

    assert on_ray.provenance.requests.keys() == local.provenance.requests.keys()
    for method, statistics in on_ray.provenance.requests.items():
        assert statistics["computed"] == local.provenance.requests[method]["computed"] > 0
    assert on_ray.summary == local.summary
    assert on_ray.risk_by_tier == local.risk_by_tier
    assert on_ray.flags == local.flags
    assert [p.probe for p in on_ray.probes] == [p.probe for p in local.probes]
    for ray_probe, local_probe in zip(on_ray.probes, local.probes, strict=True):
        assert ray_probe.status == local_probe.status
        assert ray_probe.metrics == local_probe.metrics
        assert ray_probe.roc_curves == local_probe.roc_curves
    assert [p.status for p in local.probes].count("ok") >= 3
    # The runtime belongs to the fixture, so the run leaves it running.
    assert ray_cluster.is_initialized()


def test_dead_replica_dropped(ray_cluster, lookup_context, sequences):
    model = load_model("lookup", lookup_context)
    expected = LocalExecutor(model, None, batch_size=4, progress=False).score(sequences)
    executor = RayExecutor(
        model,
        None,
        model_id="lookup",
        model_context=lookup_context,
        workers=2,
        batch_size=4,
        progress=False,
    )
    try:
        dead, alive = executor.replicas
        ray_cluster.kill(dead)
        assert _replica_dead(ray_cluster, dead)

        # 5 batches: the first two go to both replicas at once.
        with pytest.raises(ModelCallError, match=r"^lookup\.score failed: ActorDiedError"):
            executor.score(sequences)
        assert executor.replicas == [alive]
        computed = executor.score(sequences)
    finally:
        executor.close()

    assert [c.tobytes() for c in computed] == [e.tobytes() for e in expected]


def test_all_replicas_dead_raises(ray_cluster, lookup_context, sequences):
    model = load_model("lookup", lookup_context)
    executor = RayExecutor(
        model,
        None,
        model_id="lookup",
        model_context=lookup_context,
        workers=2,
        batch_size=4,
        progress=False,
    )
    try:
        for replica in executor.replicas:
            ray_cluster.kill(replica)
            assert _replica_dead(ray_cluster, replica)
        # 5 batches: the first two go to both replicas at once, so both are dropped.
        with pytest.raises(ModelCallError, match=r"^lookup\.score failed: ActorDiedError"):
            executor.score(sequences)
        with pytest.raises(ModelCallError, match="every Ray replica of lookup has died"):
            executor.score(sequences)
    finally:
        executor.close()


def test_replica_load_error_named(ray_cluster, lookup_context):
    model = load_model("lookup", lookup_context)
    without_cohort = dataclasses.replace(lookup_context, cohort=None)

    with pytest.raises(ExecutorSetupError) as error:
        RayExecutor(model, None, model_id="lookup", model_context=without_cohort, workers=1)

    message = str(error.value)
    assert "a Ray worker failed to load model 'lookup'" in message
    assert "ModelLoadError" in message
    assert "no cohort was given" in message


def test_replica_digest_mismatch_rejected(ray_cluster, lookup_context):
    parent_model = load_model("population", lookup_context)

    with pytest.raises(ExecutorSetupError, match="has digest sha256:.*every node must read"):
        RayExecutor(parent_model, None, model_id="lookup", model_context=lookup_context, workers=1)


def test_failed_setup_stops_replicas(ray_cluster, lookup_context, gpt_on_ray):
    parent_model = load_model("population", lookup_context)
    free_cpus = RUNTIME_CPUS - len(gpt_on_ray.replicas)
    assert _free_cpus_settle_at(ray_cluster, free_cpus)

    with pytest.raises(ExecutorSetupError):
        RayExecutor(parent_model, None, model_id="lookup", model_context=lookup_context, workers=2)

    assert _free_cpus_settle_at(ray_cluster, free_cpus)


@pytest.mark.parametrize(
    ("workers", "device", "message"),
    [
        (RUNTIME_CPUS + 1, "cpu", f"but the Ray cluster has {RUNTIME_CPUS}; pass --workers"),
        (0, "cpu", "workers must be at least 1, got 0"),
        (1, "cuda", "device 'cuda' needs GPUs, but the Ray cluster has none"),
    ],
)
def test_worker_options_rejected(ray_cluster, lookup_context, workers, device, message):
    model = load_model("lookup", lookup_context)
    context = dataclasses.replace(lookup_context, device=device)

    with pytest.raises(ExecutorSetupError, match=message):
        RayExecutor(model, None, model_id="lookup", model_context=context, workers=workers)


def test_default_workers_one_per_free_cpu(ray_cluster, lookup_context, gpt_on_ray):
    model = load_model("lookup", lookup_context)
    free_cpus = RUNTIME_CPUS - len(gpt_on_ray.replicas)
    assert _free_cpus_settle_at(ray_cluster, free_cpus)

    executor = RayExecutor(
        model, None, model_id="lookup", model_context=lookup_context, progress=False
    )
    try:
        assert len(executor.replicas) == free_cpus
    finally:
        executor.close()
