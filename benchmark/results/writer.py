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


class ResultPathError(ValueError):
    """Raised when the result file cannot be written at the path given."""


def check_result_path(path: Path) -> None:
    """Check before a run that a result can be written at ``path``.

    Creates the parent folder, then creates and removes a temporary file in
    it, so a path that is a folder, a read-only folder or a missing mount
    fails in the first second instead of after the run.
    """
    if path.is_dir():
        raise ResultPathError(
            f"the output {path} is a folder; give a file path such as result.json"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(prefix=f".{path.name}.", dir=path.parent):
            pass
    except OSError as error:
        raise ResultPathError(
            f"cannot write the result to {path}: {error.strerror or error}; give an --output "
            "in a writable folder"
        ) from None


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
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Flush the folder entry of a renamed file, so the rename survives a power loss."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # Windows cannot open a folder, so the rename is left to the file system.
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems (network mounts) reject fsync on a folder
    finally:
        os.close(descriptor)


def write_result(result: Result, path: Path) -> None:
    """Validate a result against the JSON Schema and write it atomically."""
    document = result.model_dump(mode="json")
    errors = schema_errors(document)
    if errors:
        raise InvalidResultError(f"result for {path} violates the schema: " + "; ".join(errors[:5]))
    try:
        write_json_atomically(document, path)
    except OSError as error:
        raise ResultPathError(
            f"failed to write the result to {path}: {error.strerror or error}. With the answer "
            "cache on, the same command with a writable --output computes only the metrics again"
        ) from error
