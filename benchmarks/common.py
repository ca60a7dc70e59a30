"""Shared pieces of the performance benchmarks: the model under test, timing, output.

Every benchmark script compares clinmem with another way of doing the same work,
in one process and one run, and prints the comparison as a ratio. The model is
clinmem's reference GPT: pass the folder that
``clinmem train-reference --out DIR --epochs 2`` wrote as ``--model-dir``, or
leave it out and the script trains the same GPT-2 (2 layers, 4 heads, 128
dimensions) for 2 epochs in a temporary folder first, which takes a few minutes
on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: Timing repeats; the machines these ran on are shared, so the fastest repeat is reported.
DEFAULT_REPEATS = 3


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of every repeat of one measured call."""

    seconds: tuple[float, ...]

    @property
    def best(self) -> float:
        return min(self.seconds)

    def describe(self) -> str:
        spread = ", ".join(f"{s:.3f}" for s in self.seconds)
        return f"best {self.best:.3f} s of {len(self.seconds)} ({spread})"


def time_best_of(function: Callable[[], T], repeats: int = DEFAULT_REPEATS) -> tuple[Timing, T]:
    """Call ``function`` ``repeats`` times; return the timings and the last call's value."""
    seconds = []
    value: Any = None
    for _ in range(repeats):
        started = time.perf_counter()
        value = function()
        seconds.append(time.perf_counter() - started)
    return Timing(tuple(seconds)), value


def base_parser(description: str) -> argparse.ArgumentParser:
    """Return an argument parser with the options every benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="folder written by 'clinmem train-reference --epochs 2'; without it the "
        "reference GPT is trained for 2 epochs in a temporary folder first",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help="timing repeats per measurement; the fastest is reported (default 3)",
    )
    return parser


def configure_logging() -> None:
    """Send warnings to standard error, and flush each printed line even into a file."""
    sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def ensure_reference_gpt(model_dir: Path | None) -> Path:
    """Return the folder of the reference GPT, training it in a temporary folder if needed."""
    if model_dir is not None:
        if not (model_dir / "config.json").is_file():
            raise SystemExit(
                f"{model_dir} has no config.json; write the model there with "
                f"'clinmem train-reference --out {model_dir} --epochs 2' first"
            )
        return model_dir

    from benchmark.data.loading import load_cohort
    from benchmark.data.training_set import suite_training_cohort
    from benchmark.models.training import train_reference_gpt
    from benchmark.specs.registry import SpecRegistry

    folder = Path(tempfile.mkdtemp(prefix="clinmem-bench-gpt-")) / "reference-gpt"
    print(f"no --model-dir: training the reference GPT (2 epochs) into {folder}")
    cohort = load_cohort("synthea-1k")
    cohort, _ = suite_training_cohort(cohort, SpecRegistry.load().resolve_suite("standard"))
    train_reference_gpt(cohort, folder, epochs=2, progress=False)
    return folder


def load_reference_adapter(model_dir: Path, batch_size: int = 32) -> Any:
    """Load the reference GPT through clinmem's ``hf:`` adapter."""
    from benchmark.models.registry import ModelContext, load_model

    return load_model(f"hf:{model_dir}", ModelContext(cohort=None, batch_size=batch_size))


def machine_line() -> str:
    """Describe the machine: CPU cores this process may use, and the load average."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{platform.machine()}, {cores} cores, no GPU used, load average {load}"


def print_header(title: str, model_dir: Path | None = None) -> None:
    """Print what is measured, on which machine, and with which model."""
    print(f"== {title}")
    print(f"machine: {machine_line()}")
    if model_dir is not None:
        print(f"model: reference GPT in {model_dir}")


def print_ratio(name: str, ratio: float, goal: float | None = None, higher_is_better=True) -> bool:
    """Print a ratio with its goal; return whether the goal is met (True without a goal)."""
    if goal is None:
        print(f"{name}: {ratio:.2f}x")
        return True
    met = ratio >= goal if higher_is_better else ratio <= goal
    sign = ">=" if higher_is_better else "<="
    print(f"{name}: {ratio:.2f}x (goal {sign} {goal:g}x: {'met' if met else 'NOT met'})")
    return met


def profile_harness(function: Callable[[], T], top: int = 15) -> tuple[T, list[tuple[str, float]]]:
    """Run ``function`` under pyinstrument; return its value and the top harness costs.

    Time inside ``benchmark.runner.executor.call_model`` (the model adapter's
    own work) is left out. Every other sampled second is charged to the
    innermost clinmem function on its stack (a function in the ``benchmark``
    package), so a NumPy call made by the bootstrap counts as bootstrap time.
    Needs ``pip install pyinstrument``.
    """
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.005)
    profiler.start()
    try:
        value = function()
    finally:
        profiler.stop()

    package = str(Path(__file__).resolve().parent.parent / "benchmark")
    costs: dict[str, float] = {}

    def walk(frame: Any, owner: str) -> None:
        path = frame.file_path or ""
        if frame.function == "call_model" and path.endswith("executor.py"):
            return
        if path.startswith(package):
            owner = f"{path[len(package) - len('benchmark') :]}:{frame.function}"
        costs[owner] = costs.get(owner, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child, owner)

    walk(profiler.last_session.root_frame(), "(outside clinmem: imports, start-up)")
    ranked = sorted(costs.items(), key=lambda item: -item[1])[:top]
    return value, ranked


def suite_model_seconds(result: Any) -> float:
    """Return the seconds a run spent inside model calls, from its result's provenance."""
    return sum(stats["model_seconds"] for stats in result.provenance.requests.values())
