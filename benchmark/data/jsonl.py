"""The JSONL cohort form: one patient per line.

Each non-blank line is a JSON object::

    {"subject_id": 1, "split": "train",
     "events": [{"time": "2010-01-01T00:00:00", "code": "SNOMED//123", "numeric_value": null}]}

- ``subject_id``: an integer that fits in int64, unique in the file;
- ``split``: ``train``, ``tuning`` or ``held_out``. It is optional, but every
  line has it or none does. Without it every patient gets the hash split
  (``benchmark.data.split``);
- ``events``: a list of events in time order, events without a time first.
  ``time`` is an ISO 8601 date or datetime, or null (or left out) for a
  static event. A time with a zone offset is converted to UTC, because MEDS
  times carry no zone. ``code`` is a non-empty string. ``numeric_value`` is
  a number or null, and is checked but not kept, because a ``Patient``
  carries codes and times only.

Other keys are errors, so a misspelt ``split`` cannot silently fall back to
the hash split. A patient whose ``events`` list is empty has no record to
evaluate and is left out, with a log message.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmark.data.cohort import SPLITS, Cohort
from benchmark.data.errors import CohortError
from benchmark.data.meds import build_cohort, hash_split_of
from benchmark.data.split import DEFAULT_FRACTIONS, SplitFractions

logger = logging.getLogger(__name__)

PATIENT_KEYS = ("subject_id", "split", "events")
EVENT_KEYS = ("time", "code", "numeric_value")
_INT64_RANGE = (-(2**63), 2**63 - 1)
_EPOCH = datetime(1970, 1, 1)


class _Records:
    """Column-wise events of the lines read so far, with their line numbers.

    Numbers go into typed arrays and each distinct code and time text is kept
    once, because a cohort repeats a few hundred codes and many visit times
    millions of times. That is about 40 bytes per event instead of about 250 for
    lists of Python objects (estimates). Loading 20,000 patients of the bundled
    kind peaked at 2,006 MiB with lists and at 1,272 MiB with this layout.
    """

    def __init__(self) -> None:
        self.subject_ids = array("q")
        self.times: list[str | None] = []
        self.codes: list[str] = []
        self.lines = array("q")
        self.event_positions = array("q")
        self._texts: dict[str, str] = {}

    def append(self, subject_id: int, time: str | None, code: str, line: int, position: int):
        shared = self._texts.setdefault
        self.subject_ids.append(subject_id)
        self.times.append(None if time is None else shared(time, time))
        self.codes.append(shared(code, code))
        self.lines.append(line)
        self.event_positions.append(position)


def _check_keys(item: dict, allowed: tuple[str, ...], location: str, path: Path, line: int) -> None:
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        raise CohortError(
            f"unknown key {unknown[0]!r} in {location}; the keys are {', '.join(allowed)}",
            path=path,
            line=line,
        )


def _read_event(event, position: int, path: Path, line: int) -> tuple[str | None, str]:
    where = f"events[{position}]"
    if not isinstance(event, dict):
        raise CohortError(f"{where} must be a JSON object", path=path, line=line)
    _check_keys(event, EVENT_KEYS, where, path, line)

    code = event.get("code")
    if not isinstance(code, str) or not code:
        raise CohortError(f"{where}.code must be a non-empty string", path=path, line=line)
    time = event.get("time")
    if time is not None and not isinstance(time, str):
        raise CohortError(
            f"{where}.time must be an ISO 8601 string or null, not {time!r}", path=path, line=line
        )
    value = event.get("numeric_value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise CohortError(
            f"{where}.numeric_value must be a number or null, not {value!r}", path=path, line=line
        )
    return time, code


def _read_line(text: str, path: Path, line: int) -> dict:
    try:
        patient = json.loads(text)
    except json.JSONDecodeError as error:
        raise CohortError(
            f"invalid JSON: {error.msg} (column {error.colno})", path=path, line=line
        ) from error
    if not isinstance(patient, dict):
        raise CohortError(
            "each line must be a JSON object with subject_id and events", path=path, line=line
        )
    _check_keys(patient, PATIENT_KEYS, "the patient", path, line)

    subject_id = patient.get("subject_id")
    if (
        isinstance(subject_id, bool)
        or not isinstance(subject_id, int)
        or not _INT64_RANGE[0] <= subject_id <= _INT64_RANGE[1]
    ):
        raise CohortError(
            f"subject_id must be an integer that fits in int64, not {subject_id!r}",
            path=path,
            line=line,
        )
    split = patient.get("split")
    if split is not None and split not in SPLITS:
        raise CohortError(
            f"unknown split {split!r}; the splits are {', '.join(SPLITS)}", path=path, line=line
        )
    if not isinstance(patient.get("events"), list):
        raise CohortError("events must be a list of events", path=path, line=line)
    return patient


def _parse_time(text: str) -> int:
    """Return microseconds since the epoch; zone-aware times are converted to UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _parse_times(records: _Records, path: Path) -> pa.Array:
    """Parse all times at once, falling back to one at a time to find a bad one."""
    texts = pa.array(records.times, pa.string())
    try:
        return pc.cast(texts, pa.timestamp("us"))
    except pa.ArrowInvalid:
        pass

    microseconds: list[int | None] = []
    for index, text in enumerate(records.times):
        if text is None:
            microseconds.append(None)
            continue
        try:
            microseconds.append(_parse_time(text))
        except (ValueError, OverflowError) as error:
            raise CohortError(
                f"events[{records.event_positions[index]}].time {text!r} is not an ISO 8601 "
                f"date or datetime: {error}",
                path=path,
                line=records.lines[index],
            ) from error
    return pc.cast(pa.array(microseconds, pa.int64()), pa.timestamp("us"))


