"""Sessions: create one, share it, join it, come back as facilitator, change its settings."""

from __future__ import annotations

import time

import segno
from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for

from .. import forms, workshops
from ..ratelimit import GuessPacer
from ..worksheet import Conflict
from ..workshops import normalise_code
from .common import (answer, create_once, current_actor, form_attempt, load_workshop, remember, require_actor,
                     require_facilitator, run_once, submission_key)

bp = Blueprint("sessions", __name__)


def _sections() -> set[int]:
    """The section numbers of the framework in use."""
    return {section.number for section in workshops().framework.sections}


@bp.get("/")
def home():
    """The start page: join with a code, or create a session."""
    return render_template("home.html", form=forms.Form({}), join_form=forms.Form({}), attempt=form_attempt())


@bp.post("/sessions")
def create():
    """Create a session and make this browser its facilitator."""
    form = forms.session_form(request.form, _sections())
    if not form.valid:
        return render_template("home.html", form=form, join_form=forms.Form({}), attempt=form_attempt()), 422
    details = {key: form.clean[key] for key in ("title", "organisation", "date", "scope", "auto_reveal")}
    details["anonymous"] = form.clean.get("anonymous", False)
    name, perspective = form.clean["name"], form.clean["perspective"]
    workshop, facilitator, token = create_once(submission_key("create", details, name, perspective),
                                               lambda: workshops().create(details, name, perspective))
    remember(workshop, facilitator)
    _show_once(workshop, token)
    return redirect(url_for("sessions.share", session_id=workshop.id), code=303)


def _show_once(workshop, token: str) -> None:
    """Hand the new facilitator link to this browser's next page only (it is never stored)."""
    session["facilitator_link"] = _public(url_for("sessions.facilitate", session_id=workshop.id, token=token))


def _public(path: str) -> str:
    """An absolute link as people outside the server reach it (PUBLIC_URL behind a proxy)."""
    base = current_app.config["PUBLIC_URL"] or request.host_url
    return base.rstrip("/") + path


@bp.post("/s/<session_id>/facilitator-link")
def new_facilitator_link(session_id):
    """Replace the facilitator link (the old one stops working) and show the new one once."""
    workshop = load_workshop(session_id)
    actor = require_facilitator(workshop)
    _show_once(workshop, workshop.rotate_facilitator_token(actor))
    remember(workshop, actor)  # every other browser that used the old link is signed out
    return redirect(url_for("sessions.share", session_id=session_id), code=303)


@bp.get("/s/<session_id>/facilitator/<token>")
def facilitate(session_id, token):
    """The facilitator's private link: recognise this browser as the facilitator."""
    workshop = load_workshop(session_id)
    if not workshop.is_facilitator_token(token):
        abort(403, "This facilitator link is not valid for this session.")
    facilitator = next(p for p in workshop.participants() if p["role"] == "facilitator")
    remember(workshop, workshop.actor(facilitator["id"]))
    # Redirect so the token leaves the address bar (and the browser's history of it).
    return redirect(url_for("worksheets.overview", session_id=session_id), code=303)


def init_app(app) -> None:
    """Make the join-code pacers once, at start-up (made lazily, two first requests raced)."""
    per_address = app.config["JOIN_ATTEMPTS_PER_MINUTE"]
    app.extensions["ecsa.join_pacers"] = (
        GuessPacer(per_address),                            # one address (or one NAT)
        GuessPacer(per_address * SERVER_WIDE, pace=0.05),  # everyone: 20 guesses a second at most
    )


SERVER_WIDE = 10  # the server-wide allowance of wrong codes, as a multiple of one address's


def _pacers() -> list[tuple[GuessPacer, str]]:
    """The join-code pacers with this request's key for each."""
    per_address, everyone = current_app.extensions["ecsa.join_pacers"]
    return [(per_address, request.remote_addr or "unknown"), (everyone, "*")]


@bp.route("/join", methods=["GET", "POST"])
def join_by_code():
    """Type a join code (as read off the facilitator's screen)."""
    if request.method == "GET" and "code" not in request.args:
        return render_template("join_code.html", join_form=forms.Form({}))
    workshop, refused = _find_by_code(normalise_code(request.values.get("code", "")))
    if refused:
        return refused
    return redirect(url_for("sessions.join", code=workshop.details["join_code"]), code=303)


