"""Trajectory distance: clinmem's assignment solver against general optimal-transport solvers.

clinmem's earth mover's distance pads the shorter continuation with unmatched
mass and solves the square assignment problem with
``scipy.optimize.linear_sum_assignment``. With equal masses on both sides, the
optimal transport plan of that padded problem is a permutation (Birkhoff's
theorem), so a general optimal-transport solver on the same cost matrix with
uniform weights gives the same distance. This script computes the distance of
the same pairs three ways, checks that the values agree to 1e-6, and prints
the time ratios:

- clinmem: ``benchmark.scoring.trajectory_distance.trajectory_distance``;
- POT's ``ot.emd`` (network simplex), when POT is installed
  (``pip install pot``);
- ``scipy.optimize.linprog`` (HiGHS) on the transport linear program.

Pairs are continuations of 1 to ``--max-length`` codes drawn from the bundled
cohort's patients, the length a suite's ``max_new_tokens`` gives.

Run from the repository root::

    python -m benchmarks.trajectory_distance
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import (
    base_parser,
    configure_logging,
    print_header,
    print_ratio,
    time_best_of,
)

TOLERANCE = 1e-6


def continuation_pairs(count: int, max_length: int, seed: int = 0) -> list[tuple[list, list]]:
    """Return ``count`` (generated, truth) pairs of code windows from different patients."""
    from benchmark.data.loading import load_cohort
    from benchmark.data.sequence import build_sequence

    cohort = load_cohort("synthea-1k")
    sequences = [build_sequence(patient, 256).events for patient in cohort.patients]
    sequences = [events for events in sequences if len(events) >= max_length]
    rng = np.random.default_rng(seed)

    pairs = []
    for _ in range(count):
        left, right = rng.choice(len(sequences), size=2, replace=False)
        pairs.append(
            (
                list(sequences[left][: rng.integers(1, max_length + 1)]),
                list(sequences[right][: rng.integers(1, max_length + 1)]),
            )
        )
    return pairs


def linprog_distance(costs: np.ndarray) -> float:
    """Solve the transport LP with uniform masses on a square cost matrix."""
    from scipy.optimize import linprog

    size = costs.shape[0]
    # Plan variables x[i, j], row-major; each row and each column carries mass 1/size.
    rows = np.kron(np.eye(size), np.ones(size))
    columns = np.kron(np.ones(size), np.eye(size))
    equality = np.vstack([rows, columns])
    mass = np.full(2 * size, 1.0 / size)
    solution = linprog(costs.ravel(), A_eq=equality, b_eq=mass, bounds=(0, None), method="highs")
    if not solution.success:
        raise RuntimeError(f"linprog failed: {solution.message}")
    return float(solution.fun)


def pot_distance(costs: np.ndarray) -> float:
    """Solve the same transport problem with POT's network simplex."""
    import ot

    size = costs.shape[0]
    weights = np.full(size, 1.0 / size)
    return float(ot.emd2(weights, weights, costs))


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=500, help="pairs compared (500)")
    parser.add_argument("--max-length", type=int, default=48, help="codes per side at most (48)")
    parser.add_argument(
        "--linprog-pairs",
        type=int,
        default=50,
        help="pairs linprog is timed on, scaled per pair (50)",
    )
    arguments = parser.parse_args()
    configure_logging()

    from benchmark.scoring.trajectory_distance import padded_cost_matrix, trajectory_distance

    print_header("trajectory distance: linear_sum_assignment vs general OT solvers")
    pairs = continuation_pairs(arguments.pairs, arguments.max_length)
    print(f"{len(pairs)} pairs of 1 to {arguments.max_length} codes per side")

    clinmem_timing, clinmem_values = time_best_of(
        lambda: [trajectory_distance(generated, truth) for generated, truth in pairs],
        arguments.repeats,
    )
    clinmem_per_pair = clinmem_timing.best / len(pairs)
    print(
        f"clinmem: {clinmem_timing.describe()}, {clinmem_per_pair * 1e6:.0f} us per pair "
        "(cost matrix included)"
    )

    try:
        import ot  # noqa: F401
    except ImportError:
        print("POT: not installed (pip install pot); skipped")
    else:
        pot_timing, pot_values = time_best_of(
            lambda: [pot_distance(padded_cost_matrix(g, t)) for g, t in pairs], arguments.repeats
        )
        difference = float(np.max(np.abs(np.array(pot_values) - np.array(clinmem_values))))
        print(f"POT ot.emd2: {pot_timing.describe()}, max |difference| {difference:.2e}")
        assert difference <= TOLERANCE, f"POT differs by {difference} > {TOLERANCE}"
        print_ratio("speedup of clinmem over POT ot.emd2", pot_timing.best / clinmem_timing.best)

    subset = pairs[: arguments.linprog_pairs]
    linprog_timing, linprog_values = time_best_of(
        lambda: [linprog_distance(padded_cost_matrix(g, t)) for g, t in subset], arguments.repeats
    )
    difference = float(
        np.max(np.abs(np.array(linprog_values) - np.array(clinmem_values[: len(subset)])))
    )
    linprog_per_pair = linprog_timing.best / len(subset)
    print(
        f"linprog (HiGHS): timed on {len(subset)} pairs, {linprog_timing.describe()}, "
        f"{linprog_per_pair * 1e6:.0f} us per pair, max |difference| {difference:.2e}"
    )
    assert difference <= TOLERANCE, f"linprog differs by {difference} > {TOLERANCE}"
    print_ratio("speedup of clinmem over linprog, per pair", linprog_per_pair / clinmem_per_pair)


if __name__ == "__main__":
    main()
