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

from . import layout, rounds, worksheet
from .events import FACILITATOR, PARTICIPANT, Actor, Event, new_id, now_iso
from .framework import Framework
from .notes import SessionNotes, read_update, text_edits
from .storage import SessionFile

SESSION_FIELDS = ("title", "organisation", "date", "scope", "anonymous", "auto_reveal")
# The one who reveals a round once everyone present has rated: the server, on the group's behalf.
EVERYONE_RATED = Actor("", "(everyone present had rated)", FACILITATOR)
NOTES_TRIES = 3  # a notes save whose notes change while it is merged is merged again, this often


def token_digest(token: str) -> str:
    """What is stored of a facilitator token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


class Workshop:
    """One session: its details, participants, worksheets and audit log."""

    def __init__(self, file: SessionFile, framework: Framework, notes: SessionNotes, notify=None):
        self.file, self.framework, self.notes = file, framework, notes
        self.room = None  # the live room this model works in (set by the registry)
        self.notify = notify or (lambda workshop, event: None)  # told of every committed event

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
        """An indicator's worksheet (empty if nobody has touched it yet), notes as they stand now."""
        with self.file.reading() as db:
            doc = db.table("worksheets").get(Query().indicator == indicator_id)
            return self._live_notes(worksheet.stored(doc, indicator_id))

    def worksheets(self) -> dict[str, dict]:
        """Every touched worksheet, by indicator id."""
        with self.file.reading() as db:
            sheets = {doc["indicator"]: self._live_notes(worksheet.stored(doc, doc["indicator"]))
                      for doc in db.table("worksheets").all()}
            for indicator in self.notes.authors.keys() - sheets.keys():
                sheets[indicator] = self._live_notes(worksheet.new_worksheet(indicator))
            return sheets

    def _live_notes(self, ws: dict) -> dict:
        """The worksheet with notes typed since the last fold (which TinyDB has not seen yet)."""
        if ws["indicator"] in self.notes.authors:
            ws["notes"] = self.notes.text(ws["indicator"])
            if ws["state"] == worksheet.NOT_STARTED and ws["notes"]:
                ws["state"] = worksheet.IN_DISCUSSION
        ws.pop("notes_crdt", None)
        return ws

    def stored_notes(self, indicator_id: str) -> tuple[str | None, str]:
        """The folded CRDT state and text of an indicator's notes (for loading its document)."""
        with self.file.reading() as db:
            doc = db.table("worksheets").get(Query().indicator == indicator_id) or {}
        return doc.get("notes_crdt"), doc.get("notes", "")

    def apply_notes_update(self, actor: Actor, indicator_id: str, update: bytes) -> None:
        """Merge one live notes update (Yjs), refused while the indicator is locked.

        The update is read and bounded before the session's lock is taken. Should the notes
        log pass its bound, the notes are folded now rather than after the usual pause.
        """
        checked = read_update(update)
        with self.file.reading() as db:
            doc = db.table("worksheets").get(Query().indicator == indicator_id)
            if doc and doc["lock"]:
                raise worksheet.Locked("This indicator is agreed and locked. Your text was not saved.")
            self.notes.apply(indicator_id, checked, actor.id)
        if self.notes.fold_due():
            self.fold_notes()

    def fold_notes(self) -> list[Event]:
        """Write notes typed since the last fold into TinyDB, with who edited them."""
        with self.file.reading():  # hold the lock until the log is reset
            with self.file.transaction() as db:
                events = self._fold(db)
            self.notes.folded()
        for event in events:
            self.notify(self, event)
        return events

    def _fold(self, db) -> list[Event]:
        """Inside a transaction: store each edited document's text and state, audit who edited."""
        pending = self.notes.fold()
        if not pending:
            return []
        names = {p["id"]: p["name"] for p in db.table("participants").all()}
        events, table = [], db.table("worksheets")
        for indicator, (text, state, authors) in pending.items():
            where = Query().indicator == indicator
            ws = worksheet.stored(table.get(where), indicator)
            ws.update(notes=text, notes_crdt=state)
            if ws["state"] == worksheet.NOT_STARTED and text:
                ws["state"] = worksheet.IN_DISCUSSION
            table.upsert(ws, where)
            for author in sorted(authors):
                event = Event(type="notes_edited", actor_id=author, actor_name=names.get(author, "unknown"),
                              indicator=indicator, data={"length": len(text)})
                events.append(append_event(db, event))
        return events

    def audit(self) -> list[Event]:
        """The audit log, oldest first."""
        with self.file.reading() as db:
            return [Event.from_dict(dict(doc, id=doc.doc_id)) for doc in db.table("audit").all()]

    def is_facilitator_token(self, token: str) -> bool:
        """Whether token is this session's facilitator token (compared in constant time)."""
        with self.file.reading() as db:
            stored = db.table("secrets").get(doc_id=1)["facilitator_token_sha256"]
        return hmac.compare_digest(stored, token_digest(token))

    def facilitator_generation(self) -> str | None:
        """What a facilitator browser's cookie must hold: changed when the link is replaced.
        (None for a session made before generations existed: any facilitator cookie holds.)"""
        with self.file.reading() as db:
            return db.table("secrets").get(doc_id=1).get("facilitator_generation")

    def signed_in(self, participant_id, generation) -> Actor | None:
        """The person a browser's cookie names, unless it is a facilitator browser that was
        signed out by replacing the facilitator link (its generation is an old one)."""
        actor = self.actor(participant_id) if isinstance(participant_id, str) else None
        if actor is None or not actor.is_facilitator:
            return actor
        current = self.facilitator_generation()
        if current is None or (isinstance(generation, str) and hmac.compare_digest(current, generation)):
            return actor
        return None

    def rotate_facilitator_token(self, actor: Actor) -> str:
        """A new facilitator token replacing the old one: the old link stops working at once
        and every browser that used it is signed out (the caller re-signs the asking one)."""
        token = secrets.token_urlsafe(32)
        with self.file.transaction() as db:
            db.table("secrets").update(new_secrets(token), doc_ids=[1])
            event = append_event(db, Event.by(actor, "facilitator_link_replaced"))
        self.notify(self, event)
        return token

    def change(self, actor: Actor, event: Event) -> Event:
        """Authorise, apply and durably record one indicator change; returns the event.

        Notes typed live are folded in first, so a lock freezes exactly what was typed
        and a notes form merges with the text as it stands. That merge (a diff, slow for
        long notes) is done before the session's lock is taken, and kept only if the notes
        still read the same under it; if someone typed meanwhile it is done again.
        """
        for _ in range(NOTES_TRIES):
            notes_edits = self._merge_notes(event)
            try:
                return self._commit(actor, event, notes_edits)
            except worksheet.NotesMoved:
                continue
        raise worksheet.Conflict("The notes kept changing while your text was merged with them. Save again.")

    def _merge_notes(self, event: Event) -> tuple[str, list] | None:
        """For a notes save: the notes as they stand, and the CRDT edits that turn them into
        the merged text. Holds no lock while diffing."""
        if event.type != "notes_saved":
            return None
        current = self.notes.text(event.indicator)
        return current, text_edits(current, worksheet.merge_notes(event, current))

    def _commit(self, actor: Actor, event: Event, notes_edits: tuple[str, list] | None) -> Event:
        """Under the session's lock, fold, authorise, apply and record the event; then announce it."""
        with self.file.reading():  # hold the lock until the notes log is reset
            with self.file.transaction() as db:
                folded = self._fold(db)
                table, where = db.table("worksheets"), Query().indicator == event.indicator
                ws = worksheet.stored(table.get(where), event.indicator)
                worksheet.authorise(actor, ws, event)
                if event.type == "round_revealed" and self._anonymous(db):
                    worksheet.check_anonymous_reveal(ws)
                worksheet.apply(ws, event)  # NotesMoved if the notes changed since the merge
                if worksheet.meaning_of(event.type).private and self._anonymous(db):
                    event.data.pop("value")  # the audit says that someone rated, never what
                if notes_edits:
                    self.notes.edit(event.indicator, *notes_edits, actor.id)
                    ws["notes_crdt"] = self.notes.state(event.indicator)
                table.upsert(ws, where)
                append_event(db, event)
            self.notes.folded()
        for done in folded + [event]:
            self.notify(self, done)
        if event.type == "vote_cast":
            self._reveal_if_everyone_rated(event.indicator)
        return event

    @staticmethod
    def _anonymous(db) -> bool:
        """Whether the session's ratings are anonymous (read inside a transaction)."""
        return bool(db.table("session").get(doc_id=1).get("anonymous"))

    def present(self) -> set[str]:
        """The ids of the people with the session open now (none without a live room)."""
        return set(self.room.people()) if self.room is not None else set()

    def _reveal_if_everyone_rated(self, indicator_id: str) -> None:
        """Reveal the round in hand once everyone present has rated, if the session says so."""
        if not self.details.get("auto_reveal"):
            return
        if not rounds.everyone_rated(self.worksheet(indicator_id), self.present()):
            return
        try:
            self.change(EVERYONE_RATED, Event.by(EVERYONE_RATED, "round_revealed", indicator_id, auto=True))
        except worksheet.Conflict:
            pass  # revealed meanwhile (two last ratings at once): once is enough

    def update_details(self, actor: Actor, fields: dict) -> Event:
        """Change the session's settings (facilitator only)."""
        if not actor.is_facilitator:
            raise worksheet.Forbidden("Only the facilitator can change the session's settings.")
        fields = {key: fields[key] for key in SESSION_FIELDS if key in fields}
        with self.file.transaction() as db:
            anonymous = self._anonymous(db)
            if "anonymous" in fields and fields["anonymous"] != anonymous and self._rated(db):
                raise worksheet.Conflict("Ratings can be made anonymous, or named again, only while nobody has "
                                         "rated yet: people rated on the understanding they were given.")
            db.table("session").update(fields, doc_ids=[1])
            event = append_event(db, Event.by(actor, "session_updated", **fields))
        self.notify(self, event)
        return event

    def rated(self) -> bool:
        """Whether anyone has rated any indicator of this session."""
        with self.file.reading() as db:
            return self._rated(db)

    @staticmethod
    def _rated(db) -> bool:
        """Whether anyone has rated any indicator (read inside a transaction)."""
        return any(rounds.has_ratings(worksheet.stored(doc, doc["indicator"])) for doc in db.table("worksheets").all())

    def baseline(self) -> dict | None:
        """The earlier assessment this session is compared with, if any."""
        with self.file.reading() as db:
            found = db.table("baseline").get(doc_id=1)
        return dict(found) if found else None

    def set_baseline(self, actor: Actor, baseline: dict) -> Event:
        """Compare this session with an earlier assessment (facilitator only)."""
        if not actor.is_facilitator:
            raise worksheet.Forbidden("Only the facilitator can choose an earlier assessment to compare with.")
        with self.file.transaction() as db:
            db.table("baseline").truncate()
            db.table("baseline").insert(baseline)
            event = append_event(db, Event.by(actor, "baseline_set", **baseline["source"]))
        self.notify(self, event)
        return event

    def join(self, name: str, perspective: str, role: str = PARTICIPANT) -> Actor:
        """Add a participant (or the facilitator) and record that they joined."""
        actor = Actor(new_id(), name, role)
        with self.file.transaction() as db:
            add_participant(db, actor, perspective)
            event = append_event(db, Event.by(actor, "participant_joined", perspective=perspective, role=role))
        self.notify(self, event)
        return actor

    def new_screen_token(self, actor: Actor) -> str:
        """A new room screen link's token (facilitator only), kept only as its hash. It replaces
        the last one not yet opened; screens already showing the session carry on (their
        cookie holds the screen generation, which stays)."""
        if not actor.is_facilitator:
            raise worksheet.Forbidden("Only the facilitator can open the room screen.")
        token = secrets.token_urlsafe(32)
        with self.file.transaction() as db:
            generation = db.table("secrets").get(doc_id=1).get("screen_generation") or secrets.token_hex(8)
            db.table("secrets").update({"screen_token_sha256": token_digest(token), "screen_generation": generation},
                                       doc_ids=[1])
        return token

    def is_screen_token(self, token: str) -> bool:
        """Whether token is this session's room screen token (compared in constant time)."""
        with self.file.reading() as db:
            stored = db.table("secrets").get(doc_id=1).get("screen_token_sha256")
        return stored is not None and hmac.compare_digest(stored, token_digest(token))

    def screen_generation(self) -> str | None:
        """What a room screen's cookie must hold for this session (None: no screen link made yet)."""
        with self.file.reading() as db:
            return db.table("secrets").get(doc_id=1).get("screen_generation")


def add_participant(db, actor: Actor, perspective: str) -> None:
    """Insert a participant row."""
    db.table("participants").insert(layout.participant_row(actor, perspective))


def append_event(db, event: Event) -> Event:
    """Append the event to the audit log, giving it its sequence number."""
    raw = event.to_dict()
    raw.pop("id")
    event.id = db.table("audit").insert(raw)
    return event


def new_secrets(token: str) -> dict:
    """What a session keeps of its facilitator's token: a hash, and the generation of
    facilitator browsers, which changes when the token is replaced (signing out the others)."""
    return {"facilitator_token_sha256": token_digest(token), "facilitator_generation": secrets.token_hex(8)}
