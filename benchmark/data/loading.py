"""Loading a cohort by bundled id, MEDS folder or JSONL file.

``load_cohort`` accepts:

- ``None`` or a bundled id (``synthea-1k``): a cohort shipped in
  ``benchmark/data/cohorts/``;
- a folder: a MEDS dataset (``benchmark.data.meds``);
- a ``.jsonl`` file: one patient per line (``benchmark.data.jsonl``).

A split that the data carries (``metadata/subject_splits.parquet``, or
``split`` on every JSONL line) is used as it is. Otherwise every patient gets
the hash split with ``split_seed``. The bundled cohort ships the hash split
with seed 0; another seed reassigns its split by the hash rule.
"""

from __future__ import annotations

import difflib
import json
import logging
from pathlib import Path

from benchmark.data.cohort import Cohort
from benchmark.data.errors import CohortError
from benchmark.data.jsonl import read_jsonl
from benchmark.data.meds import DATASET_FILE, read_meds
from benchmark.data.split import DEFAULT_SPLIT_SEED

logger = logging.getLogger(__name__)

COHORTS_FOLDER = Path(__file__).parent / "cohorts"
BUNDLED_COHORTS = {"synthea-1k": "synthea_1k"}
DEFAULT_COHORT = "synthea-1k"


def bundled_cohort_path(cohort_id: str) -> Path:
    """Return the MEDS folder of a bundled cohort."""
    if cohort_id not in BUNDLED_COHORTS:
        raise CohortError(_unknown_message(cohort_id))
    return COHORTS_FOLDER / BUNDLED_COHORTS[cohort_id]


def _accepted_forms() -> str:
    return (
        f"Give a bundled id ({', '.join(BUNDLED_COHORTS)}), a MEDS folder that holds "
        "data/*.parquet, or a JSONL file with one patient per line."
    )


def _unknown_message(value: str) -> str:
    message = (
        f"cannot load cohort {value!r}: it is not a bundled cohort id, a folder or a .jsonl "
        f"file. {_accepted_forms()}"
    )
    close = difflib.get_close_matches(value, list(BUNDLED_COHORTS), n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    return message


def _shipped_split_seed(folder: Path) -> int | None:
    try:
        dataset = json.loads((folder / DATASET_FILE).read_text(encoding="utf-8"))
        return int(dataset["clinmem"]["split"]["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_cohort(
    id_or_path: str | Path | None = None, *, split_seed: int = DEFAULT_SPLIT_SEED
) -> Cohort:
    """Load a cohort from a bundled id, a MEDS folder or a JSONL file.

    Raises ``CohortError`` for bad data, naming the file, line or row and
    column. It also raises it when ``id_or_path`` matches none of the
    accepted forms, listing them.
    """
    if id_or_path is None:
        id_or_path = DEFAULT_COHORT

    if isinstance(id_or_path, str) and id_or_path in BUNDLED_COHORTS:
        folder = bundled_cohort_path(id_or_path)
        use_split_file = _shipped_split_seed(folder) == split_seed
        if not use_split_file:
            logger.info(
                "%s: reassigning the split by the hash rule with seed %d", id_or_path, split_seed
            )
        return read_meds(
            folder,
            split_seed=split_seed,
            use_split_file=use_split_file,
            source=f"bundled:{id_or_path}",
        )

    path = Path(id_or_path)
    if path.is_dir():
        return read_meds(path, split_seed=split_seed)
    if path.is_file() and path.suffix.lower() == ".jsonl":
        return read_jsonl(path, split_seed=split_seed)
    if path.is_file() and path.suffix.lower() == ".parquet":
        raise CohortError(
            f"cannot load cohort {str(id_or_path)!r}: it is one parquet file; give the MEDS "
            "folder whose data/ subfolder holds the parquet files"
        )
    looks_like_path = path.suffix != "" or len(path.parts) > 1
    if looks_like_path and not path.exists():
        raise CohortError(
            f"cannot load cohort {str(id_or_path)!r}: no such file or folder. {_accepted_forms()}"
        )
    raise CohortError(_unknown_message(str(id_or_path)))
