"""Pushes to a session's room: what changed, who is here, where to follow.

Every committed event (from a form, a socket or a notes fold) comes through `on_event`,
so the live view can never miss a change the record has.
"""

from __future__ import annotations

import threading
import time

from flask import Flask, current_app, has_app_context, has_request_context, render_template

from ..events import Actor
from .. import rounds
from ..rooms import TYPING_SECONDS
from ..worksheet import changed_blocks, meaning_of
from . import socketio

FOLD_SECONDS = 2.0
PRESENCE_GAP = 0.15  # seconds between two presence lists to one room, at least

def init_app(app: Flask) -> None:
    """Listen to every committed event of every session of this app."""
    registry = app.extensions["ecsa"]
    registry.listeners.append(lambda workshop, event: _in_app(app, on_event, workshop, event))


def _in_app(app: Flask, function, *args) -> None:
    """Run function inside the app's context (events may come from a background thread)."""
    if has_app_context():
        return function(*args)
    with app.app_context():
        return function(*args)


def on_event(workshop, event) -> None:
    """Tell the session's room about a committed event, as its type says (see
    worksheet.EVENT_TYPES): which blocks changed (pages fetch those they show), or who is here."""
    meaning = meaning_of(event.type)
    if meaning.live == "presence":
        return push_presence(workshop)
    if meaning.live == "sign_out":
        return _sign_out_old_facilitator_sockets(workshop, event.actor_id)
    if meaning.told_once and not workshop.room.first_of_batch(event.type, event.indicator, event.at):
        return None
    change = {
        "type": event.type, "indicator": event.indicator, "event_id": event.id,
        "blocks": changed_blocks(event) if event.indicator else [],
        "notes": event.type == "notes_saved",
        "message": f"{event.actor_name} {meaning.verb} {event.indicator}" if meaning.verb and event.indicator else "",
    }
    pushed = _push_blocks(workshop, event.indicator, change) if change["blocks"] else []
    socketio.emit("changed", change, to=workshop.id, skip_sid=pushed or None)


def _push_blocks(workshop, indicator: str, change: dict) -> list[str]:
    """Send the pages showing the indicator its changed blocks, rendered for each of them
    (once per distinct view); returns their socket ids. The other pages get only `change`.

    Rendering needs a request's address (links in the blocks), so a change made outside
    one (a notes fold on its timer) is left for the pages to fetch, as they did before.
    """
    if not has_request_context():
        return []
    pages = workshop.room.on_indicator(indicator)
    people = {p["id"]: Actor(p["id"], p["name"], p["role"]) for p in workshop.participants()} if pages else {}
    viewers = {sid: people[pid] for sid, pid in pages.items() if pid in people}
    if not viewers:
        return []
    from ..views.worksheets import render_for_viewers  # the pages' own templates render pushes
    for sid, html in render_for_viewers(workshop, indicator, change["blocks"], viewers).items():
        socketio.emit("changed", dict(change, html=html), to=sid)
    return list(viewers)


def _sign_out_old_facilitator_sockets(workshop, facilitator_id: str) -> None:
    """Close the live sockets of facilitator browsers that came with the replaced link (the
    pages stay, refused like any signed-out browser; their next load goes to the join form)."""
    for sid in workshop.room.sockets_of(facilitator_id):
        connection = workshop.room.connection(sid)
        if connection and workshop.signed_in(facilitator_id, connection.generation) is None:
            socketio.server.disconnect(sid)


def people(workshop) -> list[dict]:
    """Who is connected now, in joining order, with where they are and where they type."""
    here = workshop.room.people()
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
    wait = workshop.room.claim_presence(PRESENCE_GAP)
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
    room = workshop.room
    with room.presence_sending:  # one at a time per room: an older list never lands last
        room.presence_sent()
        here = people(workshop)
        html = render_template("_presence.html", people=here, workshop=workshop)
        socketio.emit("presence", {"html": html}, to=workshop.id)
        if room.present_changed(frozenset(person["id"] for person in here)):
            _tell_rating_counts(workshop, {indicator for person in here for indicator in person["indicators"]})


def _tell_rating_counts(workshop, indicators: set[str]) -> None:
    """Someone came or went: pages on an indicator still being rated show its new counts
    ("3 of 7 have rated", who has still to rate), which count the people here."""
    for indicator in sorted(indicators):
        ws = workshop.worksheet(indicator)
        if ws["lock"] or rounds.current(ws)["revealed"]:
            continue
        change = {"type": "present_changed", "indicator": indicator, "event_id": None,
                  "blocks": ["ratings_summary"], "notes": False, "message": ""}
        pushed = set(_push_blocks(workshop, indicator, change))
        for sid in set(workshop.room.on_indicator(indicator)) - pushed:  # no request to render in: they fetch
            socketio.emit("changed", change, to=sid)


def push_follow(workshop) -> None:
    """Tell every page in the room whether follow-me is on and where the facilitator is."""
    socketio.emit("follow", workshop.room.following(), to=workshop.id)


def relay_notes(workshop, indicator: str, update: str, sender: str) -> None:
    """Pass a durable notes update (base64 Yjs) to everyone in the room but its sender."""
    socketio.emit("notes_update", {"indicator": indicator, "update": update}, to=workshop.id, skip_sid=sender)


def schedule_fold(workshop) -> None:
    """Fold the session's typed notes into TinyDB soon (once per burst of typing)."""
    app, room = current_app._get_current_object(), workshop.room
    if not room.claim_fold():
        return

    def fold():
        time.sleep(FOLD_SECONDS)
        room.fold_started()
        if room.closed:  # closing folded it; a room handed to another process leaves its notes log to it
            return
        _in_app(app, workshop.fold_notes)
    threading.Thread(target=fold, daemon=True).start()
