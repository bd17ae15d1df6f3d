"""The worksheet of one indicator and its rules: who may change what, and when.

Plain Python on plain dicts (as stored in TinyDB). `authorise` decides whether an event
may happen; `apply` makes it happen. Both are pure, so the same rules serve the HTTP
views, the live socket handlers and the tests. What each type of event means is declared
once, in EVENT_TYPES at the end: adding one is an entry there plus its apply function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import review, rounds, timebox
from .events import Actor, Event, NotAllowedNow
from .textmerge import merge

NOTES_MAX = 20_000  # the record schema's limit on notes
RATIONALE_MAX = 500  # the agreed rating's reason: a sentence or two

NOT_STARTED, IN_DISCUSSION, AGREED = "not_started", "in_discussion", "agreed"
STATE_LABELS = {NOT_STARTED: "Not started", IN_DISCUSSION: "In discussion", AGREED: "Agreed"}
ACTION_STATUSES = {"open": "Open", "in_progress": "In progress", "done": "Done"}



@dataclass(frozen=True)
class ItemKind:
    """A kind of item a worksheet lists: evidence or actions."""

    name: str         # as in URLs and in the names of its events: "evidence", "action"
    list: str         # the worksheet's list of them
    block: str        # the indicator page's block (DOM id) that shows them, with their forms
    first_field: str  # where an error about the whole form is shown


ITEM_KINDS = {kind.name: kind for kind in (ItemKind("evidence", "evidence", "evidence", "text"),
                                           ItemKind("action", "actions", "actions", "what"))}


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
        "rounds": [rounds.new_round()], "agreed_rating": None, "actions": [], "lock": None, "lock_history": [],
    }


def stored(doc: dict | None, indicator_id: str) -> dict:
    """A worksheet as read from a session file (a copy), in this version's shape: a file
    written before rating rounds has its ratings, which everyone saw as they were cast,
    as one revealed round."""
    if doc is None:
        return new_worksheet(indicator_id)
    ws = dict(doc)
    if "rounds" not in ws:
        votes = ws.pop("votes", None) or {}
        revealed = {"by": "", "at": max(vote["at"] for vote in votes.values()), "auto": True} if votes else None
        ws["rounds"] = [dict(rounds.new_round(), votes=votes, revealed=revealed)]
    return ws


def find_item(ws: dict, kind: str, item_id: str) -> dict | None:
    """The evidence or action item with this id, if it is still there."""
    return next((item for item in ws[ITEM_KINDS[kind].list] if item["id"] == item_id), None)


def authorise(actor: Actor, ws: dict, event: Event) -> None:
    """Raise Forbidden, Locked or Conflict unless actor may make this change now."""
    meaning = EVENT_TYPES[event.type]
    if meaning.facilitator_only and not actor.is_facilitator:
        raise Forbidden("Only the facilitator can do that.")
    if meaning.content and ws["lock"]:
        raise Locked("This indicator is agreed and locked. Ask the facilitator to unlock it.")
    if event.type == "indicator_locked" and ws["lock"]:
        raise Conflict("This indicator is already locked.")
    if event.type == "indicator_locked" and not ws["agreed_rating"]:
        raise Conflict("Set the agreed rating before locking this indicator.")
    if event.type == "indicator_unlocked" and not ws["lock"]:
        raise Conflict("This indicator is not locked.")
    if meaning.item and not meaning.adds_item:
        _authorise_item(actor, ws, event, meaning.item)
    if meaning.check:
        try:
            meaning.check(ws, event)
        except NotAllowedNow as refused:  # the state does not allow it now: say why
            raise Conflict(str(refused)) from None


def _authorise_item(actor: Actor, ws: dict, event: Event, kind: str) -> None:
    """Anyone may edit an item; only its author or the facilitator may remove it."""
    item = find_item(ws, kind, event.data["id"])
    if item is None:
        raise Conflict(f"That {kind} item has been removed by someone else.")
    if event.type.endswith("_removed") and not (actor.is_facilitator or item["author_id"] == actor.id):
        raise Forbidden(f"Only its author or the facilitator can remove this {kind} item.")
    if event.type.endswith("_edited") and event.data.get("rev") != item["rev"]:
        raise Conflict(f"Someone else changed this {kind} item while you were editing it.", item)


def apply(ws: dict, event: Event) -> None:
    """Change the worksheet as the (already authorised) event says."""
    meaning = EVENT_TYPES[event.type]
    meaning.apply(ws, event)
    if meaning.content and ws["state"] == NOT_STARTED:
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
    ws[ITEM_KINDS[EVENT_TYPES[event.type].item].list].append(item)


def _item_edited(ws: dict, event: Event) -> None:
    """Update an item's fields and bump its revision."""
    item = find_item(ws, EVENT_TYPES[event.type].item, event.data["id"])
    item.update({k: v for k, v in event.data.items() if k not in ("id", "rev")})
    item.update(rev=item["rev"] + 1, edited_by=event.actor_name, edited_at=event.at)


def _item_removed(ws: dict, event: Event) -> None:
    """Remove an item; the audit log keeps what it said."""
    kind = EVENT_TYPES[event.type].item
    item = find_item(ws, kind, event.data["id"])
    event.data["removed"] = {k: v for k, v in item.items() if k not in ("rev",)}
    ws[ITEM_KINDS[kind].list].remove(item)


def check_anonymous_reveal(ws: dict) -> None:
    """An anonymous session's round needs enough ratings to be revealed (see rounds)."""
    try:
        rounds.check_anonymous_reveal(ws)
    except NotAllowedNow as refused:
        raise Conflict(str(refused)) from None


def _agreed_rating_set(ws: dict, event: Event) -> None:
    """Record (or clear) the group's agreed rating and why, set by the facilitator."""
    value = event.data["value"]
    ws["agreed_rating"] = None if value is None else {
        "value": value, "by": event.actor_name, "at": event.at, "rationale": event.data.get("rationale") or None}


def _indicator_locked(ws: dict, event: Event) -> None:
    """Lock the indicator as agreed: read-only for everyone. Who, when and the group's
    reason for its rating go into the lock and its history."""
    rationale = ws["agreed_rating"].get("rationale")
    event.data["rationale"] = rationale
    ws["lock"] = {"by": event.actor_name, "at": event.at, "rationale": rationale}
    ws["lock_history"].append({"action": "locked", "by": event.actor_name, "at": event.at, "reason": rationale})
    ws["state"] = AGREED


def _indicator_unlocked(ws: dict, event: Event) -> None:
    """Unlock for more discussion; the reason is kept in the lock history."""
    ws["lock"] = None
    ws["lock_history"].append(
        {"action": "unlocked", "by": event.actor_name, "at": event.at, "reason": event.data["reason"]})
    ws["state"] = IN_DISCUSSION


@dataclass(frozen=True)
class EventType:
    """What one type of event means, declared once: who may, what it changes, whether a lock
    refuses it, which blocks of the indicator page it changes, how it is announced."""

    name: str
    apply: Callable[[dict, Event], None] | None = None  # its change to an indicator's worksheet
    facilitator_only: bool = False
    content: bool = False           # changes what the indicator holds: refused while locked,
                                    # and moves a not-started indicator into discussion
    item: str | None = None         # the item kind it adds, edits or removes
    adds_item: bool = False         # adds one (else it works on an existing one, checked first)
    check: Callable[[dict, Event], None] | None = None  # raises NotAllowedNow when the worksheet's
                                                        # state does not allow it now
    private: bool = False           # carries a rating that stays hidden until its round is revealed
    blocks: tuple[str, ...] = ()    # indicator page blocks it changes ("status" too, unless "worksheet")
    status: bool = True             # whether it can change the status block
    told_once: bool = False         # of a batch made together (same indicator and time), the room hears one
    verb: str = ""                  # announced as "<who> <verb> <indicator>" ("" : not announced)
    live: str = "changed"           # what the room is sent: "changed" blocks, "presence", "sign_out"


def _item_events(kind: str, block: str, noun: str) -> list[EventType]:
    """The added, edited and removed events of one item kind."""
    return [EventType(f"{kind}_added", _item_added, content=True, item=kind, adds_item=True, blocks=(block,),
                      verb=f"added {noun} to"),
            EventType(f"{kind}_edited", _item_edited, content=True, item=kind, blocks=(block,), verb=f"edited {noun} on"),
            EventType(f"{kind}_removed", _item_removed, content=True, item=kind, blocks=(block,),
                      verb=f"removed {noun} from")]


EVENT_TYPES = {meaning.name: meaning for meaning in [
    EventType("notes_saved", _notes_saved, content=True, verb="saved notes on"),
    # Live typing folded into the file (every 2 s, one per author): in the audit, not announced.
    # The text reached every page as it was typed; only the overview line may change (a first
    # note starts the discussion), so no page re-fetches a block for it.
    # A fold makes one per author at once: the room is told once (the audit keeps them all).
    EventType("notes_edited", status=False, told_once=True),
    *_item_events("evidence", "evidence_list", "evidence"),
    *_item_events("action", "actions_list", "an action"),
    EventType("vote_cast", rounds.vote_cast, content=True, check=rounds.check, private=True,
              blocks=("ratings_summary",), verb="rated"),
    # Revealing and starting a round change the rating form too (hidden once revealed).
    EventType("round_revealed", rounds.round_revealed, facilitator_only=True, content=True, check=rounds.check,
              blocks=("ratings",), verb="revealed the ratings of"),
    EventType("round_started", rounds.round_started, facilitator_only=True, content=True, check=rounds.check,
              blocks=("ratings",), verb="started a new rating round on"),
    EventType("agreed_rating_set", _agreed_rating_set, facilitator_only=True, content=True,
              blocks=("ratings_summary",), verb="set the agreed rating of"),
    EventType("indicator_locked", _indicator_locked, facilitator_only=True, blocks=("worksheet",), verb="locked"),
    EventType("indicator_unlocked", _indicator_unlocked, facilitator_only=True, blocks=("worksheet",),
              verb="unlocked"),
    # The facilitator's timebox (ecsa/timebox.py): not content, so it runs on a locked indicator
    # too; it announces its own milestones (one minute left, time is up) on every page.
    EventType("timer_started", timebox.apply_start, facilitator_only=True, check=timebox.check, blocks=("timer",),
              status=False),
    EventType("timer_paused", timebox.apply_pause, facilitator_only=True, check=timebox.check, blocks=("timer",),
              status=False),
    EventType("timer_resumed", timebox.apply_resume, facilitator_only=True, check=timebox.check, blocks=("timer",),
              status=False),
    EventType("timer_extended", timebox.apply_extend, facilitator_only=True, check=timebox.check, blocks=("timer",),
              status=False),
    EventType("timer_stopped", timebox.apply_stop, facilitator_only=True, check=timebox.check, blocks=("timer",),
              status=False),
    # The group's review of an action from the earlier record (ecsa/review.py): anyone may, and
    # not content, so a locked indicator (an earlier session's often are) still takes it.
    EventType("action_reviewed", review.action_reviewed, item="action", check=review.check,
              blocks=("actions_list",), status=False, verb="reviewed an action on"),
    # Session-wide events (no indicator): in the audit log, and told to the room as said.
    EventType("session_created"),
    EventType("session_updated", facilitator_only=True),
    EventType("participant_joined", live="presence"),
    EventType("facilitator_link_replaced", facilitator_only=True, live="sign_out"),
    EventType("baseline_set", facilitator_only=True),
]}


def meaning_of(event_type: str) -> EventType:
    """What an event type means; an audit entry of a type this version does not know (from an
    imported record) is kept and shown, but changes nothing."""
    return EVENT_TYPES.get(event_type) or EventType(event_type)


def changed_blocks(event: Event) -> list[str]:
    """The blocks of the indicator page that show what this event changed."""
    meaning = meaning_of(event.type)
    blocks = list(meaning.blocks)
    return blocks if "worksheet" in blocks or not meaning.status else blocks + ["status"]
