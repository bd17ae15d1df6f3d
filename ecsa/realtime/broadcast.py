"""Pushes to a session's room: what changed, who is here, where to follow.

Every committed event (from a form, a socket or a notes fold) comes through `on_event`,
so the live view can never miss a change the record has.
"""

from __future__ import annotations

import threading
import time

from flask import Flask, current_app, has_app_context, render_template

from . import presence, socketio
from .presence import TYPING_SECONDS

FOLD_SECONDS = 2.0

# Which page blocks an event's type changes (the status block changes with every one).
BLOCKS = {
    "evidence": ["evidence_list"], "action": ["actions_list"], "vote": ["ratings_summary"],
    "agreed": ["ratings_summary"], "indicator": ["worksheet"], "notes": [],
}
VERBS = {
    "evidence_added": "added evidence to", "evidence_edited": "edited evidence on",
    "evidence_removed": "removed evidence from", "action_added": "added an action to",
    "action_edited": "edited an action on", "action_removed": "removed an action from",
    "vote_cast": "rated", "agreed_rating_set": "set the agreed rating of",
    "indicator_locked": "locked", "indicator_unlocked": "unlocked", "notes_saved": "saved notes on",
}


def init_app(app: Flask) -> None:
    """Listen to every committed event of every session of this app."""
    registry = app.extensions["ecsa"]
    registry.listeners.append(lambda workshop, event: _in_app(app, on_event, workshop, event))
    app.extensions["ecsa.folds"] = set()


def _in_app(app: Flask, function, *args) -> None:
    """Run function inside the app's context (events may come from a background thread)."""
    if has_app_context():
        return function(*args)
    with app.app_context():
        return function(*args)


def changed_blocks(event) -> list[str]:
    """The blocks of the indicator page that show what this event changed."""
    blocks = BLOCKS.get(event.type.split("_")[0], [])
    return blocks if "worksheet" in blocks else blocks + ["status"]


def on_event(workshop, event) -> None:
    """Tell the session's room what changed (pages fetch the blocks they show)."""
    if event.type == "participant_joined":
        return push_presence(workshop)
    verb = VERBS.get(event.type)
    socketio.emit("changed", {
        "type": event.type, "indicator": event.indicator, "event_id": event.id,
        "blocks": changed_blocks(event) if event.indicator else [],
        "notes": event.type == "notes_saved",
        "message": f"{event.actor_name} {verb} {event.indicator}" if verb and event.indicator else "",
    }, to=workshop.id)


def people(workshop) -> list[dict]:
    """Who is connected now, in joining order, with where they are and where they type."""
    here = presence().people(workshop.id)
    return [dict(p, indicators=sorted(here[p["id"]]["indicators"]), typing=sorted(here[p["id"]]["typing"]))
            for p in workshop.participants() if p["id"] in here]


def push_presence(workshop, again_after: bool = False) -> None:
    """Send everyone in the room the presence list, rendered by the page's own template."""
    html = render_template("_presence.html", people=people(workshop), workshop=workshop)
    socketio.emit("presence", {"html": html}, to=workshop.id)
    if again_after:  # typing marks expire: show that once they have
        app = current_app._get_current_object()
        timer = threading.Timer(TYPING_SECONDS + 0.1, _in_app, (app, push_presence, workshop))
        timer.daemon = True
        timer.start()


def push_follow(workshop, follow) -> None:
    """Tell every page in the room whether follow-me is on and where the facilitator is."""
    socketio.emit("follow", {"on": follow.on, "indicator": follow.indicator}, to=workshop.id)


def schedule_fold(workshop) -> None:
    """Fold the session's typed notes into TinyDB soon (once per burst of typing)."""
    app = current_app._get_current_object()
    pending = app.extensions["ecsa.folds"]
    if workshop.id in pending:
        return
    pending.add(workshop.id)

    def fold():
        time.sleep(FOLD_SECONDS)
        pending.discard(workshop.id)
        _in_app(app, workshop.fold_notes)
    threading.Thread(target=fold, daemon=True).start()
