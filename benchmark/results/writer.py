"""Writing result files: validated first, then written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from benchmark.results.models import Result
from benchmark.results.schema import schema_errors


class InvalidResultError(ValueError):
    """Raised when a result does not match the published schema."""


def write_json_atomically(document: object, path: Path) -> None:
    """Write JSON to ``path`` through a temporary file, fsync and rename, so a
    reader sees either the old file or the complete new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n"
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates the file readable by its owner only; use the umask's usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_result(result: Result, path: Path) -> None:
    """Validate a result against the JSON Schema and write it atomically."""
    document = result.model_dump(mode="json")
    errors = schema_errors(document)
    if errors:
        raise InvalidResultError(f"result for {path} violates the schema: " + "; ".join(errors[:5]))
    write_json_atomically(document, path)
