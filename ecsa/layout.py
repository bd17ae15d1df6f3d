"""What a session file holds: a new one built whole, and a check of one found on disk.

A session file is TinyDB's JSON layout, `{table: {doc_id: document}}`. A new session (an
imported record may bring tens of thousands of audit events) is built here as one plain
dict and written with one atomic write: inserting it row by row through TinyDB re-encoded
the table on every insert (52,000 events did not finish in 300 s), and a failure half-way
left a file holding `{}`. A file found at start-up is checked before it is served, so one
damaged session is reported and left alone while the others carry on.
"""

from __future__ import annotations

from .events import FACILITATOR, PARTICIPANT, Actor, Event, now_iso

# Every participant row has these; pages and the record read them without checking.
PARTICIPANT_FIELDS = {"id": str, "name": str, "perspective": str, "role": str, "joined_at": str}


def new_session(details: dict, secrets: dict, facilitator: Actor, perspective: str,
                history: dict | None = None) -> dict:
    """The whole first state of a session as TinyDB tables: details, secrets, people,
    worksheets and audit log (from an imported record's history, if any)."""
    history = history or {}
    people = [dict(person, role=PARTICIPANT) for person in history.get("participants", [])]
    me = next((person for person in people if person["id"] == facilitator.id), None)
    if me:
        me.update(role=FACILITATOR, name=facilitator.name)
    else:
        people.append(participant_row(facilitator, perspective))
    # The history's events are the parsed record's own, made for this: their ids go (the new
    # file numbers them) in place, rather than copying 34,000 dicts, whose allocation set off
    # a full garbage collection that held every other request for ~60 ms.
    audit = history.get("audit", [])
    for raw in audit:
        raw.pop("id", None)
    if not history:
        created = Event.by(facilitator, "session_created", title=details["title"]).to_dict()
        created.pop("id")
        audit.append(created)
    return {"session": _rows([details]), "secrets": _rows([secrets]), "participants": _rows(people),
            "worksheets": _rows(history.get("worksheets", [])), "audit": _rows(audit),
            "baseline": _rows([history["baseline"]] if history.get("baseline") else [])}


def participant_row(actor: Actor, perspective: str) -> dict:
    """A participant as stored."""
    return {"id": actor.id, "name": actor.name, "perspective": perspective, "role": actor.role,
            "joined_at": now_iso()}


def _rows(documents: list[dict]) -> dict[str, dict]:
    """A TinyDB table: documents keyed by their ids, 1, 2, 3 …"""
    return {str(number): document for number, document in enumerate(documents, start=1)}


def problem(session_id: str, tables: dict, sections: set[int]) -> str | None:
    """Why a session file's tables cannot be served, or None when they can."""
    details = tables.get("session", {}).get("1")
    if not isinstance(details, dict):
        return "it has no session details"
    for key in ("title", "organisation", "date", "join_code"):
        if not isinstance(details.get(key), str):
            return f"its session details have no {key}"
    if details.get("id") != session_id:
        return f"it names session {details.get('id')!r}, not {session_id!r} as its file name says"
    scope = details.get("scope")
    if not isinstance(scope, list) or not scope or any(not isinstance(s, int) or s not in sections for s in scope):
        return "its scope is not a list of the framework's section numbers"
    if not isinstance(tables.get("secrets", {}).get("1", {}).get("facilitator_token_sha256"), str):
        return "it has no facilitator token"
    return _people_problem(tables.get("participants", {}))


def _people_problem(participants: dict) -> str | None:
    """Why a participants table cannot be served, or None."""
    roles = []
    for row in participants.values():
        wrong = [key for key, kind in PARTICIPANT_FIELDS.items() if not isinstance(row.get(key), kind)]
        if wrong:
            return f"a participant has no valid {wrong[0]}"
        roles.append(row["role"])
    if roles.count(FACILITATOR) != 1:
        return f"it has {roles.count(FACILITATOR)} facilitators, not one"
    return None
