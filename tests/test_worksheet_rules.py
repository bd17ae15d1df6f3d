"""Who may change what on an indicator's worksheet, and when (the rules, without the web)."""

from __future__ import annotations

import pytest

from ecsa.events import FACILITATOR, Actor, Event
from ecsa.worksheet import (
    AGREED, EVENT_TYPES, IN_DISCUSSION, NOT_STARTED,
    Conflict, Forbidden, Locked, apply, authorise, find_item, new_worksheet,
)

# What the event table declares, as the rules below are tested against it.
CONTENT_EVENTS = {name for name, meaning in EVENT_TYPES.items() if meaning.content}
FACILITATOR_ONLY = {name for name, meaning in EVENT_TYPES.items() if meaning.facilitator_only and meaning.apply}

WHY = "Surveys twice a year, but no carers asked yet."
FAY = Actor("f1", "Fay Facilitator", FACILITATOR)
PAT = Actor("p1", "Pat Participant")
SAM = Actor("p2", "Sam Staff")


def do(actor: Actor, ws: dict, event_type: str, **data) -> Event:
    """Authorise and apply one change, as the server does."""
    event = Event.by(actor, event_type, ws["indicator"], **data)
    authorise(actor, ws, event)
    apply(ws, event)
    return event


def refused(actor: Actor, ws: dict, event_type: str, **data) -> Exception:
    """The exception authorise raises for this change (it must raise one)."""
    with pytest.raises((Forbidden, Conflict)) as caught:
        authorise(actor, ws, Event.by(actor, event_type, ws["indicator"], **data))
    return caught.value


def add_evidence(actor: Actor, ws: dict, text: str = "Annual carers survey") -> dict:
    """Add an evidence item and return it."""
    event = do(actor, ws, "evidence_added", id=f"e{len(ws['evidence'])}", text=text, source=None)
    return find_item(ws, "evidence", event.data["id"])


def locked_sheet() -> dict:
    """A worksheet with notes, evidence, an action, votes and an agreed rating, locked."""
    ws = new_worksheet("1a")
    do(PAT, ws, "notes_saved", base="", text="We ask people twice a year.")
    add_evidence(PAT, ws)
    do(PAT, ws, "action_added", id="a0", what="Ask carers", owner="Sam", due=None, status="open")
    do(PAT, ws, "vote_cast", value=2)
    do(FAY, ws, "agreed_rating_set", value=3, rationale=WHY)
    do(FAY, ws, "indicator_locked")
    return ws


# Every content event, with data that would be accepted on the unlocked worksheet above.
CONTENT_CHANGES = {
    "notes_saved": {"base": "We ask people twice a year.", "text": "Changed."},
    "evidence_added": {"id": "e9", "text": "More", "source": None},
    "evidence_edited": {"id": "e0", "rev": 1, "text": "Edited", "source": None},
    "evidence_removed": {"id": "e0"},
    "vote_cast": {"value": 4},
    "agreed_rating_set": {"value": 4, "rationale": "Surveys twice a year, acted on."},
    "round_revealed": {},
    "round_started": {},
    "action_added": {"id": "a9", "what": "More", "owner": "", "due": None, "status": "open"},
    "action_edited": {"id": "a0", "rev": 1, "what": "Edited", "owner": "", "due": None, "status": "done"},
    "action_removed": {"id": "a0"},
}


def test_every_content_event_is_covered_here():
    """The locked-indicator test below exercises every content event the rules know."""
    assert set(CONTENT_CHANGES) == CONTENT_EVENTS


@pytest.mark.parametrize("event_type", sorted(FACILITATOR_ONLY))
def test_participant_cannot_do_what_only_the_facilitator_may(event_type):
    """Setting the agreed rating, locking and unlocking are the facilitator's alone."""
    ws = locked_sheet() if event_type == "indicator_unlocked" else new_worksheet("1a")
    if event_type == "indicator_locked":
        do(FAY, ws, "agreed_rating_set", value=3)
    error = refused(PAT, ws, event_type, value=3, reason="More to say")
    assert type(error) is Forbidden and "facilitator" in str(error)


