"""Actions from last time: the page where the group reviews the earlier record's actions.

Each action has its own block (DOM id `review-<action id>`) and form; htmx swaps back just
that block, and without JavaScript the form post-redirect-gets to the page. The page's
live block is `#progress` ("4 of 12 reviewed"): live.js refreshes it whenever an indicator
changes, sending (hx-vals) a digest of the reviews it shows; when the reviews have changed
since, the answer carries every action's summary (`review-<id>-now`, no form fields, so
nothing anyone is typing is touched) as out-of-band swaps, and says so in the page's own
polite live region (live.js announces only changes to the indicator a page shows).
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, abort, redirect, render_template, request, url_for
from jinja2_fragments.flask import render_block

from .. import forms, htmx, review
from ..events import Event
from ..worksheet import Conflict, Forbidden, authorise, find_item
from .common import load_workshop, require_actor

bp = Blueprint("review", __name__, url_prefix="/s/<session_id>")


@bp.record_once
def _template_names(state) -> None:
    """The review's statuses, for every page that shows a review (the indicator page too)."""
    state.app.jinja_env.globals.update(REVIEW_STATUSES=review.STATUSES, REVIEW_NOTE_MAX=review.NOTE_MAX)


@bp.app_template_global("action_review_progress")
def action_review_progress(sheets) -> dict:
    """How many of the earlier record's actions are reviewed, of how many (the overview's
    banner calls it with the worksheets it already has)."""
    return review.progress(sheets)


@bp.get("/review")
def page(session_id):
    """Every action carried over from the earlier record, grouped by indicator, to review."""
    workshop = load_workshop(session_id)
    context = review_context(workshop, require_actor(workshop))
    if request.args.get("block") == "progress":
        return _progress(context), 200
    return render_template("review.html", **context)


@bp.post("/review/<indicator_id>/<action_id>")
def save(session_id, indicator_id, action_id):
    """Record the group's review of one earlier action: its status now and a short note."""
    workshop = load_workshop(session_id)
    actor = require_actor(workshop)
    if workshop.framework.indicator(indicator_id) is None:
        abort(404, "That indicator is not part of this framework.")
    form = review_form(request.form)
    event = Event.by(actor, "action_reviewed", indicator_id, id=action_id, status=form.clean.get("status"),
                     note=form.clean["note"] or None)
    status, message = 200, None
    try:
        authorise(actor, workshop.worksheet(indicator_id), event)  # permission before validation
        if form.valid:
            workshop.change(actor, event)
        else:
            status = 422
    except Forbidden as refused:
        status, message = 403, str(refused)
    except Conflict as conflict:
        status, message = (422, None) if not form.valid else (409, str(conflict))
    return _answer(workshop, actor, indicator_id, action_id, None if status == 200 else form, message, status)


def review_form(data) -> forms.Form:
    """A review: the action's status now (required) and an optional short note."""
    form = forms.Form(data)
    form.choice("status", "whether the action is done, in progress, not started or dropped", review.STATUSES)
    form.text("note", "a note", review.NOTE_MAX, required=False, name="the note")
    return form


def review_context(workshop, actor, **extra) -> dict:
    """Everything the review page and each of its blocks render from."""
    sheets = workshop.worksheets()
    framework, in_scope = workshop.framework, {i.id for i in workshop.indicators()}
    carried = review.earlier_actions(sheets[i.id] for i in framework.indicators() if i.id in sheets)
    groups = {}
    for indicator_id, action in carried:
        groups.setdefault(indicator_id, []).append(action)
    return dict(
        workshop=workshop, details=workshop.details, actor=actor, oob=False, fragment=False, forms={}, message=None,
        groups=[(framework.indicator(i), i in in_scope, actions) for i, actions in groups.items()],
        sources=sorted({(a["earlier"]["title"], a["earlier"]["date"]) for _, a in carried}, key=lambda s: s[1]),
        progress=review.progress(sheets.values()), seen=_digest(carried),
        here=url_for("review.page", session_id=workshop.id)) | extra


def _digest(carried: list[tuple[str, dict]]) -> str:
    """A short fingerprint of what the page shows of every earlier action, so a live refresh
    sends the actions' summaries only when one of them changed."""
    shown = [(i, a["id"], a["what"], a["owner"], a["due"], a.get("review")) for i, a in carried]
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:16]


def _progress(context: dict) -> str:
    """The progress block; with every action's summary out of band if the page's are out of date."""
    html = render_block("review.html", "progress", **context)
    if request.args.get("seen") == context["seen"]:
        return html
    summary = dict(context, oob=True)
    return html + render_block("review.html", "review_news", **summary) + "".join(
        render_block("review.html", "action_now", **summary, action=action)
        for _, _, actions in context["groups"] for action in actions)


def _answer(workshop, actor, indicator_id: str, action_id: str, form, message: str | None, status: int):
    """The action's block (and the progress, out of band) for htmx; otherwise back to the
    page on success, or the whole page again with the message and what was typed."""
    block_id = f"review-{action_id}"
    context = review_context(workshop, actor, forms={action_id: form} if form else {},
                             message=message and {"block": block_id, "text": message})
    if htmx and not htmx.boosted:
        action = find_item(workshop.worksheet(indicator_id), "action", action_id)
        block = render_block("review.html", "action_review", **dict(context, fragment=True), action_id=action_id,
                             indicator_id=indicator_id, action=action if action and "earlier" in action else None)
        return block + render_block("review.html", "progress", **dict(context, oob=True)), status
    if status < 400:
        return redirect(url_for("review.page", session_id=workshop.id) + f"#{block_id}", code=303)
    return render_template("review.html", **context), status
