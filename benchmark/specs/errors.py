"""Errors of the spec layer, each located in its YAML file.

A ``SpecError`` reads like a compiler message, so editors and CI logs can jump
to it::

    tiers/x.yaml:12:5: reveals.history.first_events: Input should be greater than or equal to 1

Loading one file or a folder can find several problems at once. They travel
together as ``SpecErrors``, which is itself a ``SpecError`` (the first one).
Callers that need one message can therefore catch ``SpecError`` alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path


class SpecError(Exception):
    """A problem with a spec, at a file, line, column (all 1-based) and field.

    ``path`` is None when the problem has no file, such as an unknown suite
    id on the command line. ``field`` is the dotted path of the YAML key,
    e.g. ``reveals.history.first_events``, or "" for the whole document.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.field = field

    @property
    def errors(self) -> list[SpecError]:
        """The individual errors; a single error is a list of itself."""
        return [self]

    def location(self) -> str:
        """Return ``path:line:column`` with the parts that are known."""
        if self.path is None:
            return ""
        parts = [display_path(self.path)]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (
            str(self.path or ""),
            self.line or 0,
            self.column or 0,
            self.field,
        )

    def __str__(self) -> str:
        parts = [part for part in (self.location(), self.field) if part]
        parts.append(self.message)
        return ": ".join(parts)


class SpecErrors(SpecError):
    """Several spec errors found in one pass, sorted by file, line and column.

    Its own ``path``, ``line``, ``column``, ``field`` and ``message`` are those
    of the first error; ``str()`` lists every error, one per line.
    """

    def __init__(self, errors: Iterable[SpecError]) -> None:
        flat = sorted(
            (single for error in errors for single in error.errors), key=SpecError.sort_key
        )
        if not flat:
            raise ValueError("SpecErrors needs at least one error")
        first = flat[0]
        super().__init__(
            first.message, path=first.path, line=first.line, column=first.column, field=first.field
        )
        self._errors = flat

    @property
    def errors(self) -> list[SpecError]:
        return list(self._errors)

    def __str__(self) -> str:
        return "\n".join(SpecError.__str__(error) for error in self._errors)


def display_path(path: Path) -> str:
    """Return the path relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest choice, or "" when none is close.

    >>> did_you_mean("hvi", ["hiv", "depression"])
    " Did you mean 'hiv'?"
    >>> did_you_mean("zzz", ["hiv"])
    ''
    """
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""


def choices_text(choices: Sequence[str] | Iterable[str]) -> str:
    """Return the sorted choices as ``'a', 'b', 'c'`` for an error message."""
    return ", ".join(repr(choice) for choice in sorted(choices))
