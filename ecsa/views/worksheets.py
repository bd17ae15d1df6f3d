"""The worksheet: the overview of indicators in scope, and each indicator's page and forms.

Every form posts to its own URL; htmx swaps back just the block named after the DOM id
that changed, and without JavaScript the same URL redirects back to the page.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from jinja2_fragments.flask import render_block

from .. import forms, outputs, record, rounds
from ..events import Event, new_id
from ..worksheet import ITEM_KINDS, RATIONALE_MAX, Conflict, Forbidden, authorise, find_item
from .common import answer, load_workshop, require_actor

bp = Blueprint("worksheets", __name__, url_prefix="/s/<session_id>")

BLOCKS = {"worksheet", "status", "notes", "evidence", "evidence_list", "ratings", "ratings_summary",
          "actions", "actions_list", "timer"}
ITEM_FORMS = {"evidence": forms.evidence_form, "action": forms.action_form}  # keyed as worksheet.ITEM_KINDS


@bp.get("/")
def overview(session_id):
    """Progress and heatmap, then sections, areas and indicators in scope with their states."""
    workshop = load_workshop(session_id)
    context = overview_context(workshop, require_actor(workshop))
    if request.args.get("block") == "progress":
        return answer("overview.html", "progress", context)
    return render_template("overview.html", **context)


def overview_context(workshop, actor, **extra) -> dict:
    """Everything the overview page and its progress block render from."""
    details = workshop.details
    sections = [s for s in workshop.framework.sections if s.number in details["scope"]]
    progress = outputs.summary(record.export(workshop, actor, audit=False), workshop.framework)
    sheets = workshop.worksheets()
    return dict(workshop=workshop, details=details, actor=actor, sections=sections, sheets=sheets,
                progress=progress, here=url_for("worksheets.overview", session_id=workshop.id),
                compare_error=None, phases=room_phases(workshop, sheets, actor)) | extra


def room_phases(workshop, sheets: dict, actor) -> dict[str, dict]:
    """Where the room is on each touched indicator: its phase, and (for the facilitator, who
    keeps the room moving) who of the people here has not rated yet."""
    present = workshop.present() if actor.is_facilitator else set()
    people = workshop.participants() if present else []
    phases = {}
    for indicator_id, ws in sheets.items():
        phase = rounds.phase(ws)
        rated = rounds.raters(rounds.current(ws))
        phases[indicator_id] = {"phase": phase, "rated": len(rated),
                                "to_rate": [p["name"] for p in people if phase == rounds.RATING
                                            and p["id"] in present and p["id"] not in rated]}
    return phases


@bp.get("/overview/<indicator_id>")
def overview_item(session_id, indicator_id):
    """One indicator's line of the overview (fetched when it changes live)."""
    workshop = load_workshop(session_id)
    actor = require_actor(workshop)
    if not workshop.in_scope(indicator_id):
        abort(404, "That indicator is not part of this session.")
    sheets = {indicator_id: workshop.worksheet(indicator_id)}
    return render_template("_overview_item.html", workshop=workshop, actor=actor,
                           indicator=workshop.framework.indicator(indicator_id), sheets=sheets,
                           phases=room_phases(workshop, sheets, actor))


def indicator_context(workshop, indicator_id: str, actor, **extra) -> dict:
    """Everything the indicator page and each of its blocks render from."""
    if not workshop.in_scope(indicator_id):
        abort(404, "That indicator is not part of this session.")
    in_scope = [i.id for i in workshop.indicators()]
    position = in_scope.index(indicator_id)
    ws = workshop.worksheet(indicator_id)
    context = dict(
        workshop=workshop, details=workshop.details, actor=actor, ws=ws,
        indicator=workshop.framework.indicator(indicator_id), scale=workshop.framework.rating_levels,
        framework=workshop.framework, position=position + 1, total=len(in_scope),
        previous=in_scope[position - 1] if position else None,
        next=in_scope[position + 1] if position + 1 < len(in_scope) else None,
        here=url_for("worksheets.indicator", session_id=workshop.id, indicator_id=indicator_id),
        editable=ws["lock"] is None, forms={}, editing=None, message=None, conflict=None,
        compared=outputs.compare(workshop.baseline(), indicator_id, (ws["agreed_rating"] or {}).get("value")),
        my_vote=_my_vote(ws, actor), rating_rationale_max=RATIONALE_MAX)
    context.update(rating_context(workshop, ws, context["details"], actor))
    context.update(extra)  # callers override the defaults (editing, ...), so not dict(**extra)
    return context


def _my_vote(ws: dict, actor) -> int | None:
    """The viewer's own rating in the round in hand."""
    return rounds.current(ws)["votes"].get(actor.id, {}).get("value")


