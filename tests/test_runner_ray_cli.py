"""``clinmem run --executor ray`` from the command line, with no Ray runtime running.

The runtime test in ``test_runner_ray.py`` shares one runtime; these tests
need none, or start and stop their own through the CLI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from benchmark.cli.main import main
from benchmark.runner.ray_executor import (
    LOCAL_RUNTIME_ENVIRONMENT,
    ExecutorSetupError,
    RayNotInstalledError,
    check_executor_options,
)

requires_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="the ray extra is not installed"
)

# Few patients and samples, so that two runs of it take seconds.
SMALL_SUITE = """
kind: suite
id: ray_check
name: Ray executor check
description: Few patients and samples, for comparing executors quickly.
version: 1
attributes: [depression, hiv]
tiers: [none, half_history]
subgroups: [all]
probes:
  membership:
    attacks: [loss, min_k]
    min_k_fraction: 0.2
  attribute_inference:
    samples: 2
    max_new_tokens: 8
    temperature: 1.0
cohort:
  max_sequence_length: 64
  max_patients_per_group: 30
bootstrap:
  resamples: 50
seed: 0
"""


def _run(arguments: list[str]):
    return CliRunner().invoke(main, ["run", "--no-progress", *arguments])


def test_missing_ray_names_install_command(tmp_path, monkeypatch):
    # A None entry in sys.modules makes `import ray` raise ImportError.
    monkeypatch.setitem(sys.modules, "ray", None)
    output = tmp_path / "result.json"

    result = _run(
        ["--model", "lookup", "--suite", "smoke", "--output", str(output), "--executor", "ray"]
    )

    assert result.exit_code == 1
    assert "--executor ray needs the ray package" in result.output
    assert "pip install 'clinmem[ray]'" in result.output
    assert "Traceback" not in result.output
    assert not output.exists()


def test_missing_ray_error_class(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)

    with pytest.raises(RayNotInstalledError, match=r"pip install 'clinmem\[ray\]'"):
        check_executor_options("ray", None, 2)


@pytest.mark.parametrize("option", [["--workers", "2"], ["--ray-address", "auto"]])
def test_ray_options_need_ray_executor(tmp_path, option):
    output = tmp_path / "result.json"

    result = _run(["--model", "lookup", "--suite", "smoke", "--output", str(output), *option])

    assert result.exit_code == 1
    assert "--ray-address and --workers apply only to --executor ray" in result.output
    assert not output.exists()


def test_unknown_executor_rejected():
    with pytest.raises(ExecutorSetupError, match="unknown executor 'dask'; choose one of local"):
        check_executor_options("dask", None, None)


def test_unknown_executor_rejected_by_cli(tmp_path):
    result = _run(["--model", "lookup", "--output", str(tmp_path / "r.json"), "--executor", "dask"])

    assert result.exit_code == 2
    assert "'dask' is not one of 'local', 'ray'" in result.output


@requires_ray
def test_invalid_ray_address_named(tmp_path):
    output = tmp_path / "result.json"

    result = _run(
        [
            "--model",
            "lookup",
            "--suite",
            "smoke",
            "--output",
            str(output),
            "--no-cache",
            "--executor",
            "ray",
            "--ray-address",
            "not an address",
        ]
    )

    assert result.exit_code == 1
    assert "failed to connect to the Ray cluster at 'not an address'" in result.output
    assert "ray start --head" in result.output
    assert not output.exists()


@requires_ray
@pytest.mark.slow
def test_ray_run_resumes_locally(tmp_path):
    suite = tmp_path / "ray_check.yaml"
    suite.write_text(SMALL_SUITE)
    common = ["--model", "population", "--suite", str(suite), "--cache-dir", str(tmp_path)]
    # A fresh process, as a user starts it: ray is first imported by clinmem.
    environment = {k: v for k, v in os.environ.items() if k not in LOCAL_RUNTIME_ENVIRONMENT}
    # Without --ray-address the command starts its own runtime, whatever RAY_ADDRESS says.
    environment["RAY_ADDRESS"] = "not an address"

    on_ray = subprocess.run(
        [sys.executable, "-m", "benchmark.cli.main", "--log-level", "info", "run"]
        + ["--no-progress", *common, "--output", str(tmp_path / "ray.json"), "--executor", "ray"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert on_ray.returncode == 0, on_ray.stderr
    assert "Ray runtime at 127.0.0.1:" in on_ray.stderr

    # The Ray run stored every answer in the parent's cache, so a local run
    # computes nothing and gets the same numbers.
    local = _run([*common, "--output", str(tmp_path / "local.json")])
    assert local.exit_code == 0, local.output

    ray_result = json.loads((tmp_path / "ray.json").read_text())
    local_result = json.loads((tmp_path / "local.json").read_text())
    assert (
        local_result["provenance"]["requests"].keys() == ray_result["provenance"]["requests"].keys()
    )
    assert "generate" in local_result["provenance"]["requests"]
    for method, statistics in local_result["provenance"]["requests"].items():
        assert ray_result["provenance"]["requests"][method]["computed"] > 0, method
        assert statistics["computed"] == 0, method
        assert statistics["from_cache"] == statistics["unique"], method
    assert local_result["summary"] == ray_result["summary"]
    assert local_result["probes"] == ray_result["probes"]
