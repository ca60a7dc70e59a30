"""Rules for submitted URLs: which may become links on the site, and their link text."""

from __future__ import annotations

from urllib.parse import urlsplit

#: Schemes a submitted URL may use; anything else (``javascript:``, ``data:``,
#: ``file:``, ``vbscript:``) is rejected by validation and never linked.
LINK_SCHEMES = ("http", "https")
MAX_URL_LENGTH = 2000


def url_problem(url: str) -> str | None:
    """Return why ``url`` may not be linked from the site, or None when it may.

    >>> url_problem("https://example.org/model") is None
    True
    >>> url_problem("javascript:alert(1)")
    "the scheme 'javascript' is not allowed; use an http:// or https:// URL"
    """
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is {len(url)} characters long, over the limit of {MAX_URL_LENGTH}"
    # Browsers drop tabs and newlines inside URLs ("java\tscript:" runs as
    # javascript:), so any whitespace or control character is rejected.
    if any(
        character.isspace() or ord(character) < 32 or ord(character) == 127 for character in url
    ):
        return "the URL contains whitespace or a control character"
    try:
        parts = urlsplit(url)
    except ValueError as error:
        return f"the URL cannot be parsed ({error})"
    if parts.scheme.lower() not in LINK_SCHEMES:
        scheme = parts.scheme or "(none)"
        return f"the scheme {scheme!r} is not allowed; use an http:// or https:// URL"
    if not parts.hostname:
        return "the URL has no host name"
    return None


def link_url(url: str | None) -> str | None:
    """Return ``url`` when the site may link to it, else None."""
    if url is None or url_problem(url) is not None:
        return None
    return url


def link_text(url: str) -> str:
    """Return the short text of a link: the host name, without a leading 'www.'.

    >>> link_text("https://www.example.org/models/gpt?x=1")
    'example.org'
    """
    host = urlsplit(url).hostname or url
    return host.removeprefix("www.")
