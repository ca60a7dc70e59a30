"""Pydantic models of the four spec kinds: attribute, tier, subgroup, suite.

Spec authors write these as YAML under ``specs/``; every field here is
documented, and ``clinmem specs schema`` writes the JSON Schema made from
these models. Unknown keys are errors, so a misspelt field never passes
silently.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

SPEC_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
SpecId = Annotated[str, Field(pattern=SPEC_ID_PATTERN, max_length=64)]

Severity = Literal["trivial", "low", "moderate", "high", "serious"]
SEVERITY_ORDER: tuple[str, ...] = ("trivial", "low", "moderate", "high", "serious")

CODE_SEPARATOR = "//"


def _check_pattern(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid regular expression {pattern!r}: {error}") from error
    return pattern


CodePattern = Annotated[str, AfterValidator(_check_pattern)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SpecId = Field(description="Unique id within its kind: lowercase letters, digits, '_'.")
    name: str = Field(min_length=1, max_length=200, description="Human-readable name.")
    description: str = Field(min_length=1, description="What this spec is and why it exists.")


class AttributeSpec(_Spec):
    """A sensitive attribute: a condition or fact whose disclosure harms a patient."""

    kind: Literal["attribute"] = Field(description="Always 'attribute'.")
    category: str = Field(
        min_length=1,
        max_length=64,
        description="Grouping shown in reports, e.g. 'reproductive', 'substance_use'.",
    )
    harm_weight: float = Field(
        gt=0,
        le=10,
        description="Relative harm of disclosure, on a 0-10 scale (10 = most harmful). "
        "Weights the attribute in the risk index.",
    )
    harm_rationale: str = Field(
        min_length=1, description="Why this weight: the harm a disclosure causes, with sources."
    )
    codes: dict[str, Annotated[list[CodePattern], Field(min_length=1)]] = Field(
        min_length=1,
        description="Code patterns per vocabulary, e.g. {SNOMED: ['79586000']}. A cohort code "
        "'VOCAB//VALUE' carries the attribute when VOCAB is a key here and VALUE fully matches "
        "one of its regular expressions.",
    )
    control: bool = Field(
        default=False,
        description="True for a generalization control: an attribute that other codes "
        "predict for any patient, so its member advantage should be near 0.",
    )

    @cached_property
    def _compiled(self) -> dict[str, re.Pattern[str]]:
        return {
            vocabulary: re.compile("|".join(f"(?:{p})" for p in patterns))
            for vocabulary, patterns in self.codes.items()
        }

    def matches(self, code: str) -> bool:
        """Return whether a cohort code carries this attribute.

        >>> spec = AttributeSpec(kind="attribute", id="x", name="X", description="d",
        ...     category="c", harm_weight=1, harm_rationale="r", codes={"SNOMED": ["7920.*"]})
        >>> spec.matches("SNOMED//79200001"), spec.matches("LOINC//79200001")
        (True, False)
        """
        vocabulary, separator, value = code.partition(CODE_SEPARATOR)
        if not separator:
            return False
        pattern = self._compiled.get(vocabulary)
        return pattern is not None and pattern.fullmatch(value) is not None


class FirstEvents(BaseModel):
    """Reveal the first N events of the record."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    first_events: int = Field(ge=1, description="Number of events revealed, from the start.")


class HistoryFraction(BaseModel):
    """Reveal the first fraction of the record's events."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fraction: float = Field(gt=0, lt=1, description="Share of events revealed, from the start.")


HistoryReveal = Literal["none", "all"] | FirstEvents | HistoryFraction


class Reveals(BaseModel):
    """What the attacker knows about the target patient."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    demographics: bool = Field(description="Sex and age band at the first event are known.")
    history: HistoryReveal = Field(
        description="Which events are known: 'none', 'all' (every event but the target "
        "attribute's codes), {first_events: N} or {fraction: F}."
    )


class TierSpec(_Spec):
    """An attack tier: the attacker's prior knowledge when building a prompt."""

    kind: Literal["tier"] = Field(description="Always 'tier'.")
    severity: Severity = Field(
        description="How realistic and damaging an attack at this tier is, from 'trivial' "
        "(knows nothing) to 'serious' (knows almost the whole record)."
    )
    reveals: Reveals


class AllPatients(BaseModel):
    """Every patient."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["all"]


class AttributeCarriers(BaseModel):
    """Patients whose record carries an attribute; without ``attribute``, one
    subgroup per attribute of the suite."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["attribute_carriers"]
    attribute: SpecId | None = Field(
        default=None,
        description="Id of an attribute spec; null makes one subgroup per suite attribute.",
    )


class AgeRange(BaseModel):
    """Patients whose age at their last event lies in [min_years, max_years)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["age"]
    min_years: float | None = Field(
        default=None, ge=0, description="Lower age bound, included, in years; null for no minimum."
    )
    max_years: float | None = Field(
        default=None, gt=0, description="Upper age bound, excluded, in years; null for no maximum."
    )


class Sex(BaseModel):
    """Patients with a given sex code."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["sex"]
    code: str = Field(description="The sex code, e.g. 'GENDER//F'.")


