"""The error raised for cohort data that cannot be read as it is.

Every reader in ``benchmark.data`` raises ``CohortError`` for bad data, with
the location of the first problem. The location is the file, then the line
for text files (line 1 is the first line of the file) or the row index for
parquet files (counted from 0 in file order), then the column. The CLI shows
the message as it is, so the message also states the fix.
"""

from __future__ import annotations

from pathlib import Path


class CohortError(ValueError):
    """Invalid or unreadable cohort data, located to a file, line or row, and column."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.row = row
        self.column = column
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        location: list[str] = []
        if self.path is not None:
            location.append(str(self.path))
        if self.line is not None:
            location.append(f"line {self.line}")
        if self.row is not None:
            location.append(f"row index {self.row}")
        if self.column is not None:
            location.append(f"column {self.column!r}")
        if not location:
            return self.reason
        return f"{', '.join(location)}: {self.reason}"
