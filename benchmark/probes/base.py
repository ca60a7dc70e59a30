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
from benchmark.scoring.suppression import SUPPRESSION_NOTE, any_small_cell


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
