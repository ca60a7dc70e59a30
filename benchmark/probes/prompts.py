"""What an attacker at each tier puts in the prompt, and what stays hidden.

A tier reveals the demographics (sex and first age band) or not, and a part
of the events: none, the first N, the first fraction, or all of them. For
attribute inference the target attribute's codes are removed from whatever is
revealed, so the model can only leak the attribute, never copy it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from benchmark.data.sequence import PatientSequence
from benchmark.specs.models import FirstEvents, HistoryFraction, TierSpec


def revealed_event_count(tier: TierSpec, sequence: PatientSequence) -> int:
    """Return how many of the sequence's events the tier reveals, from the start."""
    history = tier.reveals.history
    n_events = len(sequence.events)
    if history == "none":
        return 0
    if history == "all":
        return n_events
    if isinstance(history, FirstEvents):
        return min(history.first_events, n_events)
    if isinstance(history, HistoryFraction):
        return math.floor(history.fraction * n_events)
    raise TypeError(f"unknown history reveal {history!r}")


def build_prompt(
    tier: TierSpec,
    sequence: PatientSequence,
    hidden: Callable[[str], bool] | None = None,
) -> tuple[str, ...]:
    """Return the tier's prompt for a patient, without tokens for which ``hidden`` is true."""
    known = sequence.demographics if tier.reveals.demographics else ()
    known = known + sequence.events[: revealed_event_count(tier, sequence)]
    if hidden is None:
        return known
    return tuple(token for token in known if not hidden(token))


def true_continuation(tier: TierSpec, sequence: PatientSequence, length: int) -> tuple[str, ...]:
    """Return the ``length`` tokens that follow the tier's revealed part of the record.

    Without demographics in the prompt, the demographics come first, since an
    unprompted model starts a record with them.
    """
    revealed = revealed_event_count(tier, sequence)
    rest = sequence.events[revealed:]
    if not tier.reveals.demographics and revealed == 0:
        rest = sequence.demographics + rest
    return rest[:length]
