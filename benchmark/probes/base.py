"""The shape every probe shares: what it needs, and what it returns.

A probe turns (model, evaluated patients, suite) into aggregate metrics. It
hands its model requests to the executor all at once, never one patient at a
time, and builds every metric from per-patient values that stay in memory
(or go to the investigator's private file), never into the result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from benchmark.data.sequence import PatientSequence
from benchmark.models.base import ModelAdapter
from benchmark.results.models import Metric, RocCurve
from benchmark.runner.executor import LocalExecutor
from benchmark.scoring.bootstrap import BootstrapConfig, Estimate
from benchmark.scoring.subgroups import Subgroup
from benchmark.scoring.suppression import (
    COMPLEMENT_SUPPRESSION_NOTE,
    SUPPRESSION_NOTE,
    any_small_cell,
)


@dataclass
class ProbeContext:
    """Everything a probe may use; built once per run by the runner."""

    suite: Any  # benchmark.specs.registry.ResolvedSuite
    model: ModelAdapter
    executor: LocalExecutor
    sequences: list[PatientSequence]
    is_member: np.ndarray
    subgroups: list[Subgroup]
    bootstrap: BootstrapConfig
    seed: int
    #: The executor of the ``--reference-model``, when one was given.
    reference_executor: LocalExecutor | None = None
    #: The suite's canaries (``benchmark.data.canaries.CanarySet``), when it has any.
    canaries: Any = None


@dataclass
class ProbeOutcome:
    """Aggregate metrics of one probe, plus per-patient rows for the private file."""

    metrics: list[Metric] = field(default_factory=list)
    roc_curves: list[RocCurve] = field(default_factory=list)
    headline: str | None = None
    #: For a probe with several attacks, the one the headline and summary come from.
    headline_attack: str | None = None
    #: Entries of the result's summary this probe computes, by summary field name.
    summary: dict[str, Estimate] = field(default_factory=dict)
    #: The risk index per tier id, from the attribute-inference probe.
    tier_risk: dict[str, Estimate] = field(default_factory=dict)
    private_rows: list[dict] = field(default_factory=list)


class Probe(ABC):
    """One kind of attack."""

    name: ClassVar[str]
    #: Model capabilities the probe needs, from ``benchmark.models.base.CAPABILITIES``.
    requires: ClassVar[frozenset[str]]
    #: Capabilities of which the probe needs at least one; empty when ``requires`` lists them all.
    requires_any: ClassVar[frozenset[str]] = frozenset()
    parameters_model: ClassVar[type[BaseModel]]

    @abstractmethod
    def run(self, context: ProbeContext, parameters: BaseModel) -> ProbeOutcome:
        """Measure the model and return aggregate metrics."""


def metric(
    name: str,
    estimate: Estimate,
    *,
    subgroup: str,
    n_members: int,
    n_non_members: int,
    extra_counts: tuple[int, ...] = (),
    note: str | None = None,
    **labels: Any,
) -> Metric:
    """Build a published metric, applying the small-cell rule to every count given."""
    if any_small_cell(n_members, n_non_members, *extra_counts):
        return Metric(
            name=name,
            value=None,
            subgroup=subgroup,
            suppressed=True,
            note=SUPPRESSION_NOTE,
            **labels,
        )
    return Metric(
        name=name,
        value=estimate.value,
        ci_low=estimate.ci_low,
        ci_high=estimate.ci_high,
        subgroup=subgroup,
        n_members=n_members,
        n_non_members=n_non_members,
        note=note or (None if estimate.value is not None else "not estimable in this cell"),
        **labels,
    )


#: Subgroup labels whose patients are not a part of ``all``, so no complement exists.
_OUTSIDE_ALL = frozenset({"all", "canaries"})
#: Metric fields that contain numbers or counts rather than identify the cell of a metric.
_NON_KEY_FIELDS = frozenset(
    {"value", "ci_low", "ci_high", "subgroup", "n_members", "n_non_members", "suppressed", "note"}
)


def _cell_key(metric: Metric) -> tuple:
    return tuple(
        (name, value) for name, value in metric.model_dump().items() if name not in _NON_KEY_FIELDS
    )


def suppress_complements(metrics: list[Metric]) -> list[Metric]:
    """Hide subgroup cells whose complement within ``all`` counts 1 to 10 patients.

    A cell's own counts pass ``metric``'s check, but the ``all`` cell of the same
    metric publishes the totals. Their difference is the number of members (or
    non-members) outside the subgroup, so a difference of 1 to 10 is a small
    cell too.
    """
    totals = {_cell_key(m): m for m in metrics if m.subgroup == "all" and not m.suppressed}
    kept: list[Metric] = []
    for m in metrics:
        total = None if m.subgroup in _OUTSIDE_ALL or m.suppressed else totals.get(_cell_key(m))
        if total is not None and None not in (
            m.n_members,
            m.n_non_members,
            total.n_members,
            total.n_non_members,
        ):
            outside = (total.n_members - m.n_members, total.n_non_members - m.n_non_members)
            if any_small_cell(*outside):
                m = Metric(
                    **{
                        name: value
                        for name, value in m.model_dump().items()
                        if name not in _NON_KEY_FIELDS
                    },
                    value=None,
                    subgroup=m.subgroup,
                    suppressed=True,
                    note=COMPLEMENT_SUPPRESSION_NOTE,
                )
        kept.append(m)
    return kept
