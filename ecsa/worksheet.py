"""The worksheet of one indicator and its rules: who may change what, and when.

Plain Python on plain dicts (as stored in TinyDB). `authorise` decides whether an event
may happen; `apply` makes it happen. Both are pure, so the same rules serve the HTTP
views, the live socket handlers and the tests.
"""

from __future__ import annotations

from .events import Actor, Event
from .textmerge import merge

NOTES_MAX = 20_000  # the record schema's limit on notes

NOT_STARTED, IN_DISCUSSION, AGREED = "not_started", "in_discussion", "agreed"
STATE_LABELS = {NOT_STARTED: "Not started", IN_DISCUSSION: "In discussion", AGREED: "Agreed"}
ACTION_STATUSES = {"open": "Open", "in_progress": "In progress", "done": "Done"}

# Event types that change an indicator's content; all are refused while it is locked.
CONTENT_EVENTS = {
    "notes_saved", "evidence_added", "evidence_edited", "evidence_removed", "vote_cast",
    "agreed_rating_set", "action_added", "action_edited", "action_removed",
}
FACILITATOR_ONLY = {"agreed_rating_set", "indicator_locked", "indicator_unlocked"}
ITEM_LISTS = {"evidence": "evidence", "action": "actions"}


class Forbidden(Exception):
    """The actor may not make this change (answered 403, nothing changes)."""


class Locked(Forbidden):
    """The indicator is agreed and locked, so it is read-only for everyone."""


class NotesMoved(Exception):
    """The notes changed after a save was merged with them: merge it again."""


class Conflict(Exception):
    """Someone else changed or removed the item since this person started editing it."""

    def __init__(self, message: str, current: dict | None = None):
        super().__init__(message)
        self.current = current


def new_worksheet(indicator_id: str) -> dict:
    """An empty worksheet for an indicator nobody has touched yet."""
    return {
        "indicator": indicator_id, "state": NOT_STARTED, "notes": "", "evidence": [],
        "votes": {}, "agreed_rating": None, "actions": [], "lock": None, "lock_history": [],
    }


def find_item(ws: dict, kind: str, item_id: str) -> dict | None:
    """The evidence or action item with this id, if it is still there."""
    return next((item for item in ws[ITEM_LISTS[kind]] if item["id"] == item_id), None)


def authorise(actor: Actor, ws: dict, event: Event) -> None:
    """Raise Forbidden, Locked or Conflict unless actor may make this change now."""
    if event.type in FACILITATOR_ONLY and not actor.is_facilitator:
        raise Forbidden("Only the facilitator can do that.")
    if event.type in CONTENT_EVENTS and ws["lock"]:
        raise Locked("This indicator is agreed and locked. Ask the facilitator to unlock it.")
    if event.type == "indicator_locked" and ws["lock"]:
        raise Conflict("This indicator is already locked.")
    if event.type == "indicator_locked" and not ws["agreed_rating"]:
        raise Conflict("Set the agreed rating before locking this indicator.")
    if event.type == "indicator_unlocked" and not ws["lock"]:
        raise Conflict("This indicator is not locked.")
    if event.type.endswith(("_edited", "_removed")):
        _authorise_item(actor, ws, event)


def _authorise_item(actor: Actor, ws: dict, event: Event) -> None:
    """Anyone may edit an item; only its author or the facilitator may remove it."""
    kind = event.type.split("_")[0]
    item = find_item(ws, kind, event.data["id"])
    if item is None:
        raise Conflict(f"That {kind} item has been removed by someone else.")
    if event.type.endswith("_removed") and not (actor.is_facilitator or item["author_id"] == actor.id):
        raise Forbidden(f"Only its author or the facilitator can remove this {kind} item.")
    if event.type.endswith("_edited") and event.data.get("rev") != item["rev"]:
        raise Conflict(f"Someone else changed this {kind} item while you were editing it.", item)


def apply(ws: dict, event: Event) -> None:
    """Change the worksheet as the (already authorised) event says."""
    APPLY[event.type](ws, event)
    if event.type in CONTENT_EVENTS and ws["state"] == NOT_STARTED:
        ws["state"] = IN_DISCUSSION


