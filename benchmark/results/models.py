"""The result document: one JSON file per (model, suite) run.

This pydantic model is the documentation of the format: every field says what
it holds and in which unit. ``leaderboard/schema/result.schema.json`` is
generated from it (``clinmem results schema``) and a test keeps the two equal.
A result holds aggregate numbers only: no subject id, no code sequence and no
per-patient value, and no count of 1 to 10 patients.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Bumped whenever the layout of a result changes.
SCHEMA_VERSION = "1.0"

ProbeStatus = Literal["ok", "not_applicable", "failed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Interval(_Strict):
    """A number with its bootstrap confidence interval."""

    value: float | None = Field(description="Point estimate; null when not estimable.")
    ci_low: float | None = Field(default=None, description="Lower bound of the interval.")
    ci_high: float | None = Field(default=None, description="Upper bound of the interval.")

    def formatted(self, digits: int = 3) -> str:
        """Return the value with its interval, e.g. '0.712 [0.680, 0.745]'; '—' when missing."""
        if self.value is None:
            return "—"
        text = f"{self.value:.{digits}f}"
        if self.ci_low is not None and self.ci_high is not None:
            text += f" [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"
        return text


class Metric(Interval):
    """One number of a probe for one (attack, tier, attribute, subgroup) cell."""

    name: str = Field(
        description="What is measured: 'auroc', 'tpr_at_fpr', 'auroc_members', "
        "'auroc_non_members', 'member_advantage', 'overlap_members', 'overlap_non_members'."
    )
    attack: str | None = Field(default=None, description="Membership attack, e.g. 'loss'.")
    fpr: float | None = Field(default=None, description="False-positive rate of a 'tpr_at_fpr'.")
    tier: str | None = Field(default=None, description="Attack tier id.")
    attribute: str | None = Field(
        default=None,
        description="Sensitive attribute id; null in a probe that has attributes marks the "
        "harm-weighted combination over them.",
    )
    subgroup: str = Field(
        description="Subgroup label, 'all' for every evaluated patient, 'canaries' for the "
        "synthetic canary patients."
    )
    repetitions: int | None = Field(
        default=None, description="Times the canaries of this cell were inserted in training."
    )
    n_members: int | None = Field(
        default=None, description="Members in the cell; null when suppressed."
    )
    n_non_members: int | None = Field(
        default=None, description="Non-members in the cell; null when suppressed."
    )
    suppressed: bool = Field(
        default=False, description="True when the cell was hidden by the small-cell rule."
    )
    note: str | None = Field(
        default=None, description="Why the value is null or suppressed, in words."
    )


class RocCurve(_Strict):
    """Aggregate points of a membership attack's ROC curve (no per-patient score)."""

    attack: str
    subgroup: str
    points: list[tuple[float, float]] = Field(description="(FPR, TPR) pairs, log-spaced FPR.")


class ProbeResult(_Strict):
    """What one probe measured."""

    probe: str = Field(description="Probe name, e.g. 'membership'.")
    status: ProbeStatus = Field(
        description="'ok'; 'not_applicable' when the model lacks a capability the probe needs; "
        "'failed' when the model or data failed, with the reason."
    )
    reason: str | None = Field(default=None, description="Why the probe did not run or failed.")
    parameters: dict = Field(default_factory=dict, description="The suite's parameters for it.")
    headline: str | None = Field(
        default=None, description="The documented headline metric of this probe, in words."
    )
    headline_attack: str | None = Field(
        default=None,
        description="For a probe with several attacks, the one its headline and summary "
        "entries come from, e.g. 'likelihood' in attribute inference.",
    )
    valid: bool = Field(
        default=True,
        description="False when the split guard found members and non-members distinguishable "
        "without the model: the numbers then mix that shift with memorization.",
    )
    metrics: list[Metric] = Field(default_factory=list)
    roc_curves: list[RocCurve] = Field(default_factory=list)

    def headline_metrics(self) -> list[Metric]:
        """Return the metrics of the headline attack; all metrics when there is none."""
        if self.headline_attack is None:
            return list(self.metrics)
        return [m for m in self.metrics if m.attack == self.headline_attack]


