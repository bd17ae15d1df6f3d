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
    """The registry of sessions in the data folder."""

    def __init__(self, folder, framework: Framework):
        self.framework = framework
        self.directory = SessionDirectory(folder)
        self.problems = self.directory.open_all()
        self._lock = threading.Lock()
        self._notes: dict[str, SessionNotes] = {}
        self.listeners: list = []  # called with (workshop, event) after every committed change
        self._by_code: dict[str, str] = {}
        for session_id in self.directory.ids():
            self._open(session_id)
        for problem in self.problems:
            log.error("%s", problem)

    def _open(self, session_id: str) -> None:
        """Check a session found at start-up and index its join code; set a damaged one aside
        (reported, left untouched on disk, its pages answered with the damaged-file page)."""
        file = self.directory.get(session_id)
        with file.reading() as db:
            tables = db.storage.read()
            reason = layout.problem(session_id, tables, {s.number for s in self.framework.sections})
            code = tables["session"]["1"]["join_code"] if reason is None else None
        if reason is None and code in self._by_code:
            reason = f"its join code is also session {self._by_code[code]}'s"
        if reason is None:
            reason = self._replay_notes(session_id, file)
        if reason is not None:
            self.directory.set_aside(session_id)
            self.problems.append(CorruptSessionFile(file.path, reason))
            return
        self._by_code[code] = session_id

    def _replay_notes(self, session_id: str, file) -> str | None:
        """Load the session's notes log now, so a log that cannot be replayed is found at
        start-up rather than by the first person to open the session. Why not, or None."""
        path = self._notes_log(session_id)
        if not os.path.lexists(path):
            return None
        workshop = Workshop(file, self.framework, None, self._notify)
        try:
            self._notes[session_id] = SessionNotes(path, workshop.stored_notes)
        except Exception as error:  # pycrdt and the log reader raise plain exceptions
            return f"its notes log {path} cannot be replayed ({type(error).__name__}: {error})"
        return None

    def _notes_log(self, session_id: str) -> str:
        """Where a session's live notes updates are logged between folds."""
        return os.path.join(self.directory.folder, f"{session_id}.notes.log")

    def get(self, session_id: str) -> Workshop | None:
        """The session with this id, or None."""
        file = self.directory.get(session_id)
        if file is None:
            return None
        workshop = Workshop(file, self.framework, None, self._notify)
        with self._lock:
            if session_id not in self._notes:
                self._notes[session_id] = SessionNotes(self._notes_log(session_id), workshop.stored_notes)
        workshop.notes = self._notes[session_id]
        return workshop

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
            self.directory.create(session_id, tables)
        except BaseException:
            with self._lock:
                self._by_code.pop(code, None)
            raise
        with self._lock:
            self._by_code[code] = session_id
        return self.get(session_id), facilitator, token

    def _new_id(self) -> str:
        """A fresh session id not used in the folder."""
        while (session_id := secrets.token_urlsafe(9)) in self.directory.ids():
            pass
        return session_id

    def _new_code(self) -> str:
        """A fresh join code not used by another session."""
        while (code := "".join(secrets.choice(JOIN_ALPHABET) for _ in range(JOIN_CODE_LENGTH))) in self._by_code:
            pass
        return code
