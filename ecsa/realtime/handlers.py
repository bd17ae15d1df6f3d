"""Socket.IO event handlers. Each says who sends it and who receives what.

Handlers never trust the client about role, lock state or session: the session comes
from the signed cookie checked at connect, the role and locks from the stored session.
"""

from __future__ import annotations

import base64
import threading
import time

from flask import request, session
from flask_socketio import ConnectionRefusedError, emit, join_room

from .. import workshops
from ..notes import NeedsResync
from ..worksheet import Locked
from . import presence, socketio
from .broadcast import push_follow, push_presence, schedule_fold

EVENTS_PER_SECOND, BURST = 40, 120


class Throttle:
    """A token bucket per socket: a flooding client is refused, the others carry on."""

    def __init__(self):
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def allow(self, sid: str) -> bool:
        """Take one token for sid, if it has one."""
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(sid, (BURST, now))
            tokens = min(BURST, tokens + (now - last) * EVENTS_PER_SECOND)
            self.buckets[sid] = (tokens - 1, now) if tokens >= 1 else (tokens, now)
            return tokens >= 1

    def forget(self, sid: str) -> None:
        """Drop a closed socket's bucket."""
        with self.lock:
            self.buckets.pop(sid, None)


throttle = Throttle()


def _caller():
    """The workshop and actor behind this socket, as the server knows them, or (None, None).
    (A facilitator's socket is refused once the facilitator link it came with is replaced.)"""
    connection = presence().get(request.sid)
    workshop = workshops().get(connection.session_id) if connection else None
    actor = workshop.signed_in(connection.participant_id, connection.generation) if workshop else None
    return (workshop, actor) if actor else (None, None)


def _indicator(workshop, data) -> str | None:
    """The indicator id named in a message, if it is one of the session's."""
    indicator = data.get("indicator") if isinstance(data, dict) else None
    return indicator if isinstance(indicator, str) and workshop.in_scope(indicator) else None


def binary(value) -> bytes | None:
    """Yjs bytes from a message: base64 text (what pages send) or raw bytes; None if neither."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return None
    return None


def text(data: bytes) -> str:
    """Yjs bytes as base64 text for the wire.

    Text, not binary: Socket.IO sends binary data as a separate attachment frame, so each
    message would be two WebSocket frames; text halves the work of every fan-out.
    """
    return base64.b64encode(data).decode("ascii")


def refused(message: str) -> dict:
    """An acknowledgement that refuses a message, saying why."""
    return {"ok": False, "error": message}


@socketio.on("connect")
def on_connect(auth):
    """A page connects: only with a joined-session cookie; it joins that session's room."""
    if presence().get(request.sid):
        return None  # a client sending an event named "connect": not a connection
    session_id = auth.get("session") if isinstance(auth, dict) else None
    workshop = workshops().get(session_id) if isinstance(session_id, str) else None
    generation = _cookie_part("facilitating").get(session_id) if workshop else None
    actor = workshop.signed_in(_cookie_part("joined").get(session_id), generation) if workshop else None
    if actor is None:
        raise ConnectionRefusedError("Join the session before connecting.")
    presence().connect(request.sid, session_id, actor.id, generation if actor.is_facilitator else None)
    join_room(session_id)
    push_presence(workshop)
    follow = presence().follow(session_id)
    emit("follow", {"on": follow.on, "indicator": follow.indicator})


def _cookie_part(name: str) -> dict:
    """One of the signed cookie's per-session maps (anything else counts as empty)."""
    part = session.get(name)
    return part if isinstance(part, dict) else {}


@socketio.on("disconnect")
def on_disconnect(reason=None):
    """A page goes away (or is dropped by the ping): everyone else's presence list updates."""
    if socketio.server.manager.is_connected(request.sid, "/"):
        return  # a client sending an event named "disconnect": it is still connected
    throttle.forget(request.sid)
    connection = presence().disconnect(request.sid)
    workshop = workshops().get(connection.session_id) if connection else None
    if workshop:
        push_presence(workshop)


def guarded(handler):
    """Wrap a handler: throttle, and resolve the caller (refusing unknown sockets)."""
    def wrapper(data=None):
        if not throttle.allow(request.sid):
            return refused("Too many messages: slow down.")
        workshop, actor = _caller()
        if actor is None:
            return refused("Join the session first.")
        return handler(workshop, actor, data if isinstance(data, dict) else {})
    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


@socketio.on("where")
@guarded
def on_where(workshop, actor, data):
    """A page says which indicator it shows (or none); the room's presence updates, and
    when the facilitator moves with follow-me on, every follower is told where to go."""
    indicator = _indicator(workshop, data)
    if presence().move(request.sid, indicator):
        push_presence(workshop)
    follow = presence().follow(workshop.id)
    if actor.is_facilitator and follow.on and indicator and indicator != follow.indicator:
        follow.indicator = indicator
        push_follow(workshop, follow)
    return {"ok": True}


@socketio.on("typing")
@guarded
def on_typing(workshop, actor, data):
    """A page says its person is typing in an indicator; the room sees who types where."""
    indicator = _indicator(workshop, data)
    if indicator and presence().typing(request.sid, indicator):
        push_presence(workshop, again_after=True)
    return {"ok": True}


@socketio.on("notes_sync")
@guarded
def on_notes_sync(workshop, actor, data):
    """A page sends its notes state vector; it gets back what it lacks and the server's
    state vector (so it can send what the server lacks). Only the caller receives."""
    indicator, vector = _indicator(workshop, data), binary(data.get("state_vector"))
    if indicator is None or vector is None:
        return refused("Unknown indicator or state.")
    try:
        update = workshop.notes.missing(indicator, vector)
    except Exception:  # a malformed state vector from the client
        return refused("The notes state could not be read.")
    return {"ok": True, "update": text(update), "state_vector": text(workshop.notes.state_vector(indicator)),
            "locked": bool(workshop.worksheet(indicator)["lock"])}


@socketio.on("notes_update")
@guarded
def on_notes_update(workshop, actor, data):
    """A page sends a Yjs update to an indicator's notes; once it is durable the sender is
    acknowledged and everyone else in the room receives it. Refused while locked; refused
    with `resync` when it builds on an update the server lacks (the page then syncs)."""
    indicator, update = _indicator(workshop, data), binary(data.get("update"))
    if indicator is None or update is None:
        return refused("Unknown indicator or update.")
    try:
        workshop.apply_notes_update(actor, indicator, update)
    except Locked as locked:
        return dict(refused(str(locked)), locked=True)
    except NeedsResync as behind:
        return dict(refused(str(behind)), resync=True)
    except ValueError as bad:
        return refused(str(bad))
    emit("notes_update", {"indicator": indicator, "update": text(update)},
         to=workshop.id, include_self=False)
    schedule_fold(workshop)
    return {"ok": True}


@socketio.on("follow")
@guarded
def on_follow(workshop, actor, data):
    """The facilitator turns follow-me on or off; every page in the room is told."""
    if not actor.is_facilitator:
        return refused("Only the facilitator can lead with follow-me.")
    follow = presence().follow(workshop.id)
    follow.on = bool(data.get("on"))
    follow.indicator = _indicator(workshop, data) or follow.indicator
    push_follow(workshop, follow)
    return {"ok": True}
