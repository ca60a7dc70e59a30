"""Patient selection by subgroup rules.

Rules that depend on the population (rare codes, unique profiles) are judged
against every patient of the cohort, all splits together, because that is the
population an attacker would compare a patient with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmark.data.sequence import PatientSequence
from benchmark.specs.models import (
    AgeRange,
    AllPatients,
    AttributeCarriers,
    AttributeSpec,
    RareCodeCarriers,
    RecordLength,
    Sex,
    SubgroupSpec,
    UniqueProfile,
)


@dataclass(frozen=True)
class Subgroup:
    """A selected subgroup: its label in results and the patients it holds."""

    label: str
    description: str
    mask: np.ndarray


def matching_codes(
    attribute: AttributeSpec, sequences: Sequence[PatientSequence]
) -> frozenset[str]:
    """Return the distinct codes of the sequences that carry the attribute.

    Matching each distinct code once is much cheaper than matching every
    token of every sequence against the attribute's regular expressions.
    """
    distinct = {token for s in sequences for token in s.tokens}
    return frozenset(code for code in distinct if attribute.matches(code))


def carries(sequence: PatientSequence, codes: frozenset[str]) -> bool:
    """Return whether the sequence holds one of the attribute's ``codes``."""
    return not codes.isdisjoint(sequence.tokens)


def _rare_codes(population: Sequence[PatientSequence], max_share: float) -> set[str]:
    patients_with = Counter(code for s in population for code in set(s.events))
    limit = max_share * len(population)
    return {code for code, count in patients_with.items() if count < limit}


def select_subgroups(
    specs: Sequence[SubgroupSpec],
    attributes: Sequence[AttributeSpec],
    evaluated: Sequence[PatientSequence],
    population: Sequence[PatientSequence],
) -> list[Subgroup]:
    """Return one mask over ``evaluated`` per subgroup; ``all`` always comes first."""
    subgroups = [Subgroup("all", "every evaluated patient", np.ones(len(evaluated), bool))]
    for spec in specs:
        rule = spec.rule
        if isinstance(rule, AllPatients):
            continue
        if isinstance(rule, AttributeCarriers):
            chosen = [a for a in attributes if rule.attribute in (None, a.id)]
            for attribute in chosen:
                label = f"{spec.id}:{attribute.id}" if rule.attribute is None else spec.id
                codes = matching_codes(attribute, evaluated)
                mask = np.array([carries(s, codes) for s in evaluated], bool)
                subgroups.append(Subgroup(label, f"carriers of {attribute.name}", mask))
            continue
        subgroups.append(Subgroup(spec.id, spec.name, _rule_mask(rule, evaluated, population)))
    return subgroups


def _rule_mask(rule, evaluated, population) -> np.ndarray:
    if isinstance(rule, AgeRange):
        low = rule.min_years if rule.min_years is not None else -np.inf
        high = rule.max_years if rule.max_years is not None else np.inf
        ages = [s.age_at_last_event for s in evaluated]
        return np.array([a is not None and low <= a < high for a in ages], bool)
    if isinstance(rule, Sex):
        return np.array([rule.code in s.demographics for s in evaluated], bool)
    if isinstance(rule, RareCodeCarriers):
        rare = _rare_codes(population, rule.max_patient_share)
        return np.array([not rare.isdisjoint(s.events) for s in evaluated], bool)
    if isinstance(rule, UniqueProfile):
        k = rule.first_codes
        counts = Counter(s.events[:k] for s in population)
        return np.array([counts[s.events[:k]] == 1 for s in evaluated], bool)
    if isinstance(rule, RecordLength):
        low = rule.min_events if rule.min_events is not None else 0
        high = rule.max_events if rule.max_events is not None else np.iinfo(np.int64).max
        return np.array([low <= len(s.events) <= high for s in evaluated], bool)
    raise TypeError(f"no selection for subgroup rule {type(rule).__name__}")
