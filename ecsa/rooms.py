"""One room per live session: everything about it in one place, made and closed by one registry.

A room owns a session's file and store, its notes documents and log, who is connected
(presence, typing), follow-me, the pacing of presence lists, the fold timer and each
socket's message throttle. Nothing per-session lives anywhere else, so a room is also the
unit a deployment over several processes can place on one of them.

Rooms are found or made through `Rooms.open` (pages and sockets alike) and closed once no
socket has been in them and no page has asked for them for `grace` seconds: notes are
folded into the file, and the room, with its file's parsed tables and notes documents, is
let go. A room still held by a request in flight is found again rather than loaded twice,
so a session's file never has two writers in one process.

Lock order (acquire in this order only; never take a lock while holding a later one):
  1. Rooms._lock         — the registry's maps; held for lookups only, never while loading
  2. Room._opening       — loading (or closing) one room's file and notes log
  3. SessionFile._lock   — the room's session file: every read and every transaction
  4. SessionNotes._lock  — the room's notes documents and their log
  5. Room.lock           — the room's live state (presence, follow-me, gate, throttle);
                           a leaf: nothing else is taken while it is held
  -  Closer._due         — the queue of rooms to look at when their grace is up; a leaf,
                           taken with any of the above held or none
Loading is done before a lock is taken where it can be (SessionNotes.doc reads the stored
state, rank 3, before taking its own lock, rank 4).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable

from . import memory

log = logging.getLogger(__name__)

TYPING_SECONDS = 4.0
EVENTS_PER_SECOND, BURST = 40, 120  # a socket's message throttle (token bucket)


@dataclass
class Connection:
    """One open socket: a person on one device (a person may have several)."""

    participant_id: str
    generation: str | None = None  # a facilitator's: which facilitator link it came with
    indicator: str | None = None
    typing_in: str | None = None
    typing_until: float = 0.0
    tokens: float = BURST
    last_message: float = field(default_factory=time.monotonic)


@dataclass
class Follow:
    """The facilitator's follow-me state."""

    on: bool = False
    indicator: str | None = None
    since: int = 0  # counts each time it was turned on: a "Stay here" from an earlier time lapses