def _check_time_order(records: _Records, times: pa.Array, path: Path) -> None:
    """Reject a patient whose events are not in time order, null times first."""
    keys = pc.fill_null(pc.cast(times, pa.int64()), np.iinfo(np.int64).min).to_numpy()
    lines = np.frombuffer(records.lines, dtype=np.int64)
    backwards = (lines[1:] == lines[:-1]) & (keys[1:] < keys[:-1])
    if backwards.any():
        index = int(np.flatnonzero(backwards)[0]) + 1
        position = records.event_positions[index]
        raise CohortError(
            f"events[{position}] (time {records.times[index]!r}) comes before "
            f"events[{position - 1}] (time {records.times[index - 1]!r}); list events in "
            "time order, events without a time first",
            path=path,
            line=int(lines[index]),
        )


def read_jsonl(
    path: str | Path,
    *,
    split_seed: int = 0,
    fractions: SplitFractions = DEFAULT_FRACTIONS,
    source: str | None = None,
) -> Cohort:
    """Read a JSONL cohort file; raise ``CohortError`` naming the line of the first problem."""
    path = Path(path)
    records = _Records()
    split_of: dict[int, str | None] = {}
    line_of: dict[int, int] = {}
    without_events: list[int] = []

    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CohortError(
                    f"not UTF-8 text: {error.reason} at byte {error.start} of the line",
                    path=path,
                    line=line,
                ) from error
            if not text.strip():
                continue
            patient = _read_line(text, path, line)
            subject_id = patient["subject_id"]
            if subject_id in line_of:
                raise CohortError(
                    f"subject_id {subject_id} is also on line {line_of[subject_id]}; "
                    "put each patient on one line",
                    path=path,
                    line=line,
                )
            line_of[subject_id] = line
            split_of[subject_id] = patient.get("split")
            if not patient["events"]:
                without_events.append(subject_id)

            for position, event in enumerate(patient["events"]):
                time, code = _read_event(event, position, path, line)
                records.append(subject_id, time, code, line, position)

    if not records.codes:
        raise CohortError("the cohort is empty: no line has any events", path=path)
    if without_events:
        # The line number locates the patient without writing a subject_id to the log.
        logger.info(
            "%s: %d patients have no events and are left out (the first on line %d)",
            path,
            len(without_events),
            line_of[without_events[0]],
        )
        for subject_id in without_events:
            del split_of[subject_id]

    with_split = [subject_id for subject_id, split in split_of.items() if split is not None]
    if with_split and len(with_split) < len(split_of):
        missing = next(subject_id for subject_id, split in split_of.items() if split is None)
        raise CohortError(
            f"this line has no 'split' but line {line_of[with_split[0]]} has one; "
            "give every line a split, or none to use the hash split",
            path=path,
            line=line_of[missing],
        )
    if with_split:
        split_info = {"source": "the split key of each line"}
    else:
        split_of = hash_split_of(np.fromiter(split_of, dtype=np.int64), split_seed, fractions)
        logger.info("%s: no split given, assigned by the hash rule with seed %d", path, split_seed)
        split_info = {
            "source": "hash",
            "seed": split_seed,
            "fractions": fractions.model_dump() | {"held_out": fractions.held_out},
        }

    times = _parse_times(records, path)
    _check_time_order(records, times, path)
    events = pa.table(
        {
            "subject_id": pa.array(np.frombuffer(records.subject_ids, dtype=np.int64)),
            "time": times,
            "code": pa.array(records.codes, pa.string()),
        }
    )
    return build_cohort(
        events,
        split_of,
        name=path.stem,
        source=source or str(path),
        metadata={"format": "jsonl", "split": split_info},
    )


def _format_times(seconds: np.ndarray) -> list[str | None]:
    """Return ISO 8601 strings for times in seconds since the epoch, None for NaN."""
    valid = ~np.isnan(seconds)
    microseconds = np.round(np.where(valid, seconds, 0.0) * 1e6).astype(np.int64)
    unit = "s" if np.all(microseconds % 1_000_000 == 0) else "us"
    texts = np.datetime_as_string(microseconds.astype("datetime64[us]"), unit=unit)
    return [text if ok else None for text, ok in zip(texts.tolist(), valid.tolist(), strict=True)]


def write_jsonl(cohort: Cohort, path: str | Path) -> Path:
    """Write the cohort as JSONL, one patient per line, replacing ``path`` atomically.

    ``numeric_value`` is written as null, because a ``Patient`` does not
    carry numeric values.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A plain new file (not tempfile's, which is private) gets the permissions
    # of the user's umask.
    partial = path.parent / f".{path.name}.{uuid.uuid4().hex}.partial"
    try:
        with partial.open("x", encoding="utf-8") as handle:
            for patient in cohort:
                events = [
                    {"time": time, "code": code, "numeric_value": None}
                    for code, time in zip(patient.codes, _format_times(patient.times), strict=True)
                ]
                record = {
                    "subject_id": patient.subject_id,
                    "split": patient.split,
                    "events": events,
                }
                handle.write(json.dumps(record) + "\n")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