def test_participant_cannot_set_agreed_rating():
    """A participant's attempt to set the agreed rating changes nothing."""
    ws = new_worksheet("1a")
    with pytest.raises(Forbidden):
        do(PAT, ws, "agreed_rating_set", value=5)
    assert ws["agreed_rating"] is None and ws["state"] == NOT_STARTED


@pytest.mark.parametrize("event_type", sorted(CONTENT_EVENTS))
@pytest.mark.parametrize("actor", [FAY, PAT], ids=["facilitator", "participant"])
def test_locked_indicator_refuses_every_content_change(event_type, actor):
    """Once agreed and locked, nobody (not even the facilitator) can change the content."""
    ws = locked_sheet()
    with pytest.raises(Forbidden) as caught:
        authorise(actor, ws, Event.by(actor, event_type, "1a", **CONTENT_CHANGES[event_type]))
    if actor is FAY or event_type not in FACILITATOR_ONLY:
        assert isinstance(caught.value, Locked)


@pytest.mark.parametrize("event_type", sorted(CONTENT_EVENTS))
def test_unlocked_indicator_accepts_every_content_change(event_type):
    """The same changes are allowed again once the facilitator unlocks (so the lock is what refused them)."""
    ws = locked_sheet()
    do(FAY, ws, "indicator_unlocked", reason="New evidence arrived")
    if event_type == "round_started":  # a new round follows a revealed one
        do(FAY, ws, "round_revealed")
    before = repr(ws)
    do(FAY, ws, event_type, **dict(CONTENT_CHANGES[event_type]))
    assert repr(ws) != before


def test_lock_needs_an_agreed_rating():
    """The facilitator cannot lock an indicator the group has not rated."""
    ws = new_worksheet("1a")
    do(PAT, ws, "vote_cast", value=3)
    error = refused(FAY, ws, "indicator_locked")
    assert isinstance(error, Conflict) and "agreed rating" in str(error)
    assert ws["lock"] is None


def test_clearing_the_agreed_rating_means_it_cannot_be_locked():
    """An agreed rating that was set and then cleared does not count."""
    ws = new_worksheet("1a")
    do(FAY, ws, "agreed_rating_set", value=3)
    do(FAY, ws, "agreed_rating_set", value=None)
    assert isinstance(refused(FAY, ws, "indicator_locked"), Conflict)


def test_locked_indicator_cannot_be_locked_again():
    """A second lock is a conflict, so the history does not get a duplicate entry."""
    ws = locked_sheet()
    assert isinstance(refused(FAY, ws, "indicator_locked"), Conflict)
    assert len(ws["lock_history"]) == 1


def test_unlock_needs_the_indicator_to_be_locked():
    """Unlocking an indicator that is not locked is refused."""
    ws = new_worksheet("1a")
    do(FAY, ws, "agreed_rating_set", value=3)
    error = refused(FAY, ws, "indicator_unlocked", reason="Why not")
    assert isinstance(error, Conflict) and "not locked" in str(error)
    assert ws["lock_history"] == []


def test_state_moves_from_not_started_to_in_discussion_on_first_content():
    """An untouched indicator is not started; the first note puts it in discussion."""
    ws = new_worksheet("1a")
    assert ws["state"] == NOT_STARTED
    do(PAT, ws, "notes_saved", base="", text="First thoughts")
    assert ws["state"] == IN_DISCUSSION


@pytest.mark.parametrize("event_type", ["evidence_added", "vote_cast", "action_added", "agreed_rating_set"])
def test_any_first_content_starts_the_discussion(event_type):
    """Evidence, a vote, an action or an agreed rating each start the discussion too."""
    ws = new_worksheet("1a")
    do(FAY, ws, event_type, **CONTENT_CHANGES[event_type])
    assert ws["state"] == IN_DISCUSSION


