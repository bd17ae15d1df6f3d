"""Which web origins may act in this app: its own, ECSA_PUBLIC_URL's and those listed.

A browser names the page a request comes from in its `Origin` header (or, failing that,
`Referer`). A form on another site, or on another port of the same host, can make a
browser post to us with our cookie; checking the origin of every write (and of every live
socket) refuses that. No Flask here: the HTTP views and the socket layer both use it.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_of(url: str | None) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased; None for anything without both."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def configured(public_url: str | None, listed: str | None) -> tuple[str, ...]:
    """The origins allowed besides the request's own: the public URL's and those listed."""
    named = [origin_of(item) for item in (listed or "").split(",")] + [origin_of(public_url)]
    return tuple(origin for origin in named if origin)


def allowed(sent: str, own: str, extra: tuple[str, ...]) -> bool:
    """Whether a request sent from origin `sent` may act (`own`: the origin it was sent to).

    "null" (a sandboxed frame, a file:// page, a redirect across sites) is never allowed.
    """
    sent = sent.strip().lower()
    return sent != "null" and (sent == own.lower() or sent in extra)
