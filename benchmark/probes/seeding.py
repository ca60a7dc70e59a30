"""Per-request seeds derived from content, not from position or worker.

A generation request's seed depends only on the run seed, the probe and the
prompt, so the same prompt gets the same samples in any batch, on any worker,
after any interruption, and identical prompts share one cached answer.
"""

from __future__ import annotations

import hashlib
import json


def derive_seed(*parts: object) -> int:
    """Return a 63-bit seed from the parts' canonical JSON.

    >>> derive_seed(0, "reconstruction", ["GENDER//F"])
    9000024869130292977
    """
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big") >> 1
