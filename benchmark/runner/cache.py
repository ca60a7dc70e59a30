"""The on-disk cache of model answers, keyed by a content hash.

One SQLite database per cache directory holds every answer: SQLite commits
are atomic and safe under several processes writing at once, so an
interrupted run loses at most the batch in flight, and two runs may share a
cache directory. Each entry stores a sha256 checksum of its payload; an entry
whose checksum does not match is logged, deleted and recomputed.

A database file that SQLite cannot read (truncated, overwritten, not a
database) is moved aside with a warning and a fresh one is started, because
the cache only saves time and a run must not fail over it. A read or write
that fails later in the run (disk full, a lock held past the timeout, damage
found on a page not read at open) turns the cache off for the rest of the
run with a warning; the run then computes what it would have read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

CACHE_FILE_NAME = "answers.sqlite"
# Seconds a writer waits for another process's lock before failing.
LOCK_TIMEOUT_SECONDS = 60.0
# SQLite keeps recent commits in these files beside the database (WAL mode).
_SIDE_FILE_SUFFIXES = ("-wal", "-shm")


def request_key(model_digest: str, method: str, payload: object) -> str:
    """Return the cache key of a request: sha256 of model digest, method and payload."""
    canonical = json.dumps([model_digest, method, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class CacheError(RuntimeError):
    """Raised when the cache directory cannot be used at all (not a folder, no permission)."""


def _is_damage(error: sqlite3.DatabaseError) -> bool:
    """Tell a damaged file from a busy or full one, which moving aside would not fix."""
    if isinstance(error, sqlite3.OperationalError):
        message = str(error).lower()
        return "malformed" in message or "not a database" in message
    return True


class AnswerCache:
    """A key-value store of serialized answers with checksums."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / CACHE_FILE_NAME
        self._connection: sqlite3.Connection | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            try:
                self._connection = self._open_when_unlocked()
            except sqlite3.DatabaseError as error:
                if not _is_damage(error):
                    raise
                aside = self._move_aside()
                logger.warning(
                    "the answer cache %s is damaged (%s); moved it to %s and started an empty "
                    "cache, so earlier answers are computed again",
                    self.path,
                    error,
                    aside,
                )
                self._connection = self._open()
        except (OSError, sqlite3.Error) as error:
            raise CacheError(
                f"cannot open the answer cache {self.path}: {error}. Give a writable "
                "folder with --cache-dir, or run with --no-cache"
            ) from error

    def _open_when_unlocked(self) -> sqlite3.Connection:
        """Open the cache, waiting up to ``LOCK_TIMEOUT_SECONDS`` while another run holds a lock.

        Switching to WAL mode fails at once with "database is locked", without
        SQLite's busy wait, while another process opens the same new file, as
        two runs started together on one cache folder do.
        """
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_SECONDS)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS answers ("
                " key TEXT PRIMARY KEY, payload BLOB NOT NULL, checksum TEXT NOT NULL)"
            )
            connection.commit()
            # quick_check reads every page once (linear in the file size) and
            # finds a truncated or overwritten file before the run relies on it.
            problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
        except BaseException:
            connection.close()
            raise
        if problems != ["ok"]:
            connection.close()
            # quick_check may list hundreds of bad pages; the first 200 characters suffice.
            first = " ".join(problems[0].split())[:200]
            raise sqlite3.DatabaseError(f"database disk image is malformed: {first}")
        return connection

    def _move_aside(self) -> Path:
        """Rename the damaged database and its side files; return the new database path."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        number = 1
        while aside.exists():  # a second damaged file in the same second
            number += 1
            aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{number}")
        for suffix in ("", *_SIDE_FILE_SUFFIXES):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.replace(Path(f"{aside}{suffix}"))
        return aside

    @property
    def enabled(self) -> bool:
        """False once a read or write failed; the cache then stores and serves nothing."""
        return self._connection is not None

    def _disable(self, operation: str, error: sqlite3.Error) -> None:
        logger.warning(
            "the answer cache %s failed to %s (%s: %s); continuing without the cache, "
            "so nothing more of this run is stored for a resume",
            self.path,
            operation,
            type(error).__name__,
            error,
        )
        self.close()

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """Return the stored payloads of the keys found; corrupt entries count as missing."""
        found: dict[str, bytes] = {}
        if self._connection is None:
            return found
        keys = list(keys)
        corrupt: list[str] = []
        try:
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
        except sqlite3.Error as error:
            self._disable("read", error)
            return {}
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
        if self._connection is None:
            return
        rows = [
            (key, payload, hashlib.sha256(payload).hexdigest()) for key, payload in entries.items()
        ]
        try:
            with self._connection:
                self._connection.executemany(
                    "INSERT OR REPLACE INTO answers (key, payload, checksum) VALUES (?, ?, ?)",
                    rows,
                )
        except sqlite3.Error as error:
            self._disable("write", error)

    def delete(self, keys: list[str]) -> None:
        if self._connection is None:
            return
        try:
            with self._connection:
                self._connection.executemany(
                    "DELETE FROM answers WHERE key = ?", [(k,) for k in keys]
                )
        except sqlite3.Error as error:
            self._disable("delete entries", error)

    def __len__(self) -> int:
        if self._connection is None:
            return 0
        return self._connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
