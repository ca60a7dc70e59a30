"""Harness overhead: a whole suite's wall time against the time spent in model calls.

clinmem's cost should be the model's compute. This script runs a suite on the
reference GPT with an empty cache, as ``clinmem run`` does. It divides the
run's wall time by the seconds the executor spent inside model calls, which
the result's ``provenance.requests`` records per method (score,
score_details, generate, embed). The wall time includes everything a user waits for: loading specs,
cohort and model, building prompts, the cache, metrics, bootstrap intervals and
writing the result. With ``--profile`` a further run under pyinstrument lists
the harness functions that take the most time outside model calls.

Run from the repository root::

    python -m benchmarks.harness_overhead --model-dir DIR [--suite smoke] [--profile]
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
    suite_model_seconds,
)

GOAL_RATIO = 1.25


def run_with_empty_cache(model_dir: Path, suite: str, batch_size: int):
    """Run ``suite`` on the model with a new, empty cache; return (result, wall seconds)."""
    from benchmark.runner.run import RunOptions, run_suite

    with tempfile.TemporaryDirectory(prefix="clinmem-bench-") as folder:
        options = RunOptions(
            cache_dir=Path(folder) / "cache", batch_size=batch_size, progress=False
        )
        started = time.perf_counter()
        result = run_suite(f"hf:{model_dir}", suite, None, Path(folder) / "result.json", options)
        return result, time.perf_counter() - started


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.set_defaults(repeats=1)
    parser.add_argument("--suite", default="standard", help="suite id or YAML path (standard)")
    parser.add_argument("--batch-size", type=int, default=32, help="scoring batch size (32)")
    parser.add_argument(
        "--profile", action="store_true", help="also profile one run and list harness costs"
    )
    arguments = parser.parse_args()
    configure_logging()

    model_dir = ensure_reference_gpt(arguments.model_dir)
    print_header(f"harness overhead: suite {arguments.suite}, empty cache", model_dir)

    ratios = []
    for repeat in range(arguments.repeats):
        result, wall = run_with_empty_cache(model_dir, arguments.suite, arguments.batch_size)
        model_seconds = suite_model_seconds(result)
        ratios.append(wall / model_seconds)
        methods = ", ".join(
            f"{method} {stats['computed']} computed in {stats['model_seconds']:.1f} s"
            for method, stats in result.provenance.requests.items()
        )
        print(
            f"run {repeat + 1}: wall {wall:.1f} s, model calls {model_seconds:.1f} s, "
            f"harness {wall - model_seconds:.1f} s ({methods})"
        )
    print_ratio("wall time over model time, best run", min(ratios), GOAL_RATIO, False)

    if arguments.profile:
        print("profiling one more run with pyinstrument (sampling every 5 ms)")
        (result, wall), costs = profile_harness(
            lambda: run_with_empty_cache(model_dir, arguments.suite, arguments.batch_size)
        )
        harness = wall - suite_model_seconds(result)
        print(f"profiled run: wall {wall:.1f} s, harness {harness:.1f} s; top harness costs:")
        for name, seconds in costs:
            print(f"  {seconds:7.2f} s  {name}")


if __name__ == "__main__":
    main()