def test_state_is_agreed_on_lock_and_back_in_discussion_on_unlock():
    """Locking agrees the indicator; unlocking returns it to discussion."""
    ws = new_worksheet("1a")
    do(FAY, ws, "agreed_rating_set", value=4)
    do(FAY, ws, "indicator_locked")
    assert ws["state"] == AGREED and ws["lock"]["by"] == "Fay Facilitator"
    do(FAY, ws, "indicator_unlocked", reason="The board report changed")
    assert ws["state"] == IN_DISCUSSION and ws["lock"] is None


def test_lock_history_records_who_when_and_why():
    """Each lock and unlock is kept, with the facilitator's name, the time and the reason: a
    lock's reason is the group's rationale for the agreed rating it locks."""
    ws = locked_sheet()
    unlock = do(FAY, ws, "indicator_unlocked", reason="New survey results")
    do(FAY, ws, "agreed_rating_set", value=4, rationale="Carers asked too now.")
    relock = do(FAY, ws, "indicator_locked")
    assert ws["lock_history"] == [
        {"action": "locked", "by": "Fay Facilitator", "at": ws["lock_history"][0]["at"], "reason": WHY},
        {"action": "unlocked", "by": "Fay Facilitator", "at": unlock.at, "reason": "New survey results"},
        {"action": "locked", "by": "Fay Facilitator", "at": relock.at, "reason": "Carers asked too now."},
    ]
    assert ws["lock"] == {"by": "Fay Facilitator", "at": relock.at, "rationale": "Carers asked too now."}
    assert relock.data["rationale"] == "Carers asked too now."  # and so in the audit log


def test_added_items_are_authored_by_the_actor_not_the_form():
    """An item's author is who the server knows, whatever else the data says."""
    ws = new_worksheet("1a")
    item = add_evidence(PAT, ws)
    assert (item["author_id"], item["author_name"], item["rev"]) == ("p1", "Pat Participant", 1)


def test_anyone_may_edit_an_item():
    """A participant may improve someone else's evidence; the edit is attributed."""
    ws = new_worksheet("1a")
    item = add_evidence(PAT, ws)
    do(SAM, ws, "evidence_edited", id=item["id"], rev=1, text="Carers survey 2025", source="Survey.pdf")
    item = find_item(ws, "evidence", item["id"])
    assert (item["text"], item["source"], item["rev"], item["edited_by"]) == (
        "Carers survey 2025", "Survey.pdf", 2, "Sam Staff")
    assert item["author_name"] == "Pat Participant"


def test_stale_edit_raises_conflict_carrying_the_current_item():
    """Editing from an old revision is refused, and the refusal shows what the item says now."""
    ws = new_worksheet("1a")
    item = add_evidence(PAT, ws)
    do(SAM, ws, "evidence_edited", id=item["id"], rev=1, text="Sam's version", source=None)
    error = refused(PAT, ws, "evidence_edited", id=item["id"], rev=1, text="Pat's version", source=None)
    assert isinstance(error, Conflict)
    assert error.current["text"] == "Sam's version" and error.current["rev"] == 2


def test_edit_without_a_revision_is_a_conflict():
    """An edit that does not say which revision it started from cannot be trusted."""
    ws = new_worksheet("1a")
    item = add_evidence(PAT, ws)
    assert isinstance(refused(PAT, ws, "evidence_edited", id=item["id"], text="x", source=None), Conflict)


def test_editing_a_removed_item_is_a_conflict():
    """Someone removed the action while another person was editing it."""
    ws = new_worksheet("1a")
    do(PAT, ws, "action_added", id="a1", what="Ask carers", owner="", due=None, status="open")
    do(PAT, ws, "action_removed", id="a1")
    error = refused(SAM, ws, "action_edited", id="a1", rev=1, what="x", owner="", due=None, status="done")
    assert isinstance(error, Conflict) and error.current is None


def test_participant_cannot_remove_someone_elses_item():
    """Only an item's author or the facilitator may remove it."""
    ws = new_worksheet("1a")
    item = add_evidence(PAT, ws)
    assert type(refused(SAM, ws, "evidence_removed", id=item["id"])) is Forbidden
    assert find_item(ws, "evidence", item["id"]) is not None


