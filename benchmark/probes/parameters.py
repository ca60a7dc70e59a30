"""Parameter models of each probe, as a suite's ``probes:`` mapping gives them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MembershipAttack = Literal["loss", "min_k", "min_k_plus_plus", "zlib", "reference"]


class MembershipParameters(BaseModel):
    """Membership inference from one forward pass per sequence."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    attacks: list[MembershipAttack] = Field(
        default_factory=lambda: ["loss", "min_k", "min_k_plus_plus", "zlib", "reference"],
        min_length=1,
        description="Scores to compute; the headline is always 'loss' when listed, "
        "else the first attack.",
    )
    min_k_fraction: float = Field(
        default=0.2, gt=0, le=1, description="Share of lowest-probability codes Min-K% averages."
    )


class GenerationParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    samples: int = Field(default=8, ge=1, le=1024, description="Continuations sampled per prompt.")
    max_new_tokens: int = Field(
        default=64, ge=1, le=4096, description="Most codes sampled per continuation."
    )
    temperature: float = Field(default=1.0, gt=0, le=10, description="Sampling temperature.")


AttributeAttack = Literal["likelihood", "sampling"]


class AttributeInferenceParameters(GenerationParameters):
    """Sensitive attribute inference: the model's probability of the attribute's codes after
    every prefix of the prompt, and sampled continuations that contain them."""

    attacks: list[AttributeAttack] = Field(
        default_factory=lambda: ["likelihood", "sampling"],
        min_length=1,
        description="Attacks run, in order of preference: 'likelihood' scores the attribute's "
        "codes after every prefix of the prompt (models that can score code sets); 'sampling' "
        "samples continuations (models that can generate). The first one the model supports "
        "is the headline attack, from which the risk index is computed.",
    )

    @field_validator("attacks")
    @classmethod
    def _distinct(cls, attacks: list[str]) -> list[str]:
        if len(set(attacks)) != len(attacks):
            raise ValueError("an attack is listed more than once")
        return attacks


class ReconstructionParameters(GenerationParameters):
    """Trajectory reconstruction: sampled continuations against the true one."""

    max_new_tokens: int = Field(
        default=32, ge=1, le=4096, description="Most codes sampled, and true codes compared."
    )


PROBE_PARAMETERS: dict[str, type[BaseModel]] = {
    "membership": MembershipParameters,
    "attribute_inference": AttributeInferenceParameters,
    "reconstruction": ReconstructionParameters,
}


PerturbationKind = Literal["drop", "replace", "age_shift"]


class PerturbationParameters(GenerationParameters):
    """Attribute inference and reconstruction rerun on prompts with patient details changed."""

    kinds: list[PerturbationKind] = Field(
        default_factory=lambda: ["drop", "replace", "age_shift"],
        min_length=1,
        description="Changes applied, each on its own: 'drop' removes codes, 'replace' swaps "
        "codes for population codes of the same vocabulary, 'age_shift' moves every age band "
        "five years.",
    )
    codes_changed: int = Field(
        default=3, ge=1, le=1000, description="Codes dropped or replaced per prompt."
    )
    max_new_tokens: int = Field(
        default=24, ge=1, le=4096, description="Most codes sampled per continuation."
    )
    samples: int = Field(default=4, ge=1, le=1024, description="Continuations sampled per prompt.")


PROBE_PARAMETERS["perturbation"] = PerturbationParameters


class UtilityParameters(BaseModel):
    """Held-out utility: how well the model predicts non-members' codes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    top_k: int = Field(default=10, ge=1, le=1000, description="k of the next-code top-k accuracy.")


class EmbeddingParameters(BaseModel):
    """A linear probe reading sensitive attributes off patient embeddings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    regularization: float = Field(
        default=1.0,
        gt=0,
        description="Inverse L2 regularization strength C of the logistic regression.",
    )


PROBE_PARAMETERS["utility"] = UtilityParameters
PROBE_PARAMETERS["embedding"] = EmbeddingParameters


class CanaryProbeParameters(BaseModel):
    """Canary exposure; the canaries themselves are set in the suite's ``canaries``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


PROBE_PARAMETERS["canary"] = CanaryProbeParameters