class RareCodeCarriers(BaseModel):
    """Patients with a code that fewer than ``max_patient_share`` of all patients have."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["rare_code"]
    max_patient_share: float = Field(
        gt=0,
        lt=1,
        description="A code is rare when fewer than this share of all patients have it (0-1).",
    )


class UniqueProfile(BaseModel):
    """Patients whose first ``first_codes`` codes no other patient shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["unique_profile"]
    first_codes: int = Field(ge=1, description="Number of codes compared, from the start.")


class RecordLength(BaseModel):
    """Patients whose sequence has between min_events and max_events events (inclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["record_length"]
    min_events: int | None = Field(
        default=None, ge=0, description="Fewest events included; null for no minimum."
    )
    max_events: int | None = Field(
        default=None, ge=0, description="Most events included; null for no maximum."
    )


SubgroupRule = Annotated[
    AllPatients
    | AttributeCarriers
    | AgeRange
    | Sex
    | RareCodeCarriers
    | UniqueProfile
    | RecordLength,
    Field(discriminator="kind"),
]


class SubgroupSpec(_Spec):
    """A rule that selects patients, so every metric can be broken down by it."""

    kind: Literal["subgroup"] = Field(description="Always 'subgroup'.")
    rule: SubgroupRule


class CohortParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_sequence_length: int = Field(
        default=256,
        ge=8,
        le=8192,
        description="Tokens per patient sequence, demographics included.",
    )
    max_patients_per_group: int | None = Field(
        default=None,
        ge=2,
        description="Members and non-members evaluated, each; a seeded sample when the "
        "cohort has more. Null evaluates every non-member and as many members.",
    )


class BootstrapParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    resamples: int = Field(
        default=1000, ge=0, description="Bootstrap resamples; 0 disables intervals."
    )
    confidence: float = Field(default=0.95, gt=0, lt=1, description="Interval coverage.")


class CanaryParameters(BaseModel):
    """Synthetic canary patients inserted into the training set, to measure exposure."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    seed: int = Field(default=0, ge=0, description="Seed of the canary generator.")
    repetitions: list[int] = Field(
        default_factory=lambda: [1, 2, 4, 8, 16],
        min_length=1,
        description="How many times each inserted canary appears in the training set.",
    )
    per_repetition: int = Field(
        default=5, ge=1, le=1000, description="Canaries inserted at each repetition count."
    )
    references: int = Field(
        default=200,
        ge=10,
        le=100_000,
        description="Reference canaries from the same generator, never inserted; the "
        "candidate space an inserted canary is ranked in.",
    )
    length: int = Field(
        default=40, ge=4, le=4096, description="Clinical codes per canary, after demographics."
    )

    @field_validator("repetitions")
    @classmethod
    def _positive_distinct(cls, repetitions: list[int]) -> list[int]:
        if any(r < 1 for r in repetitions):
            raise ValueError("every repetition count must be at least 1")
        if len(set(repetitions)) != len(repetitions):
            raise ValueError("repetition counts must be distinct")
        return sorted(repetitions)


class SuiteSpec(_Spec):
    """A versioned binding of probes, tiers, attributes and subgroups."""

    kind: Literal["suite"] = Field(description="Always 'suite'.")
    version: int = Field(ge=1, description="Bumped whenever a change can move any score.")
    attributes: list[SpecId] = Field(min_length=1, description="Attribute ids.")
    tiers: list[SpecId] = Field(min_length=1, description="Tier ids, from least to most known.")
    subgroups: list[SpecId] = Field(default_factory=list, description="Subgroup ids.")
    probes: dict[SpecId, dict[str, Any]] = Field(
        min_length=1,
        description="Probe name to its parameters; each probe documents its own parameters.",
    )
    cohort: CohortParameters = Field(default_factory=CohortParameters)
    bootstrap: BootstrapParameters = Field(default_factory=BootstrapParameters)
    seed: int = Field(default=0, ge=0, description="Seed of every random choice of the run.")
    canaries: CanaryParameters | None = Field(
        default=None,
        description="Canary patients added to the suite's training set; null for none. "
        "'clinmem data export-training-set' writes that training set.",
    )

    @field_validator("probes", mode="before")
    @classmethod
    def _empty_parameters(cls, probes: Any) -> Any:
        # ``membership:`` with nothing after it means the probe's default parameters.
        if isinstance(probes, dict):
            return {name: {} if value is None else value for name, value in probes.items()}
        return probes

    @field_validator("attributes", "tiers", "subgroups")
    @classmethod
    def _no_duplicates(cls, values: list[str]) -> list[str]:
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates:
            raise ValueError(f"lists {duplicates} more than once")
        return values


SPEC_MODELS: dict[str, type[_Spec]] = {
    "attribute": AttributeSpec,
    "tier": TierSpec,
    "subgroup": SubgroupSpec,
    "suite": SuiteSpec,
}
