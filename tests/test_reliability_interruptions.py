"""Interrupted, concurrent and damaged runs, with real ``clinmem run`` processes.

Every run is the smoke suite on the ``lookup`` model and the first 100
patients of the distinctive cohort, so that a run takes seconds. A run is
killed once the cache contains a given number of answers, which puts the kill in
the middle of the model work; the test checks that it did (no result file,
a partly filled cache) before it resumes the run. What must come out is a
result whose ``summary`` and ``probes`` equal those of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.cli.run_command import _termination_as_interrupt
from benchmark.runner.cache import CACHE_FILE_NAME, AnswerCache, CacheError

REPOSITORY = Path(__file__).resolve().parent.parent
PATIENTS = 100
# Seconds a run may take on a loaded two-core machine before the test gives up.
RUN_TIMEOUT = 300


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, distinctive_cohort_path) -> Path:
    lines = distinctive_cohort_path.read_text().splitlines(keepends=True)[:PATIENTS]
    path = tmp_path_factory.mktemp("interruptions") / "cohort.jsonl"
    path.write_text("".join(lines))
    return path


def run_arguments(cohort: Path, output: Path, cache_dir: Path | None) -> list[str]:
    """Return the command line of a run; without ``cache_dir``, a run with --no-cache."""
    cache = ["--no-cache"] if cache_dir is None else ["--cache-dir", str(cache_dir)]
    return [
        sys.executable, "-m", "benchmark.cli.main",
        "--log-level", "info",
        "run",
        "--model", "lookup",
        "--suite", "smoke",
        "--cohort", str(cohort),
        "--output", str(output),
        *cache,
        "--no-progress",
    ]  # fmt: skip


def _default_interrupt() -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and
    # Python then installs no KeyboardInterrupt handler; the run must get one.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_run(cohort: Path, output: Path, cache_dir: Path | None, log: Path) -> subprocess.Popen:
    with log.open("wb") as stream:
        return subprocess.Popen(
            run_arguments(cohort, output, cache_dir),
            cwd=REPOSITORY,
            stdout=stream,
            stderr=subprocess.STDOUT,
            preexec_fn=_default_interrupt,
        )


def finish(process: subprocess.Popen, log: Path) -> str:
    process.wait(timeout=RUN_TIMEOUT)
    text = log.read_text()
    assert process.returncode == 0, text[-3000:]
    return text


def cache_rows(cache_dir: Path) -> int:
    """Count the cache's answers through a read-only connection, as another process would."""
    path = cache_dir / CACHE_FILE_NAME
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the table is not created yet


