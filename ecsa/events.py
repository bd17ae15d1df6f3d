"""One change = one event: who did what, where, when.

The same event object is persisted, appended to the audit log and (with live
collaboration) broadcast, so the page, the live view and the record cannot disagree.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

FACILITATOR = "facilitator"
PARTICIPANT = "participant"


def now_iso() -> str:
    """The current UTC time as an ISO 8601 string with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_id(nbytes: int = 6) -> str:
    """A short random id for items (evidence, actions) and participants."""
    return secrets.token_hex(nbytes)


class NotAllowedNow(Exception):
    """A change that the worksheet's state does not allow now, with the reason to show (the
    rules answer it as a conflict; rating rounds, timers and reviews raise their own kinds)."""


@dataclass(frozen=True)
class Actor:
    """The person making a change, as the server knows them (never as the client claims)."""

    id: str
    name: str
    role: str = PARTICIPANT

    @property
    def is_facilitator(self) -> bool:
        """Whether this person holds the facilitator's role in the session."""
        return self.role == FACILITATOR


@dataclass
class Event:
    """A change to a session: type, actor, optional indicator, data and time."""

    type: str
    actor_id: str
    actor_name: str
    indicator: str | None = None
    data: dict = field(default_factory=dict)
    at: str = field(default_factory=now_iso)
    id: int | None = None

    @classmethod
    def by(cls, actor: Actor, type: str, indicator: str | None = None, **data) -> "Event":
        """An event of the given type made by actor."""
        return cls(type=type, actor_id=actor.id, actor_name=actor.name, indicator=indicator, data=data)

    def to_dict(self) -> dict:
        """The event as stored and as it appears in the record's audit log."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "Event":
        """An event read back from storage or a record."""
        return cls(**{key: raw.get(key) for key in ("type", "actor_id", "actor_name", "indicator", "at", "id")},
                   data=dict(raw.get("data") or {}))