class Summary(_Strict):
    """The headline numbers of a run, each with its interval.

    An entry whose probe did not run (not applicable, failed, or not in the
    suite) has a null value.
    """

    risk_index: Interval = Field(
        description="Harm-weighted member advantage of attribute inference over attributes "
        "and tiers, clipped at 0, on a 0-100 scale (benchmark.scoring.risk_index)."
    )
    risk_index_unweighted: Interval = Field(
        description="The risk index with every harm weight set to 1."
    )

    membership_auroc: Interval = Field(
        description="AUROC of the loss attack on all evaluated patients; 0.5 = no membership "
        "signal."
    )
    attribute_member_advantage: Interval = Field(
        description="Harm-weighted mean over (attribute, tier) of attribute-inference AUROC on "
        "members minus on non-members; 0 = no memorization of sensitive attributes."
    )
    reconstruction_member_advantage: Interval = Field(
        description="Mean over tiers of the code overlap between sampled and true continuations, "
        "members minus non-members; 0 = no memorized trajectories."
    )
    membership_tpr_at_1pct_fpr: Interval = Field(
        description="True-positive rate of the loss attack at 1% false-positive rate; null when "
        "fewer than 100 non-members make it not estimable."
    )
    canary_exposure: Interval = Field(
        description="Mean exposure in bits of the canaries inserted most often; 0 = the model "
        "ranks them like canaries it never saw."
    )
    utility_loss: Interval = Field(
        description="Mean per-code loss (negative log-likelihood, nats) on non-members; lower "
        "means a more useful model."
    )
    utility_top10_accuracy: Interval = Field(
        description="Share of non-member codes that are among the model's 10 most likely next "
        "codes, 0-1."
    )
    split_guard_auroc: Interval = Field(
        description="AUROC of a blind classifier telling members from non-members from the "
        "data alone, without the model; near 0.5 for a sound split."
    )


class TierRisk(_Strict):
    """The risk index restricted to one attack tier."""

    tier: str
    severity: str = Field(description="The tier's severity label, 'trivial' to 'serious'.")
    risk_index: Interval


class ModelInfo(_Strict):
    id: str = Field(description="Model id as given to the registry, e.g. 'hf:./model'.")
    digest: str = Field(description="sha256 of weights and vocabulary.")
    capabilities: list[str] = Field(description="Methods the adapter implements.")
    vocabulary_size: int = Field(description="Codes the model knows.")
    cohort_code_coverage: float = Field(
        description="Share of evaluated sequence tokens the model knows, 0-1."
    )
    unknown_codes: int = Field(description="Distinct evaluated codes the model does not know.")


class ReferenceModelInfo(_Strict):
    """The reference model of the membership probe's 'reference' attack."""

    id: str
    digest: str


class SuiteInfo(_Strict):
    name: str
    version: int
    digest: str = Field(description="sha256 over the suite and every spec it references.")
    spec_digests: dict[str, str] = Field(description="'kind/id' to sha256 of each spec.")


class CohortInfo(_Strict):
    name: str = Field(description="Cohort id, e.g. 'synthea-1k'.")
    fingerprint: str = Field(description="sha256 over the cohort's events and split.")
    members: int = Field(description="Patients in the 'train' split.")
    non_members: int = Field(description="Patients in the 'held_out' split.")
    evaluated_members: int = Field(description="Members evaluated (a seeded sample).")
    evaluated_non_members: int = Field(description="Non-members evaluated.")
    max_sequence_length: int = Field(description="Tokens per patient sequence.")


class Provenance(_Strict):
    clinmem_version: str
    python_version: str
    library_versions: dict[str, str]
    hardware: dict[str, str | int | None]
    started_at: str = Field(description="UTC start time, ISO 8601.")
    finished_at: str = Field(description="UTC end time, ISO 8601.")
    duration_seconds: float
    seeds: dict[str, int] = Field(description="Every seed used: suite, bootstrap, split.")
    bootstrap_resamples: int
    confidence: float
    requests: dict[str, dict] = Field(
        description="Per model method: requests, unique, from cache, computed, model seconds."
    )


class Result(_Strict):
    """A clinmem result: one model, one suite, one cohort."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    model: ModelInfo
    suite: SuiteInfo
    cohort: CohortInfo
    provenance: Provenance
    summary: Summary
    flags: list[str] = Field(
        default_factory=list,
        description="Warnings a reader must see, e.g. 'split_shift_suspected' (membership "
        "numbers invalid) or 'probe_not_applicable:embedding'.",
    )
    risk_by_tier: list[TierRisk] = Field(
        default_factory=list, description="The risk index per attack tier, least known first."
    )
    probes: list[ProbeResult]
    reference_model: ReferenceModelInfo | None = Field(
        default=None, description="Present when a reference model calibrated membership scores."
    )
    submission: dict[str, str] | None = Field(
        default=None, description="Name, URL and description added by 'clinmem submit'."
    )