def wait_for_rows(cache_dir: Path, target: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while cache_rows(cache_dir) < target:
        if process.poll() is not None:
            pytest.fail(f"the run ended before the cache held {target} answers:\n{log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the cache did not reach {target} answers in {RUN_TIMEOUT} s")
        time.sleep(0.02)


def served_from_cache(log: str) -> int:
    """Sum the run's closing 'N served from cache' counts over model methods."""
    return sum(
        int(line.split(" served from cache")[0].rsplit(", ", 1)[1])
        for line in log.splitlines()
        if " served from cache, " in line
    )


def published(path: Path) -> dict:
    document = json.loads(path.read_text())
    return {"summary": document["summary"], "probes": document["probes"]}


def leftovers(folder: Path, output: Path) -> list[str]:
    """Files in the output folder besides the output: temporary files of the atomic write."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{output.name}."))


@pytest.fixture(scope="module")
def uninterrupted(cohort, tmp_path_factory) -> dict:
    """One run from start to end, with its own cache: the expected result and cache size."""
    root = tmp_path_factory.mktemp("uninterrupted")
    output, cache_dir, log = root / "result.json", root / "cache", root / "run.log"
    finish(start_run(cohort, output, cache_dir, log), log)
    return {"published": published(output), "rows": cache_rows(cache_dir), "cache": cache_dir}


@pytest.mark.slow
def test_sigkill_at_three_points_resumes_to_same_result(cohort, uninterrupted, tmp_path):
    output, cache_dir = tmp_path / "result.json", tmp_path / "cache"
    total = uninterrupted["rows"]
    rows_at_kill = [0]

    for share in (0.1, 0.4, 0.7):
        log = tmp_path / f"killed-at-{share}.log"
        process = start_run(cohort, output, cache_dir, log)
        wait_for_rows(cache_dir, max(int(share * total), rows_at_kill[-1] + 1), process, log)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)

        assert process.returncode == -signal.SIGKILL
        assert not output.exists(), "the kill landed after the result was written"
        rows_at_kill.append(cache_rows(cache_dir))
        assert rows_at_kill[-2] < rows_at_kill[-1] < total

    log = tmp_path / "resumed.log"
    text = finish(start_run(cohort, output, cache_dir, log), log)

    assert published(output) == uninterrupted["published"]
    assert cache_rows(cache_dir) == total
    assert leftovers(tmp_path, output) == []
    assert served_from_cache(text) >= rows_at_kill[-1]


@pytest.mark.slow
def test_two_runs_share_a_cache_directory(cohort, uninterrupted, tmp_path):
    cache_dir = tmp_path / "shared-cache"
    outputs = [tmp_path / "first.json", tmp_path / "second.json"]
    logs = [tmp_path / "first.log", tmp_path / "second.log"]

    processes = [
        start_run(cohort, output, cache_dir, log) for output, log in zip(outputs, logs, strict=True)
    ]
    for process, log in zip(processes, logs, strict=True):
        finish(process, log)

    assert published(outputs[0]) == uninterrupted["published"]
    assert published(outputs[1]) == uninterrupted["published"]
    assert cache_rows(cache_dir) == uninterrupted["rows"]


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_stop_signal_ends_with_resume_message(cohort, uninterrupted, tmp_path, stop):
    output, cache_dir, log = tmp_path / "result.json", tmp_path / "cache", tmp_path / "run.log"
    process = start_run(cohort, output, cache_dir, log)
    wait_for_rows(cache_dir, uninterrupted["rows"] // 5, process, log)

    process.send_signal(stop)
    process.wait(timeout=120)
    text = log.read_text()

    assert process.returncode in (1, 130), text[-3000:]
    assert "Traceback" not in text
    assert "interrupted; no result was written" in text
    assert "run the same command again to resume" in text
    assert str(cache_dir) in text
    assert not output.exists()
    assert leftovers(tmp_path, output) == []
    assert 0 < cache_rows(cache_dir) < uninterrupted["rows"]


@pytest.mark.slow
def test_interrupt_without_cache_says_nothing_was_kept(cohort, tmp_path):
    output, log = tmp_path / "result.json", tmp_path / "run.log"
    process = start_run(cohort, output, None, log)
    deadline = time.monotonic() + RUN_TIMEOUT
    # The model work has begun once the first probe logs its requests.
    while "membership: scoring" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline
        time.sleep(0.02)

    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    text = log.read_text()

    assert process.returncode == 1, text[-3000:]
    assert "interrupted; no result was written and, with --no-cache, nothing was kept" in text
    assert "Traceback" not in text
    assert not output.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run.log"]


def test_termination_handler_only_in_main_thread():
    import threading

    default = signal.getsignal(signal.SIGTERM)
    seen = []

    def enter() -> None:
        with _termination_as_interrupt():
            seen.append(signal.getsignal(signal.SIGTERM))

    worker = threading.Thread(target=enter)
    worker.start()
    worker.join()
    with _termination_as_interrupt():
        installed = signal.getsignal(signal.SIGTERM)

    assert seen == [default]
    assert installed != default
    assert signal.getsignal(signal.SIGTERM) == default


@pytest.mark.slow
def test_damaged_cache_is_moved_aside_and_run_completes(cohort, uninterrupted, tmp_path):
    cache_dir = tmp_path / "cache"
    shutil.copytree(uninterrupted["cache"], cache_dir)
    database = cache_dir / CACHE_FILE_NAME
    data = database.read_bytes()
    database.write_bytes(data[: len(data) // 2])
    output, log = tmp_path / "result.json", tmp_path / "run.log"

    text = finish(start_run(cohort, output, cache_dir, log), log)

    assert "is damaged (database disk image is malformed); moved it to" in text
    assert published(output) == uninterrupted["published"]
    assert len(list(cache_dir.glob(f"{CACHE_FILE_NAME}.damaged-*"))) == 1
    assert cache_rows(cache_dir) == uninterrupted["rows"]


# The cache on its own: damaged files, failed writes, a folder that cannot hold it.


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeroed_pages"])
def test_damaged_cache_file_starts_fresh(tmp_path, caplog, damage):
    cache = AnswerCache(tmp_path)
    cache.put_many({f"key-{i}": os.urandom(3000) for i in range(200)})
    cache.close()
    database = tmp_path / CACHE_FILE_NAME
    data = bytearray(database.read_bytes())
    if damage == "garbage":
        data = bytearray(os.urandom(len(data)))
    elif damage == "truncated":
        data = data[: len(data) // 3]
    else:
        data[4096 : 4096 * 8] = bytes(4096 * 7)
    database.write_bytes(bytes(data))

    with caplog.at_level("WARNING", logger="benchmark.runner.cache"):
        fresh = AnswerCache(tmp_path)

    assert "is damaged" in caplog.text
    assert len(fresh) == 0
    fresh.put_many({"key": b"payload"})
    assert fresh.get_many(["key"]) == {"key": b"payload"}
    assert len(list(tmp_path.glob(f"{CACHE_FILE_NAME}.damaged-*"))) == 1


def test_cache_turns_off_when_writes_fail(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("benchmark.runner.cache.LOCK_TIMEOUT_SECONDS", 0.1)
    cache = AnswerCache(tmp_path)
    cache.put_many({"before": b"stored"})
    other = sqlite3.connect(tmp_path / CACHE_FILE_NAME)
    other.execute("BEGIN EXCLUSIVE")

    with caplog.at_level("WARNING", logger="benchmark.runner.cache"):
        cache.put_many({"during": b"lost"})
    other.rollback()
    other.close()

    assert "failed to write" in caplog.text
    assert "continuing without the cache" in caplog.text
    assert not cache.enabled
    assert cache.get_many(["before", "during"]) == {}
    cache.put_many({"after": b"ignored"})
    assert AnswerCache(tmp_path).get_many(["before", "during", "after"]) == {"before": b"stored"}


def test_cache_turns_off_when_reads_fail(tmp_path, caplog):
    cache = AnswerCache(tmp_path)
    cache.put_many({"key": b"payload"})
    with sqlite3.connect(tmp_path / CACHE_FILE_NAME) as other:
        other.execute("DROP TABLE answers")

    with caplog.at_level("WARNING", logger="benchmark.runner.cache"):
        found = cache.get_many(["key"])

    assert found == {}
    assert "failed to read (OperationalError: no such table: answers)" in caplog.text
    assert not cache.enabled
    assert len(cache) == 0


def test_cache_turns_off_when_deletes_fail(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("benchmark.runner.cache.LOCK_TIMEOUT_SECONDS", 0.1)
    cache = AnswerCache(tmp_path)
    cache.put_many({"good": b"payload", "bad": b"payload"})
    other = sqlite3.connect(tmp_path / CACHE_FILE_NAME)
    other.execute("UPDATE answers SET payload = ? WHERE key = 'bad'", (b"changed",))
    other.commit()
    other.execute("BEGIN EXCLUSIVE")

    with caplog.at_level("WARNING", logger="benchmark.runner.cache"):
        found = cache.get_many(["good", "bad"])
    other.rollback()
    other.close()

    assert found == {"good": b"payload"}
    assert "1 cache entries" in caplog.text
    assert "failed to delete entries" in caplog.text
    assert not cache.enabled


def test_second_damaged_cache_gets_its_own_name(tmp_path):
    for _ in range(2):
        (tmp_path / CACHE_FILE_NAME).write_bytes(os.urandom(8192))
        AnswerCache(tmp_path).close()

    assert len(list(tmp_path.glob(f"{CACHE_FILE_NAME}.damaged-*"))) == 2


def test_cache_file_that_is_a_folder_is_an_error(tmp_path):
    (tmp_path / CACHE_FILE_NAME).mkdir()

    with pytest.raises(CacheError, match="cannot open the answer cache .*--no-cache"):
        AnswerCache(tmp_path)


@pytest.mark.slow
def test_cache_folder_under_a_file_is_an_error(tmp_path, cohort):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    output = tmp_path / "result.json"

    process = subprocess.run(
        run_arguments(cohort, output, blocker / "cache"),
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )

    assert process.returncode == 1
    assert "cannot open the answer cache" in process.stderr
    assert "--no-cache" in process.stderr
    assert "Traceback" not in process.stderr
    assert not output.exists()


@pytest.mark.slow
def test_unwritable_output_fails_before_the_run(tmp_path, cohort):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    output = blocker / "result.json"

    process = subprocess.run(
        run_arguments(cohort, output, tmp_path / "cache"),
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )

    assert process.returncode == 1
    assert f"cannot write the result to {output}" in process.stderr
    assert "Traceback" not in process.stderr
    assert not (tmp_path / "cache").exists()