def merge_notes(event: Event, current: str) -> str:
    """Merge a notes save with the notes as they stand (current) and keep the result in the
    event for `apply`, which takes it only if the notes still read current.

    Diffing long notes takes a while, so a server calls this holding no lock, then applies
    under the lock, merging again if someone changed the notes in between.
    """
    merged = merge(event.data["base"], current, event.data["text"])
    if len(merged) > NOTES_MAX:
        raise Conflict(f"With what others wrote meanwhile, the notes would be longer than "
                       f"{NOTES_MAX:,} characters. Shorten your text and save again.")
    event.data.update(merged_with=current, merged=merged)
    return merged


def _notes_saved(ws: dict, event: Event) -> None:
    """Take the submitted notes merged with whatever others saved since the sender's base."""
    if "merged" not in event.data:  # the rules used on their own: merge now
        merge_notes(event, ws["notes"])
    if event.data["merged_with"] != ws["notes"]:
        raise NotesMoved("The notes changed while this save was merged.")
    merged = event.data.pop("merged")
    for key in ("base", "text", "merged_with"):
        del event.data[key]
    event.data.update(before=len(ws["notes"]), after=len(merged))
    ws["notes"] = merged


def _item_added(ws: dict, event: Event) -> None:
    """Append a new evidence or action item, authored by the event's actor."""
    item = dict(event.data, author_id=event.actor_id, author_name=event.actor_name, at=event.at, rev=1)
    ws[ITEM_LISTS[event.type.split("_")[0]]].append(item)


def _item_edited(ws: dict, event: Event) -> None:
    """Update an item's fields and bump its revision."""
    item = find_item(ws, event.type.split("_")[0], event.data["id"])
    item.update({k: v for k, v in event.data.items() if k not in ("id", "rev")})
    item.update(rev=item["rev"] + 1, edited_by=event.actor_name, edited_at=event.at)


def _item_removed(ws: dict, event: Event) -> None:
    """Remove an item; the audit log keeps what it said."""
    kind = event.type.split("_")[0]
    item = find_item(ws, kind, event.data["id"])
    event.data["removed"] = {k: v for k, v in item.items() if k not in ("rev",)}
    ws[ITEM_LISTS[kind]].remove(item)


def _vote_cast(ws: dict, event: Event) -> None:
    """Record (or clear, with value None) the actor's own rating."""
    if event.data["value"] is None:
        ws["votes"].pop(event.actor_id, None)
    else:
        ws["votes"][event.actor_id] = {"value": event.data["value"], "name": event.actor_name, "at": event.at}


def _agreed_rating_set(ws: dict, event: Event) -> None:
    """Record (or clear) the group's agreed rating, set by the facilitator."""
    value = event.data["value"]
    ws["agreed_rating"] = None if value is None else {"value": value, "by": event.actor_name, "at": event.at}


def _indicator_locked(ws: dict, event: Event) -> None:
    """Lock the indicator as agreed: read-only for everyone."""
    ws["lock"] = {"by": event.actor_name, "at": event.at}
    ws["lock_history"].append({"action": "locked", "by": event.actor_name, "at": event.at, "reason": None})
    ws["state"] = AGREED


def _indicator_unlocked(ws: dict, event: Event) -> None:
    """Unlock for more discussion; the reason is kept in the lock history."""
    ws["lock"] = None
    ws["lock_history"].append(
        {"action": "unlocked", "by": event.actor_name, "at": event.at, "reason": event.data["reason"]})
    ws["state"] = IN_DISCUSSION


APPLY = {
    "notes_saved": _notes_saved,
    "evidence_added": _item_added, "action_added": _item_added,
    "evidence_edited": _item_edited, "action_edited": _item_edited,
    "evidence_removed": _item_removed, "action_removed": _item_removed,
    "vote_cast": _vote_cast,
    "agreed_rating_set": _agreed_rating_set,
    "indicator_locked": _indicator_locked,
    "indicator_unlocked": _indicator_unlocked,
}