def rating_context(workshop, ws: dict, details: dict, actor) -> dict:
    """The rounds as this viewer may see them (values only once revealed), and who of the
    people here has still to rate in the round in hand."""
    people, present = workshop.participants(), workshop.present()
    anonymous = bool(details.get("anonymous"))
    seen = [rounds.seen_by(round_, actor.id, people, workshop.framework.rating_levels, anonymous,
                           forms.PERSPECTIVES) for round_ in ws["rounds"]]
    rated = rounds.raters(rounds.current(ws))
    return dict(rounds_seen=seen, round=seen[-1], anonymous=anonymous, auto_reveal=bool(details.get("auto_reveal")),
                to_rate=[p["name"] for p in people if p["id"] in present and p["id"] not in rated],
                expected=len(present | rated))


def view_key(block: str, actor, ws: dict) -> tuple:
    """What of the viewer a live block shows: it is rendered once per distinct key. (The
    facilitator gets the lock forms; a person's own items get Edit and Remove; the whole
    worksheet also shows their own rating.)"""
    if block == "ratings_summary":
        return (actor.is_facilitator,)  # the facilitator's Reveal and New round buttons
    if block == "status":
        return (actor.is_facilitator,)
    authored = frozenset(item["id"] for item in ws["evidence"] + ws["actions"] if item["author_id"] == actor.id)
    if block in ("evidence_list", "actions_list"):
        return (actor.is_facilitator, authored)
    return (actor.is_facilitator, authored, _my_vote(ws, actor))


def render_for_viewers(workshop, indicator_id: str, blocks: list[str], viewers: dict) -> dict[str, dict[str, str]]:
    """The changed blocks of an indicator page as each viewer (socket id -> Actor) sees them,
    each distinct view rendered once: a rating round of 60 people renders three blocks, not
    the 120 fragments 59 pages used to fetch after every vote."""
    base = indicator_context(workshop, indicator_id, next(iter(viewers.values())))
    rendered, views = {}, {}
    for sid, actor in viewers.items():
        for block in blocks:
            key = (block, view_key(block, actor, base["ws"]))
            if key not in views:
                context = dict(base, actor=actor, my_vote=_my_vote(base["ws"], actor))
                views[key] = render_block("indicator.html", block, **context)
            rendered.setdefault(sid, {})[block] = views[key]
    return rendered


@bp.get("/i/<indicator_id>")
def indicator(session_id, indicator_id):
    """An indicator's statement and worksheet."""
    workshop = load_workshop(session_id)
    context = indicator_context(workshop, indicator_id, require_actor(workshop))
    block = request.args.get("block")
    if block in BLOCKS:
        return answer("indicator.html", block, context)
    return render_template("indicator.html", **context)


def change(session_id: str, indicator_id: str, block: str, make_event, form=None, form_key=None):
    """Apply one change and answer with the block it touched, or the block with the error.

    Permission is checked before validation, so a forbidden request is a 403 whatever
    it carries; a refused form is shown again with what was typed.
    """
    workshop = load_workshop(session_id)
    actor = require_actor(workshop)
    then = url_for("worksheets.indicator", session_id=session_id, indicator_id=indicator_id) + f"#{block}"
    event = make_event(actor)
    status, message, current = 200, None, None
    try:
        authorise(actor, indicator_context(workshop, indicator_id, actor)["ws"], event)
        if form is not None and not form.valid:
            status = 422
        else:
            workshop.change(actor, event)
            form = None
    except Forbidden as refused:
        status, message = 403, str(refused)
    except Conflict as conflict:
        if form is not None and not form.valid:
            status = 422  # what was typed needs fixing first; the form says what
        else:
            status, message, current = 409, str(conflict), conflict.current
    context = indicator_context(workshop, indicator_id, actor, conflict=current)
    if form is not None:
        context["forms"][_form_slot(form_key or block, context["ws"])] = form
    context["message"] = message and {"block": block, "text": message}
    return answer("indicator.html", block, context, status, then)


def _form_slot(key: str, ws: dict) -> str:
    """Where a refused form is shown again (the add form, for an item removed meanwhile)."""
    # The removed item is no longer on the page, so its edit form cannot show the typed text.
    kind, _, item_id = key.partition(":")
    if item_id not in ("", "new") and find_item(ws, kind, item_id) is None:
        return f"{kind}:new"
    return key


@bp.post("/i/<indicator_id>/notes")
def save_notes(session_id, indicator_id):
    """Save the discussion notes, merged with whatever others saved meanwhile."""
    form = forms.Form(request.form)
    form.text("notes", "the notes", forms.NOTES_MAX, required=False)
    base = request.form.get("base", "")[: forms.NOTES_MAX]
    return change(session_id, indicator_id, "notes",
                  lambda actor: Event.by(actor, "notes_saved", indicator_id, text=form.clean["notes"], base=base),
                  form)


