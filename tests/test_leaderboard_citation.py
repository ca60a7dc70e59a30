"""BibTeX for suites (``clinmem cite``) and for results."""

from __future__ import annotations

from click.testing import CliRunner
from leaderboard_results import SUITE_ID, reference_results  # noqa: F401

from benchmark.cli.submission_commands import cite_command
from benchmark.leaderboard.citation import escape_bibtex, result_bibtex, suite_bibtex
from benchmark.results.models import Result
from benchmark.specs.registry import SpecRegistry


def _balanced(text: str) -> bool:
    depth = 0
    unescaped = text.replace("\\{", "").replace("\\}", "")
    for character in unescaped:
        depth += {"{": 1, "}": -1}.get(character, 0)
        if depth < 0:
            return False
    return depth == 0


def test_cite_prints_suite_with_digest(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    resolved = SpecRegistry.load().resolve_suite("smoke")

    outcome = CliRunner().invoke(cite_command, ["smoke"])

    assert outcome.exit_code == 0, outcome.output
    lines = outcome.output.splitlines()
    assert lines[0] == "@misc{clinmem_smoke_v3,"
    assert lines[-1] == "}"
    words = " ".join(outcome.output.split())
    assert f"note = {{Suite digest {resolved.digest}}}," in words
    assert "year = {2023}," in words
    assert "title = {{clinmem benchmark suite smoke, version 3: clinmem smoke suite}}," in words
    assert _balanced(outcome.output)


def test_cite_suite_from_extra_specs(reference_results):  # noqa: F811
    outcome = CliRunner().invoke(
        cite_command, [SUITE_ID, "--specs", str(reference_results.specs_dir)]
    )

    assert outcome.exit_code == 0, outcome.output
    assert "@misc{clinmem_site_check_v1," in outcome.output
    assert "clinmem benchmark suite site\\_check" in outcome.output


def test_cite_unknown_suite():
    outcome = CliRunner().invoke(cite_command, ["standart"])

    assert outcome.exit_code == 1
    assert "Unknown suite 'standart'. Did you mean 'standard'?" in outcome.output
    assert "Traceback" not in outcome.output


def test_result_entry_escapes_submission(reference_results):  # noqa: F811
    document = reference_results.document("lookup")
    document["submission"] = {
        "name": "GPT} @misc{evil, title={x} \\input{/etc/passwd} 100% & more_",
        "url": "https://example.org/a%20b#frag{x}",
    }
    result = Result.model_validate(document)

    entry = result_bibtex(result, "evil-model")

    assert entry.startswith("@misc{clinmem_site_check_v1_evil_model,")
    assert _balanced(entry)
    assert "\\}" in entry
    assert "\\textbackslash{}input" in entry
    assert "100\\% \\& more\\_" in entry
    assert "\\url{https://example.org/a\\%20b\\#frag\\%7Bx\\%7D}" in entry
    assert f"year         = {{{result.provenance.finished_at[:4]}}}" in entry


def test_long_fields_wrap():
    entry = suite_bibtex("smoke", 1, "sha256:" + "a" * 64, title="x " * 60, year=2026)

    assert all(len(line) <= 78 or "sha256" in line for line in entry.splitlines())
    assert _balanced(entry)


def test_escape_bibtex_specials():
    assert escape_bibtex("a_b {c} ~ ^ $ # \\") == (
        "a\\_b \\{c\\} \\textasciitilde{} \\textasciicircum{} \\$ \\# \\textbackslash{}"
    )
