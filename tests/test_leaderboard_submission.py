"""``clinmem submit``: a validated result written into a leaderboard folder."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from leaderboard_results import reference_results, write_document  # noqa: F401

from benchmark.cli.submission_commands import submit_command
from benchmark.leaderboard.validation import SuiteCatalog, validate_folder


def _submit(reference, result: Path, results_dir: Path, *extra: str):
    arguments = [
        str(result),
        "--name",
        "My Model v2",
        "--url",
        "https://example.org/my-model",
        "--results-dir",
        str(results_dir),
        "--specs",
        str(reference.specs_dir),
        *extra,
    ]
    return CliRunner().invoke(submit_command, arguments)


def test_submit_writes_valid_submission(reference_results, tmp_path):  # noqa: F811
    card = tmp_path / "card.md"
    card.write_text("# My model\nTrained on synthea-1k for 3 epochs.\n", encoding="utf-8")
    board = tmp_path / "board"

    outcome = _submit(
        reference_results,
        reference_results.files["lookup"],
        board,
        "--description",
        "Copies its nearest training patient.",
        "--model-card",
        str(card),
    )

    assert outcome.exit_code == 0, outcome.output
    target = board / "my-model-v2-site-check-v1.json"
    assert f"wrote {target}" in outcome.output
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["submission"] == {
        "name": "My Model v2",
        "url": "https://example.org/my-model",
        "description": "Copies its nearest training patient.",
        "model_card": "# My model\nTrained on synthea-1k for 3 epochs.\n",
    }
    assert document["summary"] == reference_results.document("lookup")["summary"]
    report = validate_folder(board, SuiteCatalog.load([reference_results.specs_dir]))
    assert [file.path for file in report.accepted] == [target]
    assert sorted(path.name for path in board.iterdir()) == [target.name]


def test_submit_refuses_overwrite(reference_results, tmp_path):  # noqa: F811
    board = tmp_path / "board"
    _submit(reference_results, reference_results.files["lookup"], board)

    again = _submit(reference_results, reference_results.files["lookup"], board)
    replaced = _submit(reference_results, reference_results.files["lookup"], board, "--overwrite")

    assert again.exit_code == 1
    assert "already exists; pass --overwrite to replace it" in again.output
    assert replaced.exit_code == 0, replaced.output


def test_submit_rejects_javascript_url(reference_results, tmp_path):  # noqa: F811
    outcome = CliRunner().invoke(
        submit_command,
        [
            str(reference_results.files["lookup"]),
            "--name",
            "x",
            "--url",
            "javascript:alert(1)",
            "--results-dir",
            str(tmp_path / "board"),
            "--specs",
            str(reference_results.specs_dir),
        ],
    )

    assert outcome.exit_code == 1
    assert "cannot be submitted" in outcome.output
    assert "submission/url: 'javascript:alert(1)' is rejected" in outcome.output
    assert not (tmp_path / "board").exists()


def test_submit_rejects_invalid_result(reference_results, tmp_path):  # noqa: F811
    document = reference_results.document("lookup")
    document["probes"][0]["parameters"]["subject_id"] = "p-17"
    source = write_document(document, tmp_path / "leaky.json")

    outcome = _submit(reference_results, source, tmp_path / "board")

    assert outcome.exit_code == 1
    assert "probes/0/parameters/subject_id: the key 'subject_id' names patient-level data" in (
        outcome.output
    )


def test_submit_rejects_broken_json(reference_results, tmp_path):  # noqa: F811
    source = tmp_path / "broken.json"
    source.write_text("[1, 2", encoding="utf-8")

    outcome = _submit(reference_results, source, tmp_path / "board")

    assert outcome.exit_code == 1
    assert f"{source}: not valid JSON" in outcome.output


def test_submit_rejects_non_object(reference_results, tmp_path):  # noqa: F811
    source = tmp_path / "list.json"
    source.write_text("[]", encoding="utf-8")

    outcome = _submit(reference_results, source, tmp_path / "board")

    assert outcome.exit_code == 1
    assert "a result is a JSON object, not list" in outcome.output


def test_submit_rejects_private_file(reference_results, tmp_path):  # noqa: F811
    source = tmp_path / "run.private.json"
    source.write_bytes(reference_results.files["lookup"].read_bytes())

    outcome = _submit(reference_results, source, tmp_path / "board")

    assert outcome.exit_code == 1
    assert "private file of per-patient detail, which is never submitted" in outcome.output


def test_submit_rejects_name_without_letters(reference_results, tmp_path):  # noqa: F811
    outcome = CliRunner().invoke(
        submit_command,
        [
            str(reference_results.files["lookup"]),
            "--name",
            "<>!!",
            "--url",
            "https://example.org",
            "--results-dir",
            str(tmp_path / "board"),
            "--specs",
            str(reference_results.specs_dir),
        ],
    )

    assert outcome.exit_code == 1
    assert "the name '<>!!' has no letter or digit" in outcome.output


def test_submit_rejects_same_run_twice(reference_results, tmp_path):  # noqa: F811
    board = tmp_path / "board"
    reference_results.copy_to(board, "lookup")

    outcome = _submit(reference_results, reference_results.files["lookup"], board)

    assert outcome.exit_code == 1
    assert f"{board / 'lookup.json'} already contains this run" in outcome.output


def test_submit_rejects_non_utf8_model_card(reference_results, tmp_path):  # noqa: F811
    card = tmp_path / "card.txt"
    card.write_bytes("Müller".encode("latin-1"))

    outcome = _submit(
        reference_results,
        reference_results.files["lookup"],
        tmp_path / "board",
        "--model-card",
        str(card),
    )

    assert outcome.exit_code == 1
    assert f"the model card {card} is not UTF-8 text" in outcome.output