def _find_by_code(code: str, find=None):
    """The session with this join code (or what `find` makes of the code), or the code form
    again saying why not."""
    if not code:  # an empty form is a slip, not a guess, so it is not counted
        return None, _code_refused(code, "Enter the join code", 422)
    # Every lookup is paced, the join link's included: otherwise a script could guess codes
    # in /join/<code> without ever being counted. A right code is never refused, only paced.
    waits = [pacer.wait(key) for pacer, key in _pacers()]
    if None in waits:
        return None, _code_refused(code, "Too many join codes have been tried from your network just now. "
                                         "Wait a few seconds, then try again.", 429)
    time.sleep(max(waits))
    workshop = (find or workshops().by_code)(code)
    if workshop is None:
        for pacer, key in _pacers():
            pacer.fail(key)
        return None, _code_refused(code, "No session has that code. Check it with your facilitator.", 404)
    return workshop, None


def _code_refused(code: str, message: str, status: int):
    """The join-code form again, with the code as typed and the reason beside it."""
    form = forms.Form({"code": code})
    form.errors["code"] = message
    return render_template("join_code.html", join_form=form), status


@bp.route("/join/<code>", methods=["GET", "POST"])
@bp.route("/s/<session_id>/join/<code>", methods=["GET", "POST"])
def join(code, session_id=None):
    """Join a session: give a display name and a perspective."""
    if workshops().placement.shared:
        # More than one process: join at the session's own address, which the proxy routes
        # to the process serving its room (307 keeps a posted form as it was sent).
        found, refused = _find_by_code(normalise_code(code), workshops().session_of_code)
        if refused:
            return refused
        if found != session_id:
            return redirect(url_for("sessions.join", session_id=found, code=code), code=307)
    workshop, refused = _find_by_code(normalise_code(code))
    if refused:
        return refused
    actor = current_actor(workshop)
    if actor and (request.method == "GET" or actor.is_facilitator):
        # Joining again would make the facilitator's browser a participant's: it keeps its role.
        return redirect(url_for("worksheets.overview", session_id=workshop.id), code=303)
    form = forms.join_fields(forms.Form(request.form))
    if request.method == "GET" or not form.valid:
        status = 200 if request.method == "GET" else 422
        return render_template("join.html", workshop=workshop, details=workshop.details,
                               form=forms.Form({}) if status == 200 else form, attempt=form_attempt()), status
    name, perspective = form.clean["name"], form.clean["perspective"]
    # A double tap sends the form twice at once: both must join the same one person.
    key = submission_key("join", workshop.id, name, perspective)
    remember(workshop, workshop.actor(run_once(key, lambda: workshop.join(name, perspective).id)))
    return redirect(url_for("worksheets.overview", session_id=workshop.id), code=303)


def _share_context(workshop) -> dict:
    """The join link, code and QR code to show the room."""
    link = _public(url_for("sessions.join", code=workshop.details["join_code"]))
    qr = segno.make(link, error="m").svg_data_uri(scale=6, border=2)
    return {"join_link": link, "join_qr": qr}


@bp.get("/s/<session_id>/share")
def share(session_id):
    """Show the join link, the code and a QR code, large enough for a room to read."""
    workshop = load_workshop(session_id)
    actor = require_actor(workshop)
    link = session.pop("facilitator_link", None) if actor.is_facilitator else None
    return render_template("share.html", workshop=workshop, details=workshop.details, actor=actor,
                           facilitator_link=link, **_share_context(workshop))


@bp.route("/s/<session_id>/settings", methods=["GET", "POST"])
def settings(session_id):
    """Change the session's title, organisation, date and sections in scope."""
    workshop = load_workshop(session_id)
    actor = require_facilitator(workshop)
    context = {"workshop": workshop, "details": workshop.details, "actor": actor,
               "anonymous_locked": workshop.rated()}
    if request.method == "GET":
        return render_template("settings.html", form=forms.Form(workshop.details), **context)
    form = forms.session_form(request.form, _sections(), with_facilitator=False)
    if form.valid:
        try:
            workshop.update_details(actor, form.clean)
            return redirect(url_for("worksheets.overview", session_id=session_id), code=303)
        except Conflict as refused:  # someone rated since the form was shown
            form.errors["anonymous"] = str(refused)
            context["anonymous_locked"] = True
    return answer("settings.html", "settings_form", dict(context, form=form), 422)
