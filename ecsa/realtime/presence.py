"""Who is connected to each session, where they are, who is typing, and follow-me.

Plain Python, kept in memory: presence is about this moment, not the record.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

TYPING_SECONDS = 4.0


@dataclass
class Connection:
    """One open socket: a person on one device (a person may have several)."""

    session_id: str
    participant_id: str
    generation: str | None = None  # a facilitator's: which facilitator link it came with
    indicator: str | None = None
    typing_in: str | None = None
    typing_until: float = 0.0
    stepped_away: bool = False


@dataclass
class Follow:
    """The facilitator's follow-me state for one session."""

    on: bool = False
    indicator: str | None = None


@dataclass
class Presence:
    """Connections by socket id, and follow-me by session."""

    connections: dict[str, Connection] = field(default_factory=dict)
    follows: dict[str, Follow] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def connect(self, sid: str, session_id: str, participant_id: str, generation: str | None = None) -> Connection:
        """Record a new connection."""
        with self.lock:
            self.connections[sid] = Connection(session_id, participant_id, generation)
            return self.connections[sid]

    def disconnect(self, sid: str) -> Connection | None:
        """Forget a connection; returns it (None if unknown)."""
        with self.lock:
            return self.connections.pop(sid, None)

    def get(self, sid: str) -> Connection | None:
        """The connection for a socket id."""
        return self.connections.get(sid)

    def of(self, session_id: str, participant_id: str) -> list[str]:
        """The socket ids of one person's connections to a session."""
        with self.lock:
            return [sid for sid, c in self.connections.items()
                    if c.session_id == session_id and c.participant_id == participant_id]

    def move(self, sid: str, indicator: str | None) -> bool:
        """Note where a connection is now; True if that changed."""
        connection = self.connections.get(sid)
        if connection is None or connection.indicator == indicator:
            return False
        connection.indicator, connection.typing_in = indicator, None
        return True

    def typing(self, sid: str, indicator: str) -> bool:
        """Note that a connection is typing in an indicator; True if it was not already."""
        connection = self.connections.get(sid)
        if connection is None:
            return False
        started = connection.typing_in != indicator or connection.typing_until < time.monotonic()
        connection.typing_in, connection.typing_until = indicator, time.monotonic() + TYPING_SECONDS
        return started

    def people(self, session_id: str) -> dict[str, dict]:
        """Who is here: participant id -> where they are and whether they are typing."""
        now, people = time.monotonic(), {}
        with self.lock:
            connections = [c for c in self.connections.values() if c.session_id == session_id]
        for connection in connections:
            person = people.setdefault(connection.participant_id, {"indicators": set(), "typing": set()})
            if connection.indicator:
                person["indicators"].add(connection.indicator)
            if connection.typing_in and connection.typing_until > now:
                person["typing"].add(connection.typing_in)
        return people

    def follow(self, session_id: str) -> Follow:
        """The session's follow-me state."""
        with self.lock:
            return self.follows.setdefault(session_id, Follow())