class Room:
    """One live session: its file, notes, connections, follow-me and pacing."""

    def __init__(self, session_id: str, file, notes, clock: Callable[[], float] = time.monotonic):
        self.session_id, self.file, self.notes, self.clock = session_id, file, notes, clock
        self.lock = threading.Lock()  # rank 5: the live state below
        self.connections: dict[str, Connection] = {}
        self.follow = Follow()
        self.presence_last, self.presence_due = -1e9, False
        self.presence_sending = threading.Lock()  # one presence list rendered and sent at a time
        self.present_told: frozenset[str] = frozenset()  # who pages last heard is here (rating counts)
        self.fold_pending = False
        self.last_told: dict[tuple, str] = {}  # (event type, indicator) -> time last told (first_of_batch)
        self.last_used = clock()
        self.closed = False

    # --- who is here -------------------------------------------------------------------

    def connect(self, sid: str, participant_id: str, generation: str | None = None) -> Connection:
        """Record a new connection to this room."""
        with self.lock:
            self.connections[sid] = Connection(participant_id, generation, last_message=self.clock())
            return self.connections[sid]

    def disconnect(self, sid: str) -> Connection | None:
        """Forget a connection; returns it (None if unknown)."""
        with self.lock:
            return self.connections.pop(sid, None)

    def connection(self, sid: str) -> Connection | None:
        """The connection of a socket, if it is in this room."""
        with self.lock:
            return self.connections.get(sid)

    def sockets_of(self, participant_id: str) -> list[str]:
        """The socket ids of one person's connections."""
        with self.lock:
            return [sid for sid, c in self.connections.items() if c.participant_id == participant_id]

    def on_indicator(self, indicator: str) -> dict[str, str]:
        """The sockets showing an indicator: socket id -> participant id."""
        with self.lock:
            return {sid: c.participant_id for sid, c in self.connections.items() if c.indicator == indicator}

    def move(self, sid: str, indicator: str | None) -> bool:
        """Note where a connection is now; True if that changed."""
        with self.lock:
            connection = self.connections.get(sid)
            if connection is None or connection.indicator == indicator:
                return False
            connection.indicator, connection.typing_in = indicator, None
            return True

    def typing(self, sid: str, indicator: str) -> bool:
        """Note that a connection is typing in an indicator; True if it was not already."""
        with self.lock:
            connection, now = self.connections.get(sid), self.clock()
            if connection is None:
                return False
            started = connection.typing_in != indicator or connection.typing_until < now
            connection.typing_in, connection.typing_until = indicator, now + TYPING_SECONDS
            return started

    def people(self) -> dict[str, dict]:
        """Who is here: participant id -> the indicators they are on and typing in."""
        now, people = self.clock(), {}
        with self.lock:
            for connection in self.connections.values():
                person = people.setdefault(connection.participant_id, {"indicators": set(), "typing": set()})
                if connection.indicator:
                    person["indicators"].add(connection.indicator)
                if connection.typing_in and connection.typing_until > now:
                    person["typing"].add(connection.typing_in)
        return people

    def allow(self, sid: str) -> bool:
        """Take one message token for a socket: a flooding client is refused, others carry on."""
        with self.lock:
            connection, now = self.connections.get(sid), self.clock()
            if connection is None:
                return True  # not (or no longer) in the room: the handler refuses it anyway
            tokens = min(BURST, connection.tokens + (now - connection.last_message) * EVENTS_PER_SECOND)
            connection.last_message = now
            connection.tokens = tokens - 1 if tokens >= 1 else tokens
            return tokens >= 1

    def following(self) -> dict:
        """Follow-me as pages are told it: whether it is on and where the facilitator is."""
        with self.lock:
            return {"on": self.follow.on, "indicator": self.follow.indicator, "since": self.follow.since}

    def set_follow(self, on: bool, indicator: str | None) -> None:
        """The facilitator turns follow-me on or off (from where they are, if known)."""
        with self.lock:
            if on and not self.follow.on:
                self.follow.since += 1
            self.follow.on = on
            self.follow.indicator = indicator or self.follow.indicator

    def lead_to(self, indicator: str) -> bool:
        """The facilitator is now on an indicator: True if followers must be told to go there."""
        with self.lock:
            if not self.follow.on or self.follow.indicator == indicator:
                return False
            self.follow.indicator = indicator
            return True

    # --- pacing ------------------------------------------------------------------------

    def claim_presence(self, gap: float) -> float | None:
        """None if a presence list is already due; else how long to wait before sending one (0: now).

        At most one list per `gap` seconds: a change after a quiet spell goes out at once,
        changes within the gap go out together at its end.
        """
        with self.lock:
            if self.presence_due:
                return None
            now = self.clock()
            wait = self.presence_last + gap - now
            if wait > 0:
                self.presence_due = True
                return wait
            self.presence_last = now  # claimed now, so a change racing this one waits its turn
            return 0.0

    def present_changed(self, present: frozenset[str]) -> bool:
        """Whether the people here differ from those pages last heard of (True once per change)."""
        with self.lock:
            changed, self.present_told = present != self.present_told, present
            return changed

    def presence_sent(self) -> None:
        """A list is being rendered now: later changes need a new one."""
        with self.lock:
            self.presence_due, self.presence_last = False, self.clock()

    def claim_fold(self) -> bool:
        """True if no fold is scheduled yet (the caller schedules one)."""
        with self.lock:
            if self.fold_pending:
                return False
            self.fold_pending = True
            return True

    def fold_started(self) -> None:
        """The scheduled fold runs now: typing after this schedules another."""
        with self.lock:
            self.fold_pending = False

    def first_of_batch(self, kind: str, indicator: str | None, at: str) -> bool:
        """True for the first event of a kind, indicator and time the room is told of; the
        rest of that batch (a fold's events, one per author) need not be told again."""
        with self.lock:
            if self.last_told.get((kind, indicator)) == at:
                return False
            self.last_told[(kind, indicator)] = at
            return True

    def idle_for(self) -> float | None:
        """Seconds since the room was last used with no socket in it; None while one is."""
        with self.lock:
            return None if self.connections else self.clock() - self.last_used

    def touch(self) -> None:
        """A page or socket used the room now."""
        with self.lock:
            self.last_used = self.clock()


class Closer:
    """Looks at each idle room when its grace period is up, in one thread for all of them.

    A thread per idle room (threading.Timer) made a thousand threads at once when a
    thousand sockets left together, all queueing on the interpreter's thread registry. The
    thread here runs only while something is due, and ends when the queue is empty.
    """

    def __init__(self, look: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self.look, self.clock = look, clock
        self._due = threading.Condition(threading.Lock())  # a leaf: see the module's lock order
        self._queue: list[tuple[float, str]] = []  # (when, session id), a heap
        self._queued: set[str] = set()
        self._running = False

    def watch(self, session_id: str, delay: float) -> None:
        """Look at the room `delay` seconds from now, unless a look is already due."""
        with self._due:
            if session_id in self._queued:
                return
            self._queued.add(session_id)
            heapq.heappush(self._queue, (self.clock() + delay, session_id))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="ecsa-room-closer", daemon=True).start()
            else:
                self._due.notify()

    def due(self) -> int:
        """How many rooms are waiting to be looked at."""
        with self._due:
            return len(self._queue)

    def running(self) -> bool:
        """Whether this closer's thread is running (it ends when nothing is due)."""
        with self._due:
            return self._running

    def _run(self) -> None:
        """Look at each room when it is due, holding no lock while looking; end when none is."""
        while True:
            with self._due:
                while self._queue and self._queue[0][0] > self.clock():
                    self._due.wait(self._queue[0][0] - self.clock())
                if not self._queue:
                    self._running = False
                    return
                _, session_id = heapq.heappop(self._queue)
                self._queued.discard(session_id)
            try:
                self.look(session_id)
            except Exception:  # one room that cannot close must not stop the others closing
                log.exception("closing the room of session %s failed", session_id)


