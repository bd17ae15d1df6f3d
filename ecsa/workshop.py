"""A workshop session over its TinyDB file: the model the views and socket handlers use.

Views never touch the store: they ask a `Workshop` for what to show and hand it events.
Every change runs as one transaction (authorise, apply, append to the audit log, one
durable write), so an acknowledged change is on disk and in the audit log together.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from tinydb import Query

from . import worksheet
from .events import FACILITATOR, PARTICIPANT, Actor, Event, new_id, now_iso
from .framework import Framework
from .storage import SessionFile

SESSION_FIELDS = ("title", "organisation", "date", "scope")


def token_digest(token: str) -> str:
    """What is stored of a facilitator token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


class Workshop:
    """One session: its details, participants, worksheets and audit log."""

    def __init__(self, file: SessionFile, framework: Framework):
        self.file = file
        self.framework = framework

    @property
    def details(self) -> dict:
        """The session's title, organisation, date, scope, join code and history."""
        with self.file.reading() as db:
            return dict(db.table("session").get(doc_id=1))

    @property
    def id(self) -> str:
        """The session's id (also its file name)."""
        return self.details["id"]

    def indicators(self) -> list:
        """The framework's indicators in this session's scope, in order."""
        return self.framework.indicators(self.details["scope"])

    def in_scope(self, indicator_id: str) -> bool:
        """Whether an indicator is part of this session's scope."""
        found = self.framework.indicator(indicator_id)
        return found is not None and found.section in self.details["scope"]

    def participants(self) -> list[dict]:
        """Everyone who has joined, in joining order."""
        with self.file.reading() as db:
            return [dict(doc) for doc in db.table("participants").all()]

    def actor(self, participant_id: str) -> Actor | None:
        """The participant with this id as an Actor, with the role the server holds."""
        with self.file.reading() as db:
            doc = db.table("participants").get(Query().id == participant_id)
        return Actor(doc["id"], doc["name"], doc["role"]) if doc else None

    def worksheet(self, indicator_id: str) -> dict:
        """An indicator's worksheet (empty if nobody has touched it yet)."""
        with self.file.reading() as db:
            doc = db.table("worksheets").get(Query().indicator == indicator_id)
        return dict(doc) if doc else worksheet.new_worksheet(indicator_id)

    def worksheets(self) -> dict[str, dict]:
        """Every touched worksheet, by indicator id."""
        with self.file.reading() as db:
            return {doc["indicator"]: dict(doc) for doc in db.table("worksheets").all()}

    def audit(self) -> list[Event]:
        """The audit log, oldest first."""
        with self.file.reading() as db:
            return [Event.from_dict(dict(doc, id=doc.doc_id)) for doc in db.table("audit").all()]

    def is_facilitator_token(self, token: str) -> bool:
        """Whether token is this session's facilitator token (compared in constant time)."""
        with self.file.reading() as db:
            stored = db.table("secrets").get(doc_id=1)["facilitator_token_sha256"]
        return hmac.compare_digest(stored, token_digest(token))

    def rotate_facilitator_token(self, actor: Actor) -> str:
        """A new facilitator token replacing the old one (which stops working at once)."""
        token = secrets.token_urlsafe(32)
        with self.file.transaction() as db:
            db.table("secrets").update({"facilitator_token_sha256": token_digest(token)}, doc_ids=[1])
            append_event(db, Event.by(actor, "facilitator_link_replaced"))
        return token

    def change(self, actor: Actor, event: Event) -> Event:
        """Authorise, apply and durably record one indicator change; returns the event."""
        with self.file.transaction() as db:
            table, where = db.table("worksheets"), Query().indicator == event.indicator
            ws = table.get(where) or worksheet.new_worksheet(event.indicator)
            ws = dict(ws)
            worksheet.authorise(actor, ws, event)
            worksheet.apply(ws, event)
            table.upsert(ws, where)
            return append_event(db, event)

    def update_details(self, actor: Actor, fields: dict) -> Event:
        """Change the session's settings (facilitator only)."""
        if not actor.is_facilitator:
            raise worksheet.Forbidden("Only the facilitator can change the session's settings.")
        fields = {key: fields[key] for key in SESSION_FIELDS if key in fields}
        with self.file.transaction() as db:
            db.table("session").update(fields, doc_ids=[1])
            return append_event(db, Event.by(actor, "session_updated", **fields))

    def join(self, name: str, perspective: str, role: str = PARTICIPANT) -> Actor:
        """Add a participant (or the facilitator) and record that they joined."""
        actor = Actor(new_id(), name, role)
        with self.file.transaction() as db:
            add_participant(db, actor, perspective)
            append_event(db, Event.by(actor, "participant_joined", perspective=perspective, role=role))
        return actor


def add_participant(db, actor: Actor, perspective: str) -> None:
    """Insert a participant row."""
    db.table("participants").insert(
        {"id": actor.id, "name": actor.name, "perspective": perspective, "role": actor.role,
         "joined_at": now_iso()})


def append_event(db, event: Event) -> Event:
    """Append the event to the audit log, giving it its sequence number."""
    raw = event.to_dict()
    raw.pop("id")
    event.id = db.table("audit").insert(raw)
    return event


def initialise(file: SessionFile, details: dict, token: str, facilitator: Actor, perspective: str,
               history: dict | None = None) -> None:
    """Write a new session's first state: details, secret, facilitator and (if any) imported history."""
    history = history or {}
    with file.transaction() as db:
        db.table("session").insert(details)
        db.table("secrets").insert({"facilitator_token_sha256": token_digest(token)})
        for person in history.get("participants", []):
            db.table("participants").insert(dict(person, role=PARTICIPANT))
        participants = db.table("participants")
        if participants.contains(Query().id == facilitator.id):
            participants.update({"role": FACILITATOR, "name": facilitator.name}, Query().id == facilitator.id)
        else:
            add_participant(db, facilitator, perspective)
        for ws in history.get("worksheets", []):
            db.table("worksheets").insert(ws)
        for raw in history.get("audit", []):
            db.table("audit").insert({k: v for k, v in raw.items() if k != "id"})
        if not history:
            append_event(db, Event.by(facilitator, "session_created", title=details["title"]))
