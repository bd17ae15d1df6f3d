"""Actions from last time: a session continued from an earlier record opens with that
record's actions, and the group says what became of each before the new assessment starts.

An action carried over from a record has `earlier` (`session_id`, `title`, `date` and its
`status` in that record: see record._carried_action). Its review, once made, is kept beside
it as `review`: {"status", "note", "by", "at"}; a second review replaces the first (the
audit log keeps both). An action added in this session has no `earlier`, so nothing to
review. Plain functions on worksheet dicts, no Flask; `check` refuses, `action_reviewed`
applies, the rest say what a page shows.
"""

from __future__ import annotations

from .events import Event, NotAllowedNow

STATUSES = {"done": "Done", "in_progress": "In progress", "not_started": "Not started", "dropped": "Dropped"}
NOTE_MAX = 500  # a short note: what happened, or why it was dropped


class ReviewRefused(NotAllowedNow):
    """This review cannot be made (worksheet.py answers it as a Conflict)."""


def _action(ws: dict, action_id: str) -> dict | None:
    """The worksheet's action with this id, if it is still there."""
    return next((action for action in ws["actions"] if action["id"] == action_id), None)


def check(ws: dict, event: Event) -> None:
    """Raise ReviewRefused unless the event reviews an action from the earlier record with
    a known status and a short enough note. (A removed action is refused before this, by
    the worksheet's own item check; the views validate the form first, so these are the
    last line, for a request that skipped the form.)"""
    action = _action(ws, event.data["id"])
    if action is not None and "earlier" not in action:
        raise ReviewRefused("This action was added in this session, so there is nothing from last time to review.")
    if event.data.get("status") not in STATUSES:
        raise ReviewRefused("Select whether the action is done, in progress, not started or dropped.")
    if len(event.data.get("note") or "") > NOTE_MAX:
        raise ReviewRefused(f"The note must be {NOTE_MAX} characters or fewer.")


def action_reviewed(ws: dict, event: Event) -> None:
    """Keep the group's review of an earlier action: its status now, a note, who and when."""
    _action(ws, event.data["id"])["review"] = {
        "status": event.data["status"], "note": event.data.get("note") or None,
        "by": event.actor_name, "at": event.at}


def earlier_actions(sheets) -> list[tuple[str, dict]]:
    """(indicator id, action) for every action carried over from the earlier record, in the
    order the worksheets are given."""
    return [(ws["indicator"], action) for ws in sheets for action in ws["actions"] if "earlier" in action]


def progress(sheets) -> dict:
    """How many of the earlier actions are reviewed, of how many."""
    carried = [action for _, action in earlier_actions(sheets)]
    return {"reviewed": sum(1 for action in carried if action.get("review")), "total": len(carried)}
