"""All the sessions this server holds: creating, finding by id or join code, importing."""

from __future__ import annotations

import logging
import os
import secrets
import threading

from . import layout
from .events import FACILITATOR, Actor, new_id, now_iso
from .framework import Framework
from .notes import SessionNotes
from .rooms import Room, Rooms
from .storage import CorruptSessionFile, SessionDirectory
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
        self._by_code: dict[str, str] = {}
        self.problems = self.directory.open_all(self._check)
        for problem in self.problems:
            log.error("%s", problem)
        self.rooms = Rooms(self._load_room, self._close_room, grace=room_grace)

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

    def _load_room(self, session_id: str) -> Room | None:
        """Load a session's room from disk (None if it has no usable file: it is set aside)."""
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
        """Before a room is let go: fold its typed notes into its file."""
        self.of_room(room).fold_notes()

    def of_room(self, room: Room) -> Workshop:
        """The model over a room already at hand (a socket's), without asking the registry again."""
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
        session_id = self._by_code.get(normalise_code(code))
        return self.get(session_id) if session_id else None  # RESERVED is falsy: not yet

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
            details = dict(details, id=session_id, join_code=code, created_at=now_iso(),
                           framework=self.framework.reference())
            details.setdefault("continued_from", [])
            tables = layout.new_session(details, new_secrets(token), facilitator, perspective, history)
            file = self.directory.create(session_id, tables)
            self.rooms.add(Room(session_id, file, self._notes_for(session_id, file)))
        except BaseException:
            with self._lock:
                self._by_code.pop(code, None)
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
