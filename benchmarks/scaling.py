"""Scaling: time and peak memory of a run as the cohort grows from 1k to 20k patients.

Cohorts of each size are made by resampling the bundled cohort's patients
with replacement, keeping each patient's split and giving every copy a new
subject_id, and written as JSONL in a temporary folder. Each size runs
``clinmem run``'s pipeline (``run_suite``) in a fresh Python process, which
reports its wall time and its peak resident memory (``VmHWM`` in
``/proc/self/status``). Two series:

1. fixed evaluated patients: the suite's own ``max_patients_per_group`` (150
   per group in ``smoke``), so only the cohort grows. Time and memory should
   stay flat;
2. evaluated patients growing with the cohort: ``max_patients_per_group`` is
   ``--evaluated-share`` of the cohort size. Time should grow linearly with
   evaluated patients × samples.

A third measurement per size loads the cohort and builds every patient's
sequence, nothing else, to show how much of the peak memory is the cohort
held in memory.

Run from the repository root::

    python -m benchmarks.scaling [--model population] [--sizes 1000 5000 20000]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import base_parser, configure_logging, print_header

GOAL_MEMORY_SPREAD = 0.20


def peak_resident_mib() -> float:
    """Return this process's peak resident set size (VmHWM) in MiB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def write_resampled_cohort(size: int, path: Path, seed: int = 0) -> None:
    """Write ``size`` patients resampled from the bundled cohort as JSONL, new subject ids."""
    import numpy as np

    from benchmark.data.cohort import Cohort, Patient
    from benchmark.data.jsonl import write_jsonl
    from benchmark.data.loading import load_cohort

    source = load_cohort("synthea-1k")
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(source.patients), size=size)
    patients = [
        Patient(
            subject_id=10_000_000 + index,
            split=source.patients[pick].split,
            codes=source.patients[pick].codes,
            times=source.patients[pick].times,
        )
        for index, pick in enumerate(picks)
    ]
    write_jsonl(Cohort(f"resampled-{size}", patients, "", "benchmark"), path)


def write_scaled_suite(folder: Path, per_group: int) -> Path:
    """Write a copy of the smoke suite whose max_patients_per_group is ``per_group``."""
    from benchmark.specs.resources import default_specs_dir

    text = (default_specs_dir() / "suites" / "smoke.yaml").read_text()
    suite_id = f"smoke_scaled_{per_group}"
    text = re.sub(r"(?m)^id: smoke$", f"id: {suite_id}", text)
    text = re.sub(r"max_patients_per_group: \d+", f"max_patients_per_group: {per_group}", text)
    path = folder / "suites" / f"{suite_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def child_main(mode: str, cohort: str, suite: str, model: str, output: str) -> None:
    """Run in a fresh process: measure one run (or one cohort load) and print a JSON line."""
    from benchmark.runner.run import RunOptions, run_suite

    imported = peak_resident_mib()
    started = time.perf_counter()
    if mode == "load":
        from benchmark.data.loading import load_cohort
        from benchmark.data.sequence import build_sequence

        loaded = load_cohort(cohort)
        sequences = [build_sequence(patient, 256) for patient in loaded.patients]
        report = {"patients": len(sequences)}
    else:
        options = RunOptions(cache_dir=None, progress=False)
        result = run_suite(model, suite, cohort, Path(output), options)
        report = {
            "evaluated": result.cohort.evaluated_members + result.cohort.evaluated_non_members,
            "model_seconds": sum(s["model_seconds"] for s in result.provenance.requests.values()),
        }
    report |= {
        "seconds": time.perf_counter() - started,
        "peak_mib": peak_resident_mib(),
        "after_imports_mib": imported,
    }
    print(json.dumps(report))


def measure(mode: str, cohort: Path, suite: str, model: str, folder: Path) -> dict:
    """Run ``child_main`` in a new Python process and return its report."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.scaling",
        "--child",
        mode,
        str(cohort),
        suite,
        model,
        str(folder / "result.json"),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def print_series(title: str, rows: list[tuple[int, dict]], samples: int) -> None:
    print(title)
    print("  patients  evaluated  wall s  model s  s per (evaluated x samples)  peak MiB")
    for size, report in rows:
        unit = report["seconds"] / (report["evaluated"] * samples)
        print(
            f"  {size:8d}  {report['evaluated']:9d}  {report['seconds']:6.1f}  "
            f"{report['model_seconds']:7.1f}  {unit * 1e3:22.2f} ms  {report['peak_mib']:8.0f}"
        )
    peaks = [report["peak_mib"] for _, report in rows]
    spread = max(peaks) / min(peaks) - 1
    verdict = "met" if spread <= GOAL_MEMORY_SPREAD else "NOT met"
    print(f"  peak memory spread: +{spread:.0%} (goal within 20%: {verdict})")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(*sys.argv[2:7])
        return

    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--model", default="population", help="model id (population)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument(
        "--evaluated-share",
        type=float,
        default=0.05,
        help="max_patients_per_group as a share of the cohort size, second series (0.05)",
    )
    arguments = parser.parse_args()
    configure_logging()

    from benchmark.specs.registry import SpecRegistry

    samples = (
        SpecRegistry.load().resolve_suite("smoke").spec.probes["attribute_inference"]["samples"]
    )
    print_header(f"scaling: model {arguments.model}, smoke suite's probes, one process per size")
    with tempfile.TemporaryDirectory(prefix="clinmem-bench-") as name:
        folder = Path(name)
        cohorts = {}
        for size in arguments.sizes:
            cohorts[size] = folder / f"cohort-{size}.jsonl"
            write_resampled_cohort(size, cohorts[size])

        loads = [(s, measure("load", cohorts[s], "", "", folder)) for s in arguments.sizes]
        print("cohort loaded and sequences built, nothing else:")
        for size, report in loads:
            print(
                f"  {size:8d} patients: {report['seconds']:5.1f} s, peak "
                f"{report['peak_mib']:.0f} MiB "
                f"({report['after_imports_mib']:.0f} MiB after imports)"
            )

        fixed = [
            (size, measure("run", cohorts[size], "smoke", arguments.model, folder))
            for size in arguments.sizes
        ]
        print_series("series 1: smoke suite, max_patients_per_group 150", fixed, samples)

        growing = []
        for size in arguments.sizes:
            per_group = max(2, round(size * arguments.evaluated_share))
            suite = write_scaled_suite(folder / "specs", per_group)
            growing.append(
                (size, measure("run", cohorts[size], str(suite), arguments.model, folder))
            )
        print_series(
            f"series 2: max_patients_per_group {arguments.evaluated_share:g} x patients",
            growing,
            samples,
        )


if __name__ == "__main__":
    main()