class Rooms:
    """The registry of open rooms: open (find or make), by socket, and close when idle."""

    def __init__(self, load: Callable[[str], Room | None], close: Callable[[Room], None], grace: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self._load, self._close, self.grace, self.clock = load, close, grace, clock
        self._lock = threading.Lock()  # rank 1
        self._open: dict[str, Room] = {}
        self._alive: weakref.WeakValueDictionary[str, Room] = weakref.WeakValueDictionary()
        self._openers: dict[str, threading.Lock] = {}  # rank 2, one per room being opened or closed
        self._by_socket: dict[str, str] = {}
        self.closer = Closer(self._maybe_close)

    def open(self, session_id: str) -> Room | None:
        """The session's room, loading it if it is not open (None if it cannot be loaded)."""
        room = self._find(session_id)
        if room is None:
            with self._opener(session_id):
                room = self._find(session_id) or self._load_room(session_id)
        if room is not None:
            room.touch()
            self._watch(room)
        return room

    def _find(self, session_id: str) -> Room | None:
        """An open room, or one closed but still held by a request (opened again, not reloaded)."""
        with self._lock:
            room = self._open.get(session_id) or self._alive.get(session_id)
            if room is not None:
                self._open[session_id] = room
            return room

    def _opener(self, session_id: str) -> threading.Lock:
        """The lock that makes one room's loading (or closing) happen once at a time."""
        with self._lock:
            return self._openers.setdefault(session_id, threading.Lock())

    def _load_room(self, session_id: str) -> Room | None:
        """Load a room (holding only its opener lock) and register it."""
        room = self._load(session_id)
        return self.add(room) if room is not None else None

    def add(self, room: Room) -> Room:
        """Register a room made elsewhere (a new session's); if one for the session appeared
        meanwhile, that one is kept, so a session never has two."""
        with self._lock:
            kept = self._open.get(room.session_id) or self._alive.get(room.session_id) or room
            self._open[room.session_id] = self._alive[room.session_id] = kept
        return kept

    def of_socket(self, sid: str) -> Room | None:
        """The room a socket is connected to."""
        with self._lock:
            session_id = self._by_socket.get(sid)
            return self._open.get(session_id) if session_id else None

    def joined(self, sid: str, room: Room) -> None:
        """A socket is now in a room (the room stays open while any socket is)."""
        with self._lock:
            self._by_socket[sid] = room.session_id

    def left(self, sid: str) -> Room | None:
        """A socket has gone; returns its room, which closes after `grace` if no one is back."""
        with self._lock:
            session_id = self._by_socket.pop(sid, None)
            room = self._open.get(session_id) if session_id else None
        if room is not None:
            room.touch()
            self._watch(room)
        return room

    def _watch(self, room: Room, delay: float | None = None) -> None:
        """Check, `grace` seconds after it was last used, whether a room can be closed."""
        self.closer.watch(room.session_id, self.grace if delay is None else delay)

    def _maybe_close(self, session_id: str) -> None:
        """Close the room if it has been idle for `grace` seconds; else look again when it
        will have been (the closer's thread)."""
        with self._lock:
            room = self._open.get(session_id)
        if room is None:
            return
        idle = room.idle_for()
        if idle is None:
            return  # sockets are in it: the last to leave starts the watch again
        if idle < self.grace:
            self._watch(room, self.grace - idle)
            return
        self.close(session_id)
        del room  # the last reference here: the trim below can then free what the room held
        memory.released()  # from the closer's thread, holding no lock: give the room's memory back

    def close(self, session_id: str) -> None:
        """Fold and let go of a room now (it is loaded again when next asked for)."""
        with self._opener(session_id):
            with self._lock:
                room = self._open.get(session_id)
                if room is None or any(s == session_id for s in self._by_socket.values()):
                    return
            self._close(room)  # folds the notes: ranks 3 and 4, never while holding rank 1
            with self._lock:
                if self._open.get(session_id) is room:
                    del self._open[session_id]
                    room.closed = True
                self._openers.pop(session_id, None)

    def evict(self, session_id: str) -> tuple[Room | None, list[str]]:
        """Let go of a room at once, sockets and all, without folding: another process may be
        its writer now (its lease was lost). Returns the room and the sockets that were in it."""
        with self._opener(session_id):
            with self._lock:
                room = self._open.pop(session_id, None) or self._alive.get(session_id)
                self._alive.pop(session_id, None)
                sockets = [sid for sid, held in self._by_socket.items() if held == session_id]
                for sid in sockets:
                    del self._by_socket[sid]
                if room is not None:
                    room.closed = True
                self._openers.pop(session_id, None)
        return room, sockets

    def close_all(self) -> None:
        """Close every room with no socket in it (at shutdown, or in tests)."""
        for session_id in self.open_ids():
            self.close(session_id)

    def open_ids(self) -> list[str]:
        """The ids of the open rooms."""
        with self._lock:
            return sorted(self._open)

    def alive(self) -> int:
        """How many room objects exist (open, or closed but still referenced)."""
        with self._lock:
            return len(self._alive)
