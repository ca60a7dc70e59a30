"""Where a result came from: software versions, hardware, times."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata

import benchmark

RECORDED_LIBRARIES = (
    "numpy",
    "pyarrow",
    "pydantic",
    "scikit-learn",
    "scipy",
    "tokenizers",
    "torch",
    "transformers",
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def hardware(device: str) -> dict[str, str | int | None]:
    """Describe the machine; the GPU name only when a CUDA device was used."""
    description: dict[str, str | int | None] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "gpu": None,
    }
    if device.startswith("cuda"):
        import torch

        description["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return description


def software() -> dict[str, str]:
    return {"clinmem_version": benchmark.__version__, "python_version": sys.version.split()[0]}
