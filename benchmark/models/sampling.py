"""Batched sampling from a causal LM with a key-value cache.

Rows are prompts of token ids, left-padded to one width so that every row's
next token sits in the last column. Each row draws its uniform numbers from its
own ``torch.Generator``, seeded from (request seed, sample index), and turns
them into tokens by inverse CDF over the softmax at its temperature. A row's
samples therefore do not depend on which other rows share its batch, up to
float rounding differences that padding can cause in the logits.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class SamplingRow:
    """One continuation to sample: its prompt ids (BOS included) and settings."""

    prompt_ids: tuple[int, ...]
    max_new_tokens: int
    temperature: float
    seed: int


def row_seed(request_seed: int, sample_index: int) -> int:
    """Derive the generator seed of one sample from its request's seed (63-bit, stable)."""
    digest = hashlib.sha256(f"clinmem-sample:{request_seed}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def sample_rows(
    model: Any,
    rows: Sequence[SamplingRow],
    *,
    allowed_ids: torch.Tensor,
    eos_id: int | None,
    pad_id: int,
) -> list[list[int]]:
    """Sample a continuation of token ids for every row in one batch.

    ``allowed_ids`` is a boolean mask over the model's logits: tokens outside
    it (special tokens other than EOS) are never drawn. A row stops at EOS,
    which is not returned, or after its ``max_new_tokens``.
    """
    import torch

    device = allowed_ids.device
    count = len(rows)
    width = max(len(row.prompt_ids) for row in rows)

    input_ids = torch.full((count, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((count, width), dtype=torch.long)
    for index, row in enumerate(rows):
        input_ids[index, width - len(row.prompt_ids) :] = torch.tensor(row.prompt_ids)
        attention_mask[index, width - len(row.prompt_ids) :] = 1
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)

    # Left padding shifts each prompt right, so positions count real tokens only.
    position_ids = (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)
    temperatures = torch.tensor([row.temperature for row in rows], dtype=torch.float64)
    generators = [torch.Generator().manual_seed(row.seed) for row in rows]
    limits = [row.max_new_tokens for row in rows]

    parameters = inspect.signature(model.forward).parameters
    # transformers 5.x renamed the forward argument ``past_key_values`` to ``cache``.
    cache_argument = "cache" if "cache" in parameters else "past_key_values"
    passes_positions = "position_ids" in parameters

    output = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        use_cache=True,
        **({"position_ids": position_ids} if passes_positions else {}),
    )
    cache = _output_cache(output)
    next_positions = position_ids[:, -1:] + 1

    generated: list[list[int]] = [[] for _ in rows]
    finished = [limit == 0 for limit in limits]
    for _ in range(max(limits)):
        if all(finished):
            break
        tokens = draw_tokens(output.logits[:, -1, :], allowed_ids, temperatures, generators)

        for index, token in enumerate(tokens.tolist()):
            if finished[index]:
                continue
            if token == eos_id:
                finished[index] = True
                continue
            generated[index].append(token)
            finished[index] = len(generated[index]) >= limits[index]
        if all(finished):
            break

        attention_mask = torch.cat(
            [attention_mask, torch.ones((count, 1), dtype=torch.long, device=device)], dim=-1
        )
        output = model(
            input_ids=tokens.to(device).unsqueeze(-1),
            attention_mask=attention_mask,
            use_cache=True,
            **{cache_argument: cache},
            **({"position_ids": next_positions} if passes_positions else {}),
        )
        cache = _output_cache(output)
        next_positions = next_positions + 1
    return generated


def draw_tokens(
    logits: torch.Tensor,
    allowed_ids: torch.Tensor,
    temperatures: torch.Tensor,
    generators: Sequence[torch.Generator],
) -> torch.Tensor:
    """Draw one token per row by inverse CDF, one uniform from each row's generator."""
    import torch

    scaled = logits.detach().to("cpu", torch.float64) / temperatures.unsqueeze(-1)
    scaled = scaled.masked_fill(~allowed_ids.to("cpu"), float("-inf"))
    cumulative = torch.softmax(scaled, dim=-1).cumsum(dim=-1)

    uniforms = torch.cat(
        [torch.rand(1, generator=generator, dtype=torch.float64) for generator in generators]
    )
    targets = uniforms.unsqueeze(-1) * cumulative[:, -1:]
    # right=True finds the first index whose cumulative mass exceeds the target, so
    # tokens with zero probability (masked ones included) are never drawn.
    drawn = torch.searchsorted(cumulative, targets, right=True).squeeze(-1)

    # A uniform within rounding of 1 can land past the end; it takes the last
    # token that has probability.
    positive = cumulative > torch.cat([torch.zeros_like(cumulative[:, :1]), cumulative[:, :-1]], -1)
    last_positive = (positive * torch.arange(cumulative.shape[-1])).argmax(dim=-1)
    return torch.where(drawn >= cumulative.shape[-1], last_positive, drawn)


def _output_cache(output: Any) -> Any:
    fields = getattr(output, "__dataclass_fields__", {})
    return output.cache if "cache" in fields else output.past_key_values
