"""What every view needs: the session from the URL, who is asking, and how to answer."""

from __future__ import annotations

from flask import (abort, after_this_request, current_app, make_response, redirect, render_template, request,
                   session, url_for)
from jinja2_fragments.flask import render_block

from .. import htmx, origins, workshops
from ..events import Actor
from ..once import Once, new_attempt, valid_attempt
from ..workshop import Workshop


def load_workshop(session_id: str) -> Workshop:
    """The session named in the URL, or a 404 (or 500 naming a damaged file)."""
    found = workshops().get(session_id)
    if found is None:
        damaged = [p for p in workshops().problems if str(p.path).endswith(f"/{session_id}.json")]
        if damaged:
            abort(500, f"This session's data file is damaged and has been left untouched for recovery: {damaged[0].reason}")
        abort(404, "There is no workshop session at this address. Check the link, or join with a code.")
    return found


def room_elsewhere(error):
    """503 for a session another process serves now (more than one process): a short page
    that asks again by itself, and Retry-After: 1 for anything else that asks."""
    message = getattr(error, "message", "This session is moving to another server; this page will retry.")
    sent = request.method != "GET"  # a form: reloading would ask for its address, not send it again
    ours = sent and origins.origin_of(request.referrer) == origins.origin_of(request.host_url)
    back = request.referrer if ours else url_for("sessions.home")  # never a link to another site
    response = make_response(render_template("moving.html", notice=message, sent=sent, back=back), 503)
    response.headers["Retry-After"] = "1"
    return response


def current_actor(workshop: Workshop) -> Actor | None:
    """The person this browser joined the session as (from the signed cookie), if any."""
    return workshop.signed_in(cookie_part("joined").get(workshop.id), cookie_part("facilitating").get(workshop.id))


def cookie_part(name: str) -> dict:
    """One of the cookie's per-session maps (a cookie made by hand may hold anything)."""
    part = session.get(name)
    return part if isinstance(part, dict) else {}


def require_actor(workshop: Workshop) -> Actor:
    """The joined person, or stop: a page view goes to the join form, a write gets 403."""
    actor = current_actor(workshop)
    if actor is None:
        if request.method == "GET":
            abort(redirect(url_for("sessions.join", code=workshop.details["join_code"])))
        abort(403, "Join this session before making changes.")
    return actor


def require_facilitator(workshop: Workshop) -> Actor:
    """The joined facilitator, or 403."""
    actor = require_actor(workshop)
    if not actor.is_facilitator:
        abort(403, "Only the facilitator can do that.")
    return actor


def remember(workshop: Workshop, actor: Actor) -> None:
    """Keep this browser joined to the session across reloads (signed cookie); the roles it
    holds in other sessions stay as they are."""
    joined, facilitating = dict(cookie_part("joined")), dict(cookie_part("facilitating"))
    joined[workshop.id] = actor.id
    facilitating.pop(workshop.id, None)
    if actor.is_facilitator:
        facilitating[workshop.id] = workshop.facilitator_generation()
    session["joined"], session["facilitating"] = joined, facilitating
    session.permanent = True


def answer(template: str, block: str, context: dict, status: int = 200, then: str | None = None):
    """One answer for both worlds: htmx gets the block, a plain form post-redirect-gets.

    A failed plain post (status >= 400) gets the whole page again, with the message and
    the typed values in place, so nothing is lost without JavaScript either.
    """
    if htmx and not htmx.boosted:
        return render_block(template, block, **context), status
    if status < 400 and then:
        return redirect(then, code=303)
    return render_template(template, **context), status


def once() -> Once:
    """The app's record of form submissions already done (see ecsa/once.py)."""
    return current_app.extensions["ecsa.once"]


def run_once(key: tuple | None, work):
    """work() once per submitted form, whichever process each copy of it lands on (more
    than one process: claimed in Redis too). Its result must be JSON: strings, lists."""
    return once().run(key, work, across=workshops().placement.run_once)


def form_attempt() -> str:
    """The attempt id to show a form with: the one it was sent with (a refused form shown
    again is the same attempt), or a fresh one."""
    return valid_attempt(request.form.get("attempt")) or new_attempt()


def submission_key(kind: str, *values) -> tuple | None:
    """What makes a form submission a repeat: its attempt id and what was sent (None: no id)."""
    attempt = valid_attempt(request.form.get("attempt"))
    return (kind, attempt, repr(values)) if attempt else None


def create_once(key: tuple | None, create) -> tuple[Workshop, Actor, str]:
    """Create a session once per submitted form; returns it, its facilitator and their token.

    A repeat (a double tap, a resend) gets the same session rather than a second one. Its
    facilitator link is replaced with a new one to show, since the first answer, which
    carried the link, never reached the screen; the token itself is never kept.
    """
    fresh = {}

    def work():
        workshop, facilitator, fresh["token"] = create()
        return workshop.id, facilitator.id
    session_id, facilitator_id = run_once(key, work)
    workshop = workshops().get(session_id)
    if workshops().placement.shared:
        @after_this_request
        def let_go(response):
            """More than one process: the session's own requests may go to another one."""
            workshops().let_go(session_id)
            return response
    facilitator = workshop.actor(facilitator_id)
    return workshop, facilitator, fresh.get("token") or workshop.rotate_facilitator_token(facilitator)