def test_author_may_remove_their_own_item():
    """Pat can take back Pat's own action."""
    ws = new_worksheet("1a")
    do(PAT, ws, "action_added", id="a1", what="Ask carers", owner="", due=None, status="open")
    do(PAT, ws, "action_removed", id="a1")
    assert ws["actions"] == []


def test_facilitator_may_remove_anyones_item_and_the_audit_keeps_it():
    """The facilitator may tidy up; the removal event keeps what the item said."""
    ws = new_worksheet("1a")
    item = add_evidence(PAT, ws, "Out of date leaflet")
    event = do(FAY, ws, "evidence_removed", id=item["id"])
    assert ws["evidence"] == []
    assert event.data["removed"]["text"] == "Out of date leaflet"


def votes(ws: dict) -> dict:
    """The round in hand's ratings, by participant id."""
    return ws["rounds"][-1]["votes"]


def test_votes_are_per_participant():
    """Each person has their own vote; voting again replaces only their own."""
    ws = new_worksheet("1a")
    do(PAT, ws, "vote_cast", value=2)
    do(SAM, ws, "vote_cast", value=4)
    event = do(PAT, ws, "vote_cast", value=3)
    assert {pid: vote["value"] for pid, vote in votes(ws).items()} == {"p1": 3, "p2": 4}
    assert votes(ws)["p2"]["name"] == "Sam Staff"
    assert event.data["round"] == 1  # the audit says which round (so a download knows if it is revealed)


def test_vote_can_be_cleared():
    """Clearing a vote removes only that participant's vote."""
    ws = new_worksheet("1a")
    do(PAT, ws, "vote_cast", value=2)
    do(SAM, ws, "vote_cast", value=4)
    do(PAT, ws, "vote_cast", value=None)
    assert list(votes(ws)) == ["p2"]
    do(PAT, ws, "vote_cast", value=None)  # clearing twice is harmless
    assert list(votes(ws)) == ["p2"]


def test_agreed_rating_records_who_set_it_and_why():
    """The agreed rating says which facilitator set it, when and the group's reason."""
    ws = new_worksheet("1a")
    event = do(FAY, ws, "agreed_rating_set", value=3, rationale=WHY)
    assert ws["agreed_rating"] == {"value": 3, "by": "Fay Facilitator", "at": event.at, "rationale": WHY}


def test_notes_saved_together_are_merged_not_overwritten():
    """Two people saving notes from the same starting text both keep their words."""
    ws = new_worksheet("1a")
    do(PAT, ws, "notes_saved", base="", text="Line one.\n")
    do(PAT, ws, "notes_saved", base="Line one.\n", text="Line one.\nPat adds this.\n")
    event = do(SAM, ws, "notes_saved", base="Line one.\n", text="Sam starts here.\nLine one.\n")
    assert ws["notes"] == "Sam starts here.\nLine one.\nPat adds this.\n"
    assert event.data["after"] == len(ws["notes"])


def test_refused_change_leaves_the_worksheet_untouched():
    """authorise alone never changes anything."""
    ws = locked_sheet()
    before = repr(ws)
    for event_type, data in CONTENT_CHANGES.items():
        with pytest.raises(Forbidden):
            authorise(PAT, ws, Event.by(PAT, event_type, "1a", **dict(data)))
    assert repr(ws) == before


def test_every_event_type_is_declared_once_with_what_it_means():
    """One table: each indicator event names its change; item events their kind; nothing is
    worked out from the type's spelling."""
    indicator_events = {name for name, meaning in EVENT_TYPES.items() if meaning.apply}
    assert indicator_events >= {
        "notes_saved", "evidence_added", "evidence_edited", "evidence_removed", "action_added", "action_edited",
        "action_removed", "vote_cast", "round_revealed", "round_started", "agreed_rating_set", "indicator_locked",
        "indicator_unlocked"}
    assert {EVENT_TYPES[name].item for name in ("evidence_added", "action_removed")} == {"evidence", "action"}
    # Changes to what the indicator shows are announced (the timer announces its own milestones).
    assert all(meaning.verb for meaning in EVENT_TYPES.values() if meaning.apply and meaning.status)