@bp.post("/i/<indicator_id>/<kind>")
def add_item(session_id, indicator_id, kind):
    """Add an evidence item or an action."""
    form = _item_form(kind)
    return change(session_id, indicator_id, _block(kind),
                  lambda actor: Event.by(actor, f"{kind}_added", indicator_id, id=new_id(), **form.clean),
                  form, form_key=f"{kind}:new")


@bp.get("/i/<indicator_id>/<kind>/<item_id>/edit")
def edit_item_form(session_id, indicator_id, kind, item_id):
    """Show an evidence item or action as an editable form."""
    workshop = load_workshop(session_id)
    context = indicator_context(workshop, indicator_id, require_actor(workshop), editing=f"{kind}:{item_id}")
    _item_form(kind)
    if find_item(context["ws"], kind, item_id) is None:
        abort(404, f"That {kind} item is no longer there.")
    return answer("indicator.html", _block(kind), context)


@bp.post("/i/<indicator_id>/<kind>/<item_id>")
def edit_item(session_id, indicator_id, kind, item_id):
    """Save an edited evidence item or action (refused if someone changed it meanwhile)."""
    form = _item_form(kind)
    rev = forms.revision(form, "rev", shown_at=ITEM_KINDS[kind].first_field)
    return change(session_id, indicator_id, _block(kind),
                  lambda actor: Event.by(actor, f"{kind}_edited", indicator_id, id=item_id, rev=rev, **form.clean),
                  form, form_key=f"{kind}:{item_id}")


@bp.post("/i/<indicator_id>/<kind>/<item_id>/remove")
def remove_item(session_id, indicator_id, kind, item_id):
    """Remove an evidence item or action (its author or the facilitator only)."""
    _item_form(kind)
    return change(session_id, indicator_id, _block(kind),
                  lambda actor: Event.by(actor, f"{kind}_removed", indicator_id, id=item_id))


def _item_form(kind: str):
    """The validated form for an item kind, or 404 for an unknown kind."""
    if kind not in ITEM_FORMS:
        abort(404)
    return ITEM_FORMS[kind](request.form)


def _block(kind: str) -> str:
    """The DOM id (and template block) of an item kind's list and forms."""
    return ITEM_KINDS[kind].block


@bp.post("/i/<indicator_id>/vote")
def vote(session_id, indicator_id):
    """Cast (or clear) this participant's own rating."""
    workshop = load_workshop(session_id)
    # "Clear my rating" is sent along with the rating still ticked above it, so it must win.
    form = forms.Form({} if request.form.get("clear") else request.form)
    value = forms.rating(form, "value", workshop.framework.rating_values())
    return change(session_id, indicator_id, "ratings",
                  lambda actor: Event.by(actor, "vote_cast", indicator_id, value=value), form, "vote")


def _pressed(session_id: str, indicator_id: str, event_type: str, block: str):
    """A button with nothing to fill in: its event, answered with the block it changes."""
    return change(session_id, indicator_id, block, lambda actor: Event.by(actor, event_type, indicator_id))


@bp.post("/i/<indicator_id>/reveal")
def reveal(session_id, indicator_id):
    """Show everyone the ratings of the round in hand (facilitator only)."""
    return _pressed(session_id, indicator_id, "round_revealed", "ratings")


@bp.post("/i/<indicator_id>/round")
def new_round(session_id, indicator_id):
    """Start a new rating round after the group has discussed the last one (facilitator only)."""
    return _pressed(session_id, indicator_id, "round_started", "ratings")


@bp.post("/i/<indicator_id>/agreed")
def agree(session_id, indicator_id):
    """Set (or clear) the group's agreed rating, with the group's reason (facilitator only)."""
    workshop = load_workshop(session_id)
    form = forms.Form(request.form)
    value = forms.rating(form, "agreed", workshop.framework.rating_values())
    rationale = form.text("rationale", "the group's reason for this rating", RATIONALE_MAX,
                          required=value is not None, name="the reason")
    return change(session_id, indicator_id, "ratings",
                  lambda actor: Event.by(actor, "agreed_rating_set", indicator_id, value=value,
                                         rationale=rationale if value is not None else None), form, "agreed")


@bp.post("/i/<indicator_id>/lock")
def lock(session_id, indicator_id):
    """Lock the indicator as agreed (facilitator only)."""
    return _pressed(session_id, indicator_id, "indicator_locked", "worksheet")


@bp.post("/i/<indicator_id>/unlock")
def unlock(session_id, indicator_id):
    """Unlock the indicator for more discussion, giving a reason (facilitator only)."""
    form = forms.Form(request.form)
    form.text("reason", "a reason for unlocking", forms.REASON_MAX)
    return change(session_id, indicator_id, "worksheet",
                  lambda actor: Event.by(actor, "indicator_unlocked", indicator_id, reason=form.clean["reason"]),
                  form, "unlock")
