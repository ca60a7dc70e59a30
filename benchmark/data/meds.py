"""MEDS dataset folders: reading them into a ``Cohort`` and writing them.

A MEDS folder (MEDS schema 0.3) has this layout::

    data/**/*.parquet                  subject_id int64, time timestamp[us] (null for
                                       static events), code string, numeric_value float32
    metadata/subject_splits.parquet    subject_id int64, split string (optional)
    metadata/dataset.json              dataset_name, dataset_version, etl_name, ...
    metadata/codes.parquet             code, description, parent_codes (optional)

Reading accepts any integer type for ``subject_id``, any timestamp unit for
``time`` and string, large string or dictionary-encoded string for ``code``.
Zone-aware times are read as UTC. ``numeric_value`` is not read, because a
``Patient`` carries codes and times only. The data need not be
sorted. Shards are read in path order, and events with equal times keep that
order. A subject in ``subject_splits.parquet`` without events is ignored and
logged. A subject with events but no split row is an error.

``build_cohort`` turns a MEDS event table into patients, and
``cohort_fingerprint`` hashes it. The JSONL reader uses both, so the same
events give the same fingerprint in either form.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmark.data.cohort import SPLITS, Cohort, Patient
from benchmark.data.errors import CohortError
from benchmark.data.split import DEFAULT_FRACTIONS, SplitFractions, assign_splits

logger = logging.getLogger(__name__)

MEDS_VERSION = "0.3.3"

DATA_SCHEMA = pa.schema(
    [
        ("subject_id", pa.int64()),
        ("time", pa.timestamp("us")),
        ("code", pa.string()),
        ("numeric_value", pa.float32()),
    ]
)
SUBJECT_SPLITS_SCHEMA = pa.schema([("subject_id", pa.int64()), ("split", pa.string())])
CODES_SCHEMA = pa.schema(
    [
        ("code", pa.string()),
        ("description", pa.string()),
        ("parent_codes", pa.list_(pa.string())),
    ]
)

DATA_FOLDER = "data"
SUBJECT_SPLITS_FILE = "metadata/subject_splits.parquet"
DATASET_FILE = "metadata/dataset.json"
CODES_FILE = "metadata/codes.parquet"

FINGERPRINT_PREFIX = b"clinmem-cohort-fingerprint-v1\n"
_NULL_TIME = np.iinfo(np.int64).min


# From a MEDS event table to a cohort.


def _time_microseconds(times: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Return (microseconds since the epoch as int64, validity mask)."""
    as_int = pc.cast(times, pa.int64())
    valid = pc.is_valid(as_int).to_numpy(zero_copy_only=False)
    values = pc.fill_null(as_int, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    return values, valid


def _code_objects(codes: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Return codes as an object array of str, sharing one str per distinct code."""
    if isinstance(codes, pa.ChunkedArray):
        codes = codes.combine_chunks()
    encoded = pc.dictionary_encode(codes)
    distinct = np.array(encoded.dictionary.to_pylist(), dtype=object)
    return distinct[encoded.indices.to_numpy(zero_copy_only=False)]


def sort_events(events: pa.Table, then_by: Sequence[str] = ()) -> pa.Table:
    """Return the events in MEDS order: by subject_id, then time with null times first.

    Ties are broken by the ``then_by`` columns, then by the order in
    ``events``, because the sort is stable.
    """
    time_key = pc.fill_null(pc.cast(events["time"], pa.int64()), _NULL_TIME)
    keyed = events.append_column("__time_key", time_key)
    sort_keys = [("subject_id", "ascending"), ("__time_key", "ascending")]
    sort_keys += [(column, "ascending") for column in then_by]
    return events.take(pc.sort_indices(keyed, sort_keys=sort_keys))


def cohort_fingerprint(events: pa.Table, subject_ids: np.ndarray, splits: np.ndarray) -> str:
    """Return ``sha256:<hex>`` over the events and the split of each subject.

    The events are hashed in (subject_id, time, code) order, null times
    first, so the order of the source does not matter. ``numeric_value`` is
    not part of it. ``subject_ids`` and ``splits`` are parallel arrays.
    """
    ordered = sort_events(events, then_by=("code",))
    digest = hashlib.sha256(FINGERPRINT_PREFIX)

    ids = ordered["subject_id"].to_numpy().astype("<i8")
    microseconds, valid = _time_microseconds(ordered["time"])
    microseconds = np.where(valid, microseconds, _NULL_TIME).astype("<i8")
    digest.update(ids.tobytes())
    digest.update(microseconds.tobytes())

    encoded = pc.dictionary_encode(ordered["code"].combine_chunks())
    for code in encoded.dictionary.to_pylist():
        data = code.encode()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    digest.update(encoded.indices.to_numpy(zero_copy_only=False).astype("<i8").tobytes())

    split_order = np.argsort(subject_ids, kind="stable")
    digest.update(np.asarray(subject_ids, dtype="<i8")[split_order].tobytes())
    digest.update("\n".join(str(split) for split in np.asarray(splits)[split_order]).encode())
    return f"sha256:{digest.hexdigest()}"


def build_cohort(
    events: pa.Table,
    split_of: Mapping[int, str],
    *,
    name: str,
    source: str,
    metadata: dict | None = None,
) -> Cohort:
    """Group a MEDS event table into patients and return the cohort.

    ``events`` needs ``subject_id`` (int64, no nulls), ``time``
    (timestamp[us]) and ``code`` (string, no nulls), in any order.
    ``split_of`` must name the split of every subject in ``events``. Within
    a patient, events are ordered by time, null times first, and events with
    equal times keep their order in ``events``.
    """
    ordered = sort_events(events.select(["subject_id", "time", "code"]))

    ids = ordered["subject_id"].to_numpy()
    microseconds, valid = _time_microseconds(ordered["time"])
    seconds = np.where(valid, microseconds / 1e6, np.nan)
    codes = _code_objects(ordered["code"])

    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], int)
    ends = np.r_[starts[1:], len(ids)]
    patients = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        subject_id = int(ids[start])
        patients.append(
            Patient(
                subject_id=subject_id,
                split=split_of[subject_id],
                codes=tuple(codes[start:end]),
                times=seconds[start:end],
            )
        )

    subject_ids = np.array([patient.subject_id for patient in patients], dtype=np.int64)
    splits = np.array([patient.split for patient in patients], dtype=object)
    return Cohort(
        name=name,
        patients=patients,
        fingerprint=cohort_fingerprint(ordered, subject_ids, splits),
        source=source,
        metadata=dict(metadata or {}),
    )


def hash_split_of(
    subject_ids: np.ndarray, seed: int, fractions: SplitFractions = DEFAULT_FRACTIONS
) -> dict[int, str]:
    """Return the hash-rule split of each subject, keyed by ``subject_id``."""
    unique = np.unique(np.asarray(subject_ids, dtype=np.int64))
    splits = assign_splits(unique, seed, fractions)
    return dict(zip(unique.tolist(), splits.tolist(), strict=True))


# Reading a MEDS folder.


def _first_true(mask: pa.Array | pa.ChunkedArray) -> int:
    return pc.index(mask, True).as_py()


def _check_type(
    path: Path,
    column: str,
    actual: pa.DataType,
    accepts: Callable[[pa.DataType], bool],
    expected: str,
) -> None:
    if not accepts(actual):
        raise CohortError(
            f"has type {actual}, expected {expected}; rewrite the column with that type",
            path=path,
            column=column,
        )


def _is_string(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type)


def _is_time(data_type: pa.DataType) -> bool:
    return pa.types.is_timestamp(data_type) or pa.types.is_null(data_type)


def _read_parquet_columns(path: Path, columns: Mapping[str, tuple]) -> pa.Table:
    """Read and type-check the named columns of one parquet file."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise CohortError(f"not a readable parquet file: {error}", path=path) from error
    for column, (accepts, expected) in columns.items():
        if column not in schema.names:
            raise CohortError(
                f"missing required column; the file has: {', '.join(schema.names)}",
                path=path,
                column=column,
            )
        _check_type(path, column, schema.field(column).type, accepts, expected)
    return pq.read_table(path, columns=list(columns))


def _read_data_file(path: Path) -> pa.Table:
    table = _read_parquet_columns(
        path,
        {
            "subject_id": (pa.types.is_integer, "an integer type (int64)"),
            "time": (_is_time, "timestamp[us]"),
            "code": (_is_string, "string"),
        },
    )
    for column in ("subject_id", "code"):
        if table[column].null_count:
            raise CohortError(
                f"{column} is null; every event needs a {column}",
                path=path,
                row=_first_true(pc.is_null(table[column])),
                column=column,
            )

    time = table["time"]
    if pa.types.is_timestamp(time.type) and time.type.tz is not None:
        time = pc.cast(time, pa.timestamp(time.type.unit))
    try:
        time = pc.cast(time, pa.timestamp("us"))
        subject_ids = pc.cast(table["subject_id"], pa.int64())
    except pa.ArrowInvalid as error:
        raise CohortError(f"values do not fit: {error}", path=path) from error
    return pa.table(
        {"subject_id": subject_ids, "time": time, "code": pc.cast(table["code"], pa.string())}
    )


def _read_subject_splits(path: Path) -> pa.Table:
    """Read ``subject_splits.parquet``, one row per subject, rejecting conflicts."""
    table = _read_parquet_columns(
        path,
        {
            "subject_id": (pa.types.is_integer, "an integer type (int64)"),
            "split": (_is_string, "string"),
        },
    )
    for column in ("subject_id", "split"):
        if table[column].null_count:
            raise CohortError(
                f"{column} is null; every row needs a subject_id and a split",
                path=path,
                row=_first_true(pc.is_null(table[column])),
                column=column,
            )

    splits = pc.cast(table["split"], pa.string())
    known = pc.is_in(splits, value_set=pa.array(SPLITS))
    if not pc.all(known).as_py():
        row = _first_true(pc.invert(known))
        raise CohortError(
            f"unknown split {splits[row].as_py()!r}; the splits are {', '.join(SPLITS)}",
            path=path,
            row=row,
            column="split",
        )

    subject_ids = pc.cast(table["subject_id"], pa.int64()).to_numpy()
    split_names = np.array(splits.to_pylist(), dtype=object)
    order = np.argsort(subject_ids, kind="stable")
    same_subject = subject_ids[order][1:] == subject_ids[order][:-1]
    conflict = same_subject & (split_names[order][1:] != split_names[order][:-1])
    if conflict.any():
        position = int(np.flatnonzero(conflict)[0])
        first, second = int(order[position]), int(order[position + 1])
        raise CohortError(
            f"subject {int(subject_ids[second])} is in split {split_names[second]!r} here and "
            f"in {split_names[first]!r} at row index {first}; a subject belongs to one split",
            path=path,
            row=second,
            column="split",
        )

    keep = np.r_[True, ~same_subject]
    return pa.table(
        {
            "subject_id": pa.array(subject_ids[order][keep]),
            "split": pa.array(split_names[order][keep].tolist(), pa.string()),
        }
    )


def _read_dataset_metadata(path: Path) -> dict:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CohortError(
            f"invalid JSON: {error.msg} (column {error.colno})", path=path, line=error.lineno
        ) from error
    if not isinstance(metadata, dict):
        raise CohortError("must hold a JSON object", path=path)
    return metadata


def read_meds(
    path: str | Path,
    *,
    split_seed: int = 0,
    fractions: SplitFractions = DEFAULT_FRACTIONS,
    use_split_file: bool = True,
    source: str | None = None,
) -> Cohort:
    """Read a MEDS dataset folder into a cohort.

    The split comes from ``metadata/subject_splits.parquet`` when it exists
    and ``use_split_file`` is true; otherwise every subject gets the hash
    split with ``split_seed`` and ``fractions``. Raises ``CohortError`` for
    bad data, naming the file, column and first bad row.
    """
    root = Path(path)
    data_dir = root / DATA_FOLDER
    files = sorted(data_dir.rglob("*.parquet")) if data_dir.is_dir() else []
    if not files:
        raise CohortError(
            "no parquet files found under data/; a MEDS folder keeps its events in data/*.parquet",
            path=root,
        )

    events = pa.concat_tables([_read_data_file(file) for file in files])
    if events.num_rows == 0:
        raise CohortError("the cohort is empty: the data files hold no events", path=data_dir)
    subject_ids = pc.unique(events["subject_id"]).to_numpy()

    dataset_path = root / DATASET_FILE
    dataset = _read_dataset_metadata(dataset_path) if dataset_path.is_file() else {}

    splits_path = root / SUBJECT_SPLITS_FILE
    if use_split_file and splits_path.is_file():
        split_table = _read_subject_splits(splits_path)
        split_of = dict(
            zip(
                split_table["subject_id"].to_pylist(),
                split_table["split"].to_pylist(),
                strict=True,
            )
        )
        missing = np.setdiff1d(subject_ids, split_table["subject_id"].to_numpy())
        if missing.size:
            raise CohortError(
                f"{missing.size} subjects with events have no split, the first is subject_id "
                f"{int(missing[0])}; add them to the file or delete it to use the hash split",
                path=splits_path,
            )
        unused = len(split_of) - len(subject_ids)
        if unused:
            logger.info("%s: %d subjects have a split but no events; ignored", splits_path, unused)
        split_info = {"source": str(SUBJECT_SPLITS_FILE)}
    else:
        split_of = hash_split_of(subject_ids, split_seed, fractions)
        logger.info(
            "%s: split assigned by the hash rule with seed %d (%s)",
            root,
            split_seed,
            "split file not used" if splits_path.is_file() else "no subject_splits.parquet",
        )
        split_info = {
            "source": "hash",
            "seed": split_seed,
            "fractions": fractions.model_dump() | {"held_out": fractions.held_out},
        }

    return build_cohort(
        events,
        split_of,
        name=str(dataset.get("dataset_name") or root.name),
        source=source or str(root),
        metadata={"format": "meds", "dataset": dataset, "split": split_info},
    )


# Writing a MEDS folder.


def _write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", compression_level=9, use_dictionary=True)


def write_meds_dataset(
    dest: str | Path,
    events: pa.Table,
    subject_splits: pa.Table,
    dataset_metadata: dict,
    codes: pa.Table | None = None,
) -> Path:
    """Write a MEDS dataset folder at ``dest``, all or nothing.

    ``dest`` must not exist or be an empty folder. Everything is written to a
    hidden sibling folder first and renamed to ``dest`` at the end, so a
    failure leaves ``dest`` as it was. ``events`` must already be in MEDS
    order (sorted by subject_id, then time).
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(
            f"{dest} exists and is not an empty folder; give a new folder or empty this one"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)

    # mkdir (not mkdtemp, which makes the folder private) so the result gets
    # the permissions of the user's umask.
    staging = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.partial"
    staging.mkdir()
    try:
        _write_parquet(events.cast(DATA_SCHEMA), staging / DATA_FOLDER / "0.parquet")
        _write_parquet(subject_splits.cast(SUBJECT_SPLITS_SCHEMA), staging / SUBJECT_SPLITS_FILE)
        if codes is not None:
            _write_parquet(codes.cast(CODES_SCHEMA), staging / CODES_FILE)
        (staging / DATASET_FILE).write_text(
            json.dumps(dataset_metadata, indent=2) + "\n", encoding="utf-8"
        )
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest
