"""The on-disk cache of model answers, keyed by a content hash.

One SQLite database per cache directory holds every answer: SQLite commits
are atomic and safe under several processes writing at once, so an
interrupted run loses at most the batch in flight, and two runs may share a
cache directory. Each entry stores a sha256 checksum of its payload; an entry
whose checksum does not match is logged, deleted and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

CACHE_FILE_NAME = "answers.sqlite"
# Seconds a writer waits for another process's lock before failing.
LOCK_TIMEOUT_SECONDS = 60.0


def request_key(model_digest: str, method: str, payload: object) -> str:
    """Return the cache key of a request: sha256 of model digest, method and payload."""
    canonical = json.dumps([model_digest, method, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class AnswerCache:
    """A key-value store of serialized answers with checksums."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / CACHE_FILE_NAME
        self._connection = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_SECONDS)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS answers ("
            " key TEXT PRIMARY KEY, payload BLOB NOT NULL, checksum TEXT NOT NULL)"
        )
        self._connection.commit()

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """Return the stored payloads of the keys found; corrupt entries count as missing."""
        found: dict[str, bytes] = {}
        keys = list(keys)
        corrupt: list[str] = []
        # SQLite limits bound parameters per statement; 500 stays well below it.
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            placeholders = ",".join("?" * len(chunk))
            rows = self._connection.execute(
                f"SELECT key, payload, checksum FROM answers WHERE key IN ({placeholders})",
                chunk,
            )
            for key, payload, checksum in rows:
                if hashlib.sha256(payload).hexdigest() == checksum:
                    found[key] = payload
                else:
                    corrupt.append(key)
        if corrupt:
            logger.warning(
                "%d cache entries in %s failed their checksum; recomputing them",
                len(corrupt),
                self.path,
            )
            self.delete(corrupt)
        return found

    def put_many(self, entries: dict[str, bytes]) -> None:
        """Store the payloads in one transaction: all of them or none."""
        rows = [
            (key, payload, hashlib.sha256(payload).hexdigest()) for key, payload in entries.items()
        ]
        with self._connection:
            self._connection.executemany(
                "INSERT OR REPLACE INTO answers (key, payload, checksum) VALUES (?, ?, ?)", rows
            )

    def delete(self, keys: list[str]) -> None:
        with self._connection:
            self._connection.executemany("DELETE FROM answers WHERE key = ?", [(k,) for k in keys])

    def __len__(self) -> int:
        return self._connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self._connection.close()
