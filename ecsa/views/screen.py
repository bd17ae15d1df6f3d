"""The room screen: a read-only view of the session for the projector or a hybrid meeting's
shared screen, following the facilitator.

A screen is no participant: it has no seat, is not counted as present, and can change
nothing. It is opened with a secret link that only the facilitator can make (kept on the
server only as a hash, like the facilitator link), or by the facilitator's own browser.
It shows exactly what a participant sees: who has rated, never a value before the reveal.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from jinja2_fragments.flask import render_block

from ..events import PARTICIPANT, Actor
from .common import cookie_part, current_actor, load_workshop, require_facilitator
from .sessions import _public, _share_context
from .worksheets import rating_context

bp = Blueprint("screen", __name__, url_prefix="/s/<session_id>")

# Who the screen's blocks are rendered for: nobody's own rating, no controls.
ROOM_SCREEN = Actor("", "Room screen", PARTICIPANT)
REFUSED = ("The room screen can be opened only by the facilitator, or with the room screen link they make. "
           "Ask the facilitator to open it on this screen.")


def can_watch(workshop) -> bool:
    """Whether this browser may see the session's room screen: it opened a room screen link
    of this session, or it is the session's facilitator."""
    generation, held = workshop.screen_generation(), cookie_part("screens").get(workshop.id)
    if generation and isinstance(held, str) and hmac.compare_digest(generation, held):
        return True
    actor = current_actor(workshop)
    return actor is not None and actor.is_facilitator


@bp.post("/screen")
def make_link(session_id):
    """Make a room screen link (facilitator only): open it here, or show it to copy to another screen."""
    workshop = load_workshop(session_id)
    actor = require_facilitator(workshop)
    link = url_for("screen.open_link", session_id=session_id, token=workshop.new_screen_token(actor))
    if request.form.get("show") != "link":
        return redirect(link, code=303)
    page = render_template("share.html", workshop=workshop, details=workshop.details, actor=actor,
                           facilitator_link=None, screen_link=_public(link), **_share_context(workshop))
    return page, 200, {"Cache-Control": "no-store"}  # the link is a secret: not kept in any cache


@bp.get("/screen/<token>")
def open_link(session_id, token):
    """A room screen link: let this browser watch the session, then drop the token from the address."""
    workshop = load_workshop(session_id)
    if not workshop.is_screen_token(token):
        abort(404, "This room screen link is not valid for this session. "
                   "Ask the facilitator to make a new one from Invite people.")
    screens = dict(cookie_part("screens"))
    screens[session_id] = workshop.screen_generation()
    session["screens"] = screens
    session.permanent = True
    return redirect(url_for("screen.page", session_id=session_id), code=303)


@bp.get("/screen")
def page(session_id):
    """The room screen, or (?block=main) its main block as the screen's script refreshes it."""
    workshop = load_workshop(session_id)
    if not can_watch(workshop):
        abort(403, REFUSED)
    context = screen_context(workshop, request.args.get("showing"))
    if request.args.get("block") == "main":
        return render_block("screen.html", "main", **context)
    return render_template("screen.html", **context)


def screen_context(workshop, showing: str | None) -> dict:
    """Everything the room screen renders from, for the indicator the facilitator is on."""
    indicator_id, where = shown_indicator(workshop, showing)
    ws, details = workshop.worksheet(indicator_id), workshop.details
    here = url_for("screen.page", session_id=workshop.id)
    return dict(workshop=workshop, details=details, viewer=ROOM_SCREEN, ws=ws, where=where,
                indicator=workshop.framework.indicator(indicator_id), framework=workshop.framework,
                here=here, forms={}, message=None, **rating_context(workshop, ws, details, ROOM_SCREEN),
                **_share_context(workshop))


def shown_indicator(workshop, showing: str | None) -> tuple[str, str]:
    """The indicator to show, and why: "facilitator" (they are on it), "last" (they were) or
    "first" (they have not been on one since the screen opened).

    Where the facilitator leads with follow-me, else where their pages are; when they are on
    no indicator (the overview, say), the one the screen already shows, then where they last
    led; failing all of those, the first indicator in scope.
    """
    room = workshop.room
    follow = room.following() if room else {"on": False, "indicator": None}
    leading = [follow["indicator"]] if follow["on"] else []
    for where, candidates in (("facilitator", leading + _facilitator_on(workshop)),
                              ("last", [showing, follow["indicator"]])):
        for candidate in candidates:
            if isinstance(candidate, str) and workshop.in_scope(candidate):
                return candidate, where
    return workshop.indicators()[0].id, "first"


def _facilitator_on(workshop) -> list[str]:
    """The indicators the facilitator's open pages show now (none without a live room)."""
    room = workshop.room
    if room is None:
        return []
    facilitator = next(p["id"] for p in workshop.participants() if p["role"] == "facilitator")
    connections = [room.connection(sid) for sid in room.sockets_of(facilitator)]
    return [c.indicator for c in connections if c is not None and c.indicator]
