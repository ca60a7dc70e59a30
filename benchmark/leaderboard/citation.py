"""BibTeX entries for a suite version and for one result.

A score is cited with the suite version and digest it was computed with, so
the entry's ``note`` carries the digest. Every submitted string is escaped
for BibTeX, so a model name cannot close the entry or run a TeX command.
"""

from __future__ import annotations

import os
import re
import textwrap
from datetime import UTC, datetime

from benchmark.results.models import Interval, Result

#: Maximum line length of an entry; longer field values wrap.
LINE_WIDTH = 78

_BIBTEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "&": r"\&",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def build_time() -> datetime:
    """Return the time to stamp on citations and the site, in UTC.

    ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds
    convention), when set, replaces the clock, so a rebuilt site is
    byte-identical.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC)


def escape_bibtex(text: str) -> str:
    r"""Escape TeX's special characters in a field value.

    >>> escape_bibtex("50% of {x}_1")
    '50\\% of \\{x\\}\\_1'
    """
    return "".join(_BIBTEX_SPECIALS.get(character, character) for character in text)


def bibtex_key(*parts: str) -> str:
    """Join parts into a citation key of letters, digits and underscores.

    >>> bibtex_key("clinmem", "smoke", "v1")
    'clinmem_smoke_v1'
    """
    cleaned = (re.sub(r"[^A-Za-z0-9]+", "_", part).strip("_") for part in parts)
    return "_".join(part for part in cleaned if part)


def suite_bibtex(
    suite_id: str,
    version: int,
    digest: str,
    *,
    title: str | None = None,
    clinmem_version: str | None = None,
    year: int | None = None,
) -> str:
    """Return the BibTeX entry that cites suite ``suite_id`` at ``version`` with its digest."""
    import benchmark

    heading = f"clinmem benchmark suite {suite_id}, version {version}"
    if title:
        heading += f": {title}"
    fields = {
        "title": "{" + escape_bibtex(heading) + "}",
        "howpublished": escape_bibtex(
            f"clinmem {clinmem_version or benchmark.__version__}; "
            f"reproduce with 'clinmem run --suite {suite_id}'"
        ),
        "year": str(year if year is not None else build_time().year),
        "note": escape_bibtex(f"Suite digest {digest}"),
    }
    return _entry(bibtex_key("clinmem", suite_id, f"v{version}"), fields)


def result_bibtex(result: Result, slug: str) -> str:
    """Return the BibTeX entry that cites one result: model, score, suite and digests."""
    submission = result.submission or {}
    name = submission.get("name") or result.model.id
    suite = result.suite
    risk = format_interval_text(result.summary.risk_index, digits=1)

    fields = {
        "title": "{"
        + escape_bibtex(f"{name} on the clinmem suite {suite.name} v{suite.version}")
        + "}",
        "year": result.provenance.finished_at[:4],
        "note": escape_bibtex(
            f"Risk index {risk}. Suite digest {suite.digest}; model digest "
            f"{result.model.digest}; cohort {result.cohort.name}, fingerprint "
            f"{result.cohort.fingerprint}"
        ),
    }
    url = submission.get("url")
    if url:
        fields["howpublished"] = r"\url{" + _escape_url(url) + "}"
    return _entry(bibtex_key("clinmem", suite.name, f"v{suite.version}", slug), fields)


def format_interval_text(interval: Interval, digits: int = 3) -> str:
    """Format a value with its interval, e.g. '0.712 [0.680, 0.745]'; 'not computed' when null."""
    if interval.value is None:
        return "not computed"
    text = f"{interval.value:.{digits}f}"
    if interval.ci_low is not None and interval.ci_high is not None:
        text += f" [{interval.ci_low:.{digits}f}, {interval.ci_high:.{digits}f}]"
    return text


def _escape_url(url: str) -> str:
    # Percent-encode what \url cannot take literally, then escape % and #,
    # which hyperref's \url accepts as \% and \#.
    for character, encoded in (("\\", "%5C"), ("{", "%7B"), ("}", "%7D")):
        url = url.replace(character, encoded)
    return url.replace("%", r"\%").replace("#", r"\#")


def _entry(key: str, fields: dict[str, str]) -> str:
    width = max(len(name) for name in fields)
    lines = [f"@misc{{{key},"]
    for name, value in fields.items():
        # Long values wrap onto indented lines: BibTeX reads the line breaks as spaces.
        prefix = f"  {name.ljust(width)} = "
        wrapped = textwrap.wrap(
            f"{{{value}}},",
            width=LINE_WIDTH,
            initial_indent=prefix,
            subsequent_indent=" " * len(prefix),
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines += wrapped
    lines.append("}")
    return "\n".join(lines)
