"""HTTP views: thin adapters from requests to the workshop model, one blueprint per noun."""

from __future__ import annotations

import logging
import re

from flask import Flask, abort, current_app, render_template, request

from .. import origins, workshops
from ..forms import PERSPECTIVES, is_link
from ..rounds import PHASE_LABELS, perspective_gap
from ..worksheet import ACTION_STATUSES, STATE_LABELS

# Werkzeug logs every request line; the facilitator and room screen links carry a secret token.
TOKEN_IN_PATH = re.compile(r"(/facilitator/|/screen/)[A-Za-z0-9_-]+")


class RedactTokens(logging.Filter):
    """Keep facilitator and room screen tokens out of the request log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = TOKEN_IN_PATH.sub(r"\1[redacted]", str(record.msg))
        if record.args:
            record.args = tuple(TOKEN_IN_PATH.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def register(app: Flask) -> None:
    """Attach blueprints, error pages, template helpers and security headers."""
    from . import records, reports, review, screen, sessions, timer, worksheets
    for module in (sessions, worksheets, records, reports, timer, review, screen):
        app.register_blueprint(module.bp)
    sessions.init_app(app)
    request_log = logging.getLogger("werkzeug")
    # The logger is global and outlives each app (tests make hundreds): one filter is enough.
    if not any(isinstance(f, RedactTokens) for f in request_log.filters):
        request_log.addFilter(RedactTokens())
    app.jinja_env.globals.update(PERSPECTIVES=PERSPECTIVES, STATE_LABELS=STATE_LABELS, PHASE_LABELS=PHASE_LABELS,
                                 perspective_gap=perspective_gap,
                                 ACTION_STATUSES=ACTION_STATUSES, is_link=is_link,
                                 current_framework=lambda: workshops().framework)
    # Blocks rendered alone (htmx fragments) do not see a template's top-level imports,
    # so the form macros are globals rather than `{% from "macros.html" import ... %}`.
    for template, names in MACROS.items():
        macros = app.jinja_env.get_template(template).module
        app.jinja_env.globals.update({name: getattr(macros, name) for name in names})
    for code, title in ERRORS.items():
        app.register_error_handler(code, _error_page(code, title))
    app.before_request(_writes_from_our_pages_only)
    app.after_request(_security_headers)


CROSS_ORIGIN = ("This was sent from a page that is not part of this workshop, so it was not done. "
                "Go back to the workshop's own page and try again.")


def _writes_from_our_pages_only():
    """Refuse a state-changing request that a browser says came from another origin (CSRF).

    A SameSite=Lax cookie still travels with a form posted from another port of this host
    or a sibling subdomain, and a cross-site post with no cookie replaced the victim's. A
    request with neither Origin nor Referer is not from a browser (browsers send Origin on
    every POST), so it cannot carry someone else's cookie by surprise and is let through.
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    sent = request.headers.get("Origin") or origins.origin_of(request.headers.get("Referer"))
    if sent is None:
        return None
    own = origins.origin_of(request.host_url) or ""
    if not origins.allowed(sent, own, current_app.config["ALLOWED_ORIGINS"]):
        abort(403, CROSS_ORIGIN)
    return None


MACROS = {"macros.html": ("field", "textarea", "radios", "select", "error_summary", "message_for",
                          "perspective_radios", "item_controls", "item_edit_form"),
          "_rating_macros.html": ("distribution",)}

ERRORS = {
    403: "You cannot do that",
    404: "Page not found",
    413: "That was too big to send",
    429: "Too many attempts",
    500: "Sorry, something went wrong",
}


def _error_page(code: int, title: str):
    """An error handler that renders the shared error page with the error's message."""
    def handler(error):
        description = getattr(error, "description", None)
        return render_template("error.html", code=code, title=title, message=description), code
    return handler


def _security_headers(response):
    """Headers that keep pages from leaking the URL, being framed or running foreign scripts."""
    # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" even on
    # our own form posts, and the origin check above could not tell them from a forgery.
    # Other sites still get no Referer, so no address of ours leaks to an evidence link.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
    return response
