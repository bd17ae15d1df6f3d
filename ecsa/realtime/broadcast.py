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
PRESENCE_GAP = 0.15  # seconds between two presence lists to one room, at least

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
    app.extensions["ecsa.presence_gate"] = PresenceGate(PRESENCE_GAP)


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
    if event.type == "facilitator_link_replaced":
        return _sign_out_old_facilitator_sockets(workshop, event.actor_id)
    verb = VERBS.get(event.type)
    socketio.emit("changed", {
        "type": event.type, "indicator": event.indicator, "event_id": event.id,
        "blocks": changed_blocks(event) if event.indicator else [],
        "notes": event.type == "notes_saved",
        "message": f"{event.actor_name} {verb} {event.indicator}" if verb and event.indicator else "",
    }, to=workshop.id)


def _sign_out_old_facilitator_sockets(workshop, facilitator_id: str) -> None:
    """Close the live sockets of facilitator browsers that came with the replaced link (the
    pages stay, refused like any signed-out browser; their next load goes to the join form)."""
    for sid in presence().of(workshop.id, facilitator_id):
        connection = presence().get(sid)
        if connection and workshop.signed_in(facilitator_id, connection.generation) is None:
            socketio.server.disconnect(sid)


def people(workshop) -> list[dict]:
    """Who is connected now, in joining order, with where they are and where they type."""
    here = presence().people(workshop.id)
    return [dict(p, indicators=sorted(here[p["id"]]["indicators"]), typing=sorted(here[p["id"]]["typing"]))
            for p in workshop.participants() if p["id"] in here]


def push_presence(workshop, again_after: bool = False) -> None:
    """Send everyone in the room the presence list, rendered by the page's own template.

    At most one list per room every PRESENCE_GAP seconds: a change after a quiet spell
    goes out at once, and the changes that follow within the gap go out together at its
    end, rendered then, so the last list is always current. When a Wi-Fi blip brings 60
    pages back at once, each phone gets a handful of lists instead of 60 (each naming
    everyone), just as the network recovers.
    """
    app = current_app._get_current_object()
    if again_after:  # typing marks expire: show that once they have
        timer = threading.Timer(TYPING_SECONDS + 0.1, _in_app, (app, push_presence, workshop))
        timer.daemon = True
        timer.start()
    gate = app.extensions["ecsa.presence_gate"]
    wait = gate.claim(workshop.id)
    if wait is None:
        return  # a push at the end of the gap is already due: it will show this change
    if wait > 0:
        timer = threading.Timer(wait, _in_app, (app, _send_presence, workshop))
        timer.daemon = True
        timer.start()
        return
    _send_presence(workshop)


def _send_presence(workshop) -> None:
    """Render the room's presence list as it is now and send it to the room."""
    gate = current_app.extensions["ecsa.presence_gate"]
    with gate.sending(workshop.id):  # one at a time per room: an older list never lands last
        gate.sent(workshop.id)
        html = render_template("_presence.html", people=people(workshop), workshop=workshop)
        socketio.emit("presence", {"html": html}, to=workshop.id)


class PresenceGate:
    """When each room may next get a presence list, and whether one is already due."""

    def __init__(self, gap: float):
        self.gap = gap
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}   # room -> when its last list was rendered
        self.due: set[str] = set()         # rooms with a push waiting for the end of the gap
        self.senders: dict[str, threading.Lock] = {}

    def claim(self, room: str) -> float | None:
        """None if a push is already due; else how long to wait before pushing (0: now)."""
        now = time.monotonic()
        with self.lock:
            if room in self.due:
                return None
            wait = self.last.get(room, -self.gap) + self.gap - now
            if wait > 0:
                self.due.add(room)
                return wait
            self.last[room] = now  # claimed now, so a change racing this one waits its turn
            return 0.0

    def sending(self, room: str) -> threading.Lock:
        """The lock held while a room's list is rendered and sent."""
        with self.lock:
            return self.senders.setdefault(room, threading.Lock())

    def sent(self, room: str) -> None:
        """A list is being rendered now: later changes need a new push."""
        with self.lock:
            self.due.discard(room)
            self.last[room] = time.monotonic()


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
