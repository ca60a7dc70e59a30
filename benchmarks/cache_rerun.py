"""Cache rerun: a finished suite run again on the same cache, against the first run.

Every model answer of a run is cached by a content hash of (model digest,
method, request), so a rerun with the same model, suite and cohort computes no
model call: it reads answers from the cache and recomputes metrics and
bootstrap intervals. This script runs the suite on an empty cache, reruns it
on the same cache, checks that the rerun computed nothing and produced the same
summary, and prints the rerun's time as a share of the first run's. With
``--profile`` it lists where a rerun spends its time.

Run from the repository root::

    python -m benchmarks.cache_rerun --model-dir DIR [--suite smoke] [--profile]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    base_parser,
    configure_logging,
    ensure_reference_gpt,
    print_header,
    print_ratio,
    profile_harness,
    time_best_of,
)

GOAL_SHARE = 0.05


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--suite", default="standard", help="suite id or YAML path (standard)")
    parser.add_argument("--profile", action="store_true", help="also profile one rerun")
    arguments = parser.parse_args()
    configure_logging()

    from benchmark.runner.run import RunOptions, run_suite

    model_dir = ensure_reference_gpt(arguments.model_dir)
    print_header(f"cache rerun: suite {arguments.suite}", model_dir)

    with tempfile.TemporaryDirectory(prefix="clinmem-bench-") as folder:
        options = RunOptions(cache_dir=Path(folder) / "cache", progress=False)

        def run():
            return run_suite(
                f"hf:{model_dir}", arguments.suite, None, Path(folder) / "result.json", options
            )

        started = time.perf_counter()
        first = run()
        first_seconds = time.perf_counter() - started
        print(f"first run (empty cache): {first_seconds:.1f} s")

        rerun_timing, rerun = time_best_of(run, arguments.repeats)
        computed = sum(stats["computed"] for stats in rerun.provenance.requests.values())
        served = sum(stats["from_cache"] for stats in rerun.provenance.requests.values())
        print(f"rerun: {rerun_timing.describe()}; {served} answers from cache, {computed} computed")
        assert computed == 0, f"the rerun computed {computed} model answers"
        assert rerun.summary == first.summary, "the rerun's summary differs from the first run's"

        print_ratio(
            "rerun time over first run", rerun_timing.best / first_seconds, GOAL_SHARE, False
        )

        if arguments.profile:
            _, costs = profile_harness(run)
            print("top costs of a rerun:")
            for name, seconds in costs:
                print(f"  {seconds:7.2f} s  {name}")


if __name__ == "__main__":
    main()
