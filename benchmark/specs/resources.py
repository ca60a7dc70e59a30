"""Locate the folder of default specs that ships with clinmem.

In a source checkout (``pip install -e .`` or running from the repository)
the default specs are the repository's ``specs/`` folder, next to the
``benchmark`` package. A wheel does not carry that folder unless the build
copies it: ``[tool.setuptools.data-files]`` can install it under
``<prefix>/share/clinmem/specs``, the second place looked in.
"""

from __future__ import annotations

import sys
from pathlib import Path

import benchmark
from benchmark.specs.errors import SpecError

#: Sub-folders that mark a folder as a clinmem spec folder. Checking for them
#: keeps an unrelated ``site-packages/specs`` folder from being taken for it.
SPEC_KIND_FOLDERS = ("attributes", "tiers", "subgroups", "suites")


def default_specs_dir() -> Path:
    """Return the folder of the default specs.

    Raises ``SpecError`` naming the places looked in when neither is a spec
    folder.
    """
    candidates = [
        Path(benchmark.__file__).resolve().parent.parent / "specs",
        Path(sys.prefix) / "share" / "clinmem" / "specs",
    ]
    for candidate in candidates:
        if is_spec_folder(candidate):
            return candidate
    looked_in = ", ".join(str(candidate) for candidate in candidates)
    raise SpecError(
        f"The default spec folder was not found (looked in {looked_in}). Run clinmem from "
        "a source checkout, or pass the spec folder explicitly."
    )


def is_spec_folder(path: Path) -> bool:
    """Return whether ``path`` is a folder with ``suites/`` and at least one other kind folder."""
    if not (path / "suites").is_dir():
        return False
    return any((path / name).is_dir() for name in SPEC_KIND_FOLDERS if name != "suites")
