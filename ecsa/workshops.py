"""All the sessions this server holds: creating, finding by id or join code, importing."""

from __future__ import annotations

import logging
import os
import secrets
import threading

from . import layout, memory
from .events import FACILITATOR, Actor, new_id, now_iso
from .framework import Framework
from .notes import SessionNotes
from .placement import LocalPlacement, RoomElsewhere
from .rooms import Room, Rooms
from .storage import SESSION_ID_RE, CorruptSessionFile, SessionDirectory
from .workshop import Workshop, new_secrets

log = logging.getLogger(__name__)

# No look-alike characters (0/O, 1/I/L, 2/Z, 5/S, 8/B), so a code read off a screen
# across a room is typed right first time on a phone.
JOIN_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
JOIN_CODE_LENGTH = 6
RESERVED = ""  # a join code chosen for a session whose file is still being written


def normalise_code(text: str) -> str:
    """A typed join code in canonical form: upper case, spaces and dashes dropped."""
    return "".join(ch for ch in text.upper() if ch not in " -\t")


class Workshops:
    """The registry of sessions in the data folder, and of their open rooms."""

    def __init__(self, folder, framework: Framework, room_grace: float = 60.0):
        self.framework = framework
        self.directory = SessionDirectory(folder)
        self._lock = threading.Lock()
        self.listeners: list = []  # called with (workshop, event) after every committed change
        self.lost_listeners: list = []  # called with (room, socket ids) when a room moves away
        self.placement = LocalPlacement()  # where rooms may open: see share_through()
        self._by_code: dict[str, str] = {}
        self.problems = self.directory.open_all(self._check)
        for problem in self.problems:
            log.error("%s", problem)
        self.rooms = Rooms(self._load_room, self._close_room, grace=room_grace)
        memory.compact_when_quiet(self.compact)

    def compact(self) -> None:
        """Re-make the strings kept for every session (its id, its join code), after rooms
        close: see ecsa/memory.py. Takes the directory's lock, then (not nested) the registry's."""
        copies = self.directory.compact()
        with self._lock:
            self._by_code = {memory.fresh(code): copies.get(session_id, session_id)
                             for code, session_id in self._by_code.items()}

    def _check(self, session_id: str, file) -> str | None:
        """Why a session found at start-up cannot be served (None: it can), indexing its join
        code if it can. A damaged one is reported, left untouched on disk, and its pages
        answered with the damaged-file page."""
        with file.reading() as db:
            tables = db.storage.read()
            reason = layout.problem(session_id, tables, {s.number for s in self.framework.sections})
            code = tables["session"]["1"]["join_code"] if reason is None else None
        if reason is None and code in self._by_code:
            reason = f"its join code is also session {self._by_code[code]}'s"
        if reason is None:
            reason = self._replay_notes(session_id, file)
        if reason is None:
            self._by_code[code] = session_id
        return reason

    def _replay_notes(self, session_id: str, file) -> str | None:
        """Replay the session's notes log now, so a log that cannot be replayed is found at
        start-up rather than by the first person to open the session. Why not, or None."""
        if not os.path.lexists(self._notes_log(session_id)):
            return None
        try:
            self._notes_for(session_id, file)
        except Exception as error:  # pycrdt and the log reader raise plain exceptions
            return f"its notes log cannot be replayed ({type(error).__name__}: {error})"
        return None

    def _notes_for(self, session_id: str, file) -> SessionNotes:
        """A session's live notes over its log, loading documents from its file."""
        stored = Workshop(file, self.framework, None).stored_notes
        return SessionNotes(self._notes_log(session_id), stored)

    def _notes_log(self, session_id: str) -> str:
        """Where a session's live notes updates are logged between folds."""
        return self.directory.path(session_id, ".notes.log")

    def share_through(self, placement) -> None:
        """Serve the data folder together with other processes (set up before any request):
        rooms open only under the placement's lease, join codes are published to it, and a
        room whose lease is lost is let go at once."""
        placement.check()
        self.placement = placement
        placement.publish_codes(dict(self._by_code))
        placement.start(on_lost=self._lost)

    def _lost(self, session_id: str) -> None:
        """The session's lease is gone (another process may now be its writer): stop serving
        its room here, without writing anything, and tell the live layer to drop its sockets.
        What was typed is safe: every acknowledged update is in the file or the notes log."""
        room, sockets = self._drop(session_id)
        if room is not None:
            for listener in self.lost_listeners:
                listener(room, sockets)

    def let_go(self, session_id: str) -> None:
        """More than one process: give up a room opened here only to create its session (a
        page without a session lands on any process), so that the process the proxy routes
        the session to can take its lease at once. Call it when the request is done."""
        if not self.placement.shared:
            return
        self._drop(session_id)  # a new session: no socket, nothing typed
        self.placement.release(session_id)

    def _drop(self, session_id: str) -> tuple[Room | None, list[str]]:
        """Stop serving a room here at once, folding nothing and writing nothing more (a
        request still holding it gets FileRetired). Returns the room and its sockets."""
        room, sockets = self.rooms.evict(session_id)
        if room is not None:
            room.file.retire()
        return room, sockets

    def _load_room(self, session_id: str) -> Room | None:
        """Load a session's room from disk (None if it has no usable file: it is set aside),
        once this process holds its lease (RoomElsewhere if another process serves it)."""
        if not SESSION_ID_RE.fullmatch(session_id):
            return None  # no lease is asked for an id that cannot be a session's
        self.placement.acquire(session_id)
        if self.placement.shared and not any(p.path == self.directory.path(session_id) for p in self.problems):
            self.directory.discover(session_id)  # it may have been made by another process
        room = self._read_room(session_id)
        if room is None:
            self.placement.release(session_id)
        return room

    def _read_room(self, session_id: str) -> Room | None:
        """A session's room read from disk now (its file and notes log), or None."""
        try:
            file = self.directory.load(session_id)
            return Room(session_id, file, self._notes_for(session_id, file)) if file else None
        except Exception as error:  # damaged since start-up: report it, serve the rest
            path = self.directory.path(session_id)
            problem = error if isinstance(error, CorruptSessionFile) else CorruptSessionFile(path, str(error))
            log.error("%s", problem)
            self.directory.set_aside(session_id)
            self.problems.append(problem)
            return None

    def _close_room(self, room: Room) -> None:
        """Before a room is let go: fold its typed notes into its file (unless its lease may be
        lapsing: then the notes log keeps them for the next process), and release its lease."""
        if self.placement.holds(room.session_id):
            self._workshop(room).fold_notes()
        self.placement.release(room.session_id)

    def of_room(self, room: Room) -> Workshop:
        """The model over a room already at hand (a socket's), without asking the registry again;
        RoomElsewhere if this process may be about to lose the room's lease (more than one
        process: the renewal thread then lets the room go)."""
        if not self.placement.holds(room.session_id):
            raise RoomElsewhere(room.session_id)
        return self._workshop(room)

    def _workshop(self, room: Room) -> Workshop:
        """The model over a room, unchecked."""
        workshop = Workshop(room.file, self.framework, room.notes, self._notify)
        workshop.room = room
        return workshop

    def get(self, session_id: str) -> Workshop | None:
        """The session with this id (its room opened if need be), or None."""
        room = self.rooms.open(session_id) if isinstance(session_id, str) else None
        return self.of_room(room) if room is not None else None

    def _notify(self, workshop: Workshop, event) -> None:
        """Tell every listener (the live layer) about a committed event."""
        for listener in self.listeners:
            listener(workshop, event)

    def by_code(self, code: str) -> Workshop | None:
        """The session with this join code (as typed), or None."""
        session_id = self.session_of_code(code)
        return self.get(session_id) if session_id else None  # RESERVED is falsy: not yet

    def session_of_code(self, code: str) -> str | None:
        """The id of the session with this join code (as typed), without opening its room:
        this process's index, then the directory other processes publish to (if shared)."""
        code = normalise_code(code)
        return self._by_code.get(code) or (self.placement.session_of_code(code) if self.placement.shared else None)

    def create(self, details: dict, facilitator_name: str, perspective: str,
               history: dict | None = None, facilitator_id: str | None = None) -> tuple[Workshop, Actor, str]:
        """Create a session; returns it, its facilitator and the facilitator's secret token.

        Only choosing the id and join code holds the registry's lock; the file (an imported
        record may make it 5 MB) is built and written without it, so no other session's
        request waits. The code is published once the file is complete.
        """
        token = secrets.token_urlsafe(32)  # 256 bits: unguessable, stored only as a hash
        facilitator = Actor(facilitator_id or new_id(), facilitator_name, FACILITATOR)
        with self._lock:
            session_id, code = self._new_id(), self._new_code()
            self._by_code[code] = RESERVED
        try:
            while not self.placement.reserve_code(code, session_id):  # another process's session has it
                with self._lock:
                    self._by_code.pop(code, None)
                    code = self._new_code()
                    self._by_code[code] = RESERVED
            details = dict(details, id=session_id, join_code=code, created_at=now_iso(),
                           framework=self.framework.reference())
            details.setdefault("continued_from", [])
            tables = layout.new_session(details, new_secrets(token), facilitator, perspective, history)
            self.placement.acquire(session_id)  # a new id: free, unless Redis is away
            file = self.directory.create(session_id, tables)
            self.rooms.add(Room(session_id, file, self._notes_for(session_id, file)))
        except BaseException:
            with self._lock:
                self._by_code.pop(code, None)
            # More than one process: nor keep the code or the lease for a session never made.
            self.placement.release_code(code, session_id)
            self.placement.release(session_id)
            raise
        with self._lock:
            self._by_code[code] = session_id
        return self.get(session_id), facilitator, token

    def _new_id(self) -> str:
        """A fresh session id not used in the folder."""
        while os.path.lexists(self.directory.path(session_id := secrets.token_urlsafe(9))):
            pass
        return session_id

    def _new_code(self) -> str:
        """A fresh join code not used by another session."""
        while (code := "".join(secrets.choice(JOIN_ALPHABET) for _ in range(JOIN_CODE_LENGTH))) in self._by_code:
            pass
        return code
