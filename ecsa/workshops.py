"""All the sessions this server holds: creating, finding by id or join code, importing."""

from __future__ import annotations

import logging
import os
import secrets
import threading

from .events import FACILITATOR, Actor, new_id, now_iso
from .framework import Framework
from .storage import SessionDirectory
from .notes import SessionNotes
from .workshop import Workshop, initialise

log = logging.getLogger(__name__)

# No look-alike characters (0/O, 1/I/L, 2/Z, 5/S, 8/B), so a code read off a screen
# across a room is typed right first time on a phone.
JOIN_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
JOIN_CODE_LENGTH = 6


def normalise_code(text: str) -> str:
    """A typed join code in canonical form: upper case, spaces and dashes dropped."""
    return "".join(ch for ch in text.upper() if ch not in " -\t")


class Workshops:
    """The registry of sessions in the data folder."""

    def __init__(self, folder, framework: Framework):
        self.framework = framework
        self.directory = SessionDirectory(folder)
        self.problems = self.directory.open_all()
        for problem in self.problems:
            log.error("%s", problem)
        self._lock = threading.Lock()
        self._notes: dict[str, SessionNotes] = {}
        self.listeners: list = []  # called with (workshop, event) after every committed change
        self._by_code = {self.get(sid).details["join_code"]: sid for sid in self.directory.ids()}

    def get(self, session_id: str) -> Workshop | None:
        """The session with this id, or None."""
        file = self.directory.get(session_id)
        if file is None:
            return None
        workshop = Workshop(file, self.framework, None, self._notify)
        with self._lock:
            if session_id not in self._notes:
                log = os.path.join(self.directory.folder, f"{session_id}.notes.log")
                self._notes[session_id] = SessionNotes(log, workshop.stored_notes)
        workshop.notes = self._notes[session_id]
        return workshop

    def _notify(self, workshop: Workshop, event) -> None:
        """Tell every listener (the live layer) about a committed event."""
        for listener in self.listeners:
            listener(workshop, event)

    def by_code(self, code: str) -> Workshop | None:
        """The session with this join code (as typed), or None."""
        session_id = self._by_code.get(normalise_code(code))
        return self.get(session_id) if session_id else None

    def create(self, details: dict, facilitator_name: str, perspective: str,
               history: dict | None = None, facilitator_id: str | None = None) -> tuple[Workshop, Actor, str]:
        """Create a session; returns it, its facilitator and the facilitator's secret token."""
        token = secrets.token_urlsafe(32)  # 256 bits: unguessable, stored only as a hash
        facilitator = Actor(facilitator_id or new_id(), facilitator_name, FACILITATOR)
        with self._lock:
            session_id, code = self._new_id(), self._new_code()
            details = dict(details, id=session_id, join_code=code, created_at=now_iso(),
                           framework=self.framework.reference())
            details.setdefault("continued_from", [])
            initialise(self.directory.create(session_id), details, token, facilitator, perspective, history)
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
