"""Slugs: the file-name-safe names of result pages and submission files.

A slug contains only ``a-z``, ``0-9`` and single hyphens, so it can never
climb out of its folder (``..``), hide as a dotfile, or need escaping in a
URL or an HTML attribute.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: Maximum slug length; longer text is cut at a hyphen where possible.
MAX_SLUG_LENGTH = 80


def slugify(text: str) -> str:
    """Return the slug of ``text``; "" when it has no letter or digit.

    >>> slugify("Modèle GPT v2 (DP, ε=8)")
    'modele-gpt-v2-dp-8'
    >>> slugify("../../etc/passwd")
    'etc-passwd'
    >>> slugify("<script>")
    'script'
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > MAX_SLUG_LENGTH:
        slug = slug[:MAX_SLUG_LENGTH].rsplit("-", 1)[0] or slug[:MAX_SLUG_LENGTH]
    return slug


def unique_slugs(names: Iterable[str], fallback: str = "result") -> list[str]:
    """Return one distinct slug per name, in order: repeats get ``-2``, ``-3``, ….

    >>> unique_slugs(["A b", "a-b", "???"])
    ['a-b', 'a-b-2', 'result']
    """
    taken: set[str] = set()
    slugs = []
    for name in names:
        base = slugify(name) or fallback
        slug, counter = base, 1
        while slug in taken:
            counter += 1
            slug = f"{base}-{counter}"
        taken.add(slug)
        slugs.append(slug)
    return slugs
