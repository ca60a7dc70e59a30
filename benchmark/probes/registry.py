"""The probe registry: probe name to probe class.

Adding a probe is a new module with a ``Probe`` subclass and one line here.
"""

from __future__ import annotations

import difflib

from benchmark.probes.attribute_inference import AttributeInferenceProbe
from benchmark.probes.base import Probe
from benchmark.probes.canary import CanaryProbe
from benchmark.probes.embedding import EmbeddingProbe
from benchmark.probes.membership import MembershipProbe
from benchmark.probes.perturbation import PerturbationProbe
from benchmark.probes.reconstruction import ReconstructionProbe
from benchmark.probes.utility import UtilityProbe

PROBES: dict[str, type[Probe]] = {
    probe.name: probe
    for probe in (
        MembershipProbe,
        AttributeInferenceProbe,
        ReconstructionProbe,
        PerturbationProbe,
        EmbeddingProbe,
        UtilityProbe,
        CanaryProbe,
    )
}


class UnknownProbeError(LookupError):
    """Raised for a probe name that no probe has."""


def get_probe(name: str) -> Probe:
    """Return a probe instance by name; an unknown name lists the closest and all names."""
    try:
        return PROBES[name]()
    except KeyError:
        close = difflib.get_close_matches(name, PROBES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownProbeError(
            f"unknown probe {name!r}.{hint} Known probes: {', '.join(sorted(PROBES))}"
        ) from None
