"""Socket.IO event handlers. Each says who sends it and who receives what.

Handlers never trust the client about role, lock state or session: the session comes
from the signed cookie checked at connect, the role and locks from the stored session.
"""

from __future__ import annotations

import base64

from flask import request
from flask_socketio import ConnectionRefusedError, emit, join_room

from .. import workshops
from ..notes import NeedsResync
from ..placement import RoomElsewhere
from ..views.common import cookie_part
from ..views.screen import can_watch
from ..worksheet import Locked
from . import socketio
from .broadcast import push_follow, push_presence, relay_notes, schedule_fold


def _room():
    """The room this socket is connected to, if it is."""
    return workshops().rooms.of_socket(request.sid)


def _caller():
    """The workshop and actor behind this socket, as the server knows them, or (None, None).
    (A facilitator's socket is refused once the facilitator link it came with is replaced.)"""
    room = _room()
    connection = room.connection(request.sid) if room else None
    workshop = workshops().of_room(room) if connection else None
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
    if _room():
        return None  # a client sending an event named "connect": not a connection
    if isinstance(auth, dict) and auth.get("screen") is True:
        return _connect_screen(auth.get("session"))
    session_id = auth.get("session") if isinstance(auth, dict) else None
    try:
        workshop = workshops().get(session_id) if isinstance(session_id, str) else None
    except RoomElsewhere as elsewhere:  # more than one process: another serves it (see placement.placed)
        raise ConnectionRefusedError(elsewhere.message) from None
    generation = cookie_part("facilitating").get(session_id) if workshop else None
    actor = workshop.signed_in(cookie_part("joined").get(session_id), generation) if workshop else None
    if actor is None:
        raise ConnectionRefusedError("Join the session before connecting.")
    workshop.room.connect(request.sid, actor.id, generation if actor.is_facilitator else None)
    workshops().rooms.joined(request.sid, workshop.room)
    join_room(session_id)
    push_presence(workshop)
    emit("follow", workshop.room.following())


def _connect_screen(session_id) -> None:
    """A room screen connects (static/js/screen.js): with a room screen cookie of the session,
    or the facilitator's. It joins the session's Socket.IO room only to hear what the room
    hears. It is no connection of the Room: not in presence, not counted as present, and
    every message it sends is refused, since `_caller` finds no person behind it."""
    try:
        workshop = workshops().get(session_id) if isinstance(session_id, str) else None
    except RoomElsewhere as elsewhere:  # as for a page: another process serves this session
        raise ConnectionRefusedError(elsewhere.message) from None
    if workshop is None or not can_watch(workshop):
        raise ConnectionRefusedError("Open the room screen link before connecting.")
    workshops().rooms.joined(request.sid, workshop.room)  # keeps the room open while the screen is
    join_room(session_id)


@socketio.on("disconnect")
def on_disconnect(reason=None):
    """A page goes away (or is dropped by the ping): everyone else's presence list updates."""
    if socketio.server.manager.is_connected(request.sid, "/"):
        return  # a client sending an event named "disconnect": it is still connected
    room = workshops().rooms.left(request.sid)
    if room and room.disconnect(request.sid):
        push_presence(workshops().get(room.session_id))


def guarded(handler):
    """Wrap a handler: throttle, and resolve the caller (refusing unknown sockets)."""
    def wrapper(data=None):
        room = _room()
        if room and not room.allow(request.sid):
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
    indicator, room = _indicator(workshop, data), workshop.room
    if room.move(request.sid, indicator):
        push_presence(workshop)
    if actor.is_facilitator and indicator and room.lead_to(indicator):
        push_follow(workshop)
    return {"ok": True}


@socketio.on("typing")
@guarded
def on_typing(workshop, actor, data):
    """A page says its person is typing in an indicator; the room sees who types where."""
    indicator = _indicator(workshop, data)
    if indicator and workshop.room.typing(request.sid, indicator):
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
    relay_notes(workshop, indicator, text(update), request.sid)
    schedule_fold(workshop)
    return {"ok": True}


@socketio.on("follow")
@guarded
def on_follow(workshop, actor, data):
    """The facilitator turns follow-me on or off; every page in the room is told."""
    if not actor.is_facilitator:
        return refused("Only the facilitator can lead with follow-me.")
    workshop.room.set_follow(bool(data.get("on")), _indicator(workshop, data))
    push_follow(workshop)
    return {"ok": True}
