"""Parameter models of each probe, as a suite's ``probes:`` mapping gives them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MembershipAttack = Literal["loss", "min_k"]


class MembershipParameters(BaseModel):
    """Membership inference from one forward pass per sequence."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    attacks: list[MembershipAttack] = Field(
        default_factory=lambda: ["loss", "min_k"],
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


class AttributeInferenceParameters(GenerationParameters):
    """Sensitive attribute inference by sampling continuations."""


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
