"""A change reaches the pages showing its indicator as the blocks it changed, rendered for each
page (once per distinct view); other pages are told what changed, without the blocks."""

from __future__ import annotations

import pycrdt
import pytest

from conftest import Person
from ecsa.realtime import handlers, socketio
from ecsa.views import worksheets

INDICATOR, OTHER = "1a", "1b"


@pytest.fixture(autouse=True)
def no_folds(monkeypatch):
    """No notes fold on a timer in these tests."""
    monkeypatch.setattr(handlers, "schedule_fold", lambda workshop: None)


def page_on(app, person: Person, indicator: str | None):
    """A page of this person's, showing an indicator (or the overview, with None)."""
    page = socketio.test_client(app, flask_test_client=person.client, auth={"session": person.session_id})
    assert page.emit("where", {"indicator": indicator}, callback=True) == {"ok": True}
    return page


def changes(page) -> list[dict]:
    """The `changed` messages a page received since last asked."""
    return [m["args"][0] for m in page.get_received() if m["name"] == "changed"]


def settled(*pages) -> None:
    """Forget what the pages received so far."""
    for page in pages:
        page.get_received()


def test_pages_on_the_indicator_get_its_changed_blocks_rendered_for_them(app, facilitator, participant):
    fay, pat, away = page_on(app, facilitator, INDICATOR), page_on(app, participant, INDICATOR), \
        page_on(app, participant, OTHER)
    settled(fay, pat, away)
    assert participant.post(f"/i/{INDICATOR}/vote", {"value": "4"}).status_code == 303
    (to_fay,), (to_pat,), (to_away,) = changes(fay), changes(pat), changes(away)
    assert set(to_fay["html"]) == set(to_pat["html"]) == {"ratings_summary", "status"}
    assert "Pat Participant" in to_fay["html"]["ratings_summary"]
    assert "Lock as agreed" in to_fay["html"]["status"] and "Lock as agreed" not in to_pat["html"]["status"]
    assert "html" not in to_away and to_away["indicator"] == INDICATOR  # the overview line still updates


def test_each_distinct_view_is_rendered_once(app, facilitator, join, monkeypatch):
    people = [join(f"Person {n}", "staff") for n in range(6)]
    pages = [page_on(app, person, INDICATOR) for person in people] + [page_on(app, facilitator, INDICATOR)]
    settled(*pages)
    rendered = []
    real = worksheets.render_block
    monkeypatch.setattr(worksheets, "render_block", lambda *a, **k: (rendered.append(a[1]), real(*a, **k))[1])
    assert people[0].post(f"/i/{INDICATOR}/vote", {"value": "2"}).status_code == 303
    # Each block once per kind of viewer: the facilitator's has the Reveal and Lock buttons.
    assert sorted(rendered) == ["ratings_summary", "ratings_summary", "status", "status"]
    assert all(set(changes(page)[0]["html"]) == {"ratings_summary", "status"} for page in pages)


def test_edit_and_remove_are_pushed_only_to_those_who_may(app, facilitator, participant, join):
    sam = join("Sam Staff", "staff")
    fay, pat, sams = (page_on(app, p, INDICATOR) for p in (facilitator, participant, sam))
    settled(fay, pat, sams)
    assert participant.post(f"/i/{INDICATOR}/evidence", {"text": "Carers survey", "source": ""}).status_code == 303
    lists = {name: changes(page)[0]["html"]["evidence_list"] for name, page in
             (("fay", fay), ("pat", pat), ("sam", sams))}
    assert all("Carers survey" in html for html in lists.values())
    assert "Remove" in lists["fay"] and "Remove" in lists["pat"] and "Remove" not in lists["sam"]


def test_a_lock_pushes_the_read_only_worksheet_and_the_unlock_form_only_to_the_facilitator(app, facilitator, participant):
    fay, pat = page_on(app, facilitator, INDICATOR), page_on(app, participant, INDICATOR)
    assert facilitator.post(f"/i/{INDICATOR}/agreed", {"agreed": "3", "rationale": "What the group agreed."}).status_code == 303
    settled(fay, pat)
    assert facilitator.post(f"/i/{INDICATOR}/lock").status_code == 303
    (to_fay,), (to_pat,) = changes(fay), changes(pat)
    assert "ecsa-worksheet--locked" in to_pat["html"]["worksheet"]
    assert "Reason for unlocking" in to_fay["html"]["worksheet"]
    assert "Reason for unlocking" not in to_pat["html"]["worksheet"]
    assert "Add evidence" not in to_pat["html"]["worksheet"]


def test_a_fold_of_many_authors_is_told_to_the_room_once(app, facilitator, join):
    """Ten people typed in one indicator: the audit names all ten, the room hears one change."""
    people = [join(f"Typist {n}", "staff") for n in range(10)]
    workshop = app.extensions["ecsa"].get(facilitator.session_id)
    doc = pycrdt.Doc()
    text = doc.get("notes", type=pycrdt.Text)
    for person in people:
        actor = workshop.actor(participant_id(person))
        before = doc.get_state()
        text.insert(len(str(text)), f"{actor.name}. ")
        workshop.apply_notes_update(actor, INDICATOR, doc.get_update(before))
    watcher = page_on(app, facilitator, None)
    settled(watcher)
    events = workshop.fold_notes()
    assert len([e for e in events if e.type == "notes_edited"]) == 10
    assert [c["type"] for c in changes(watcher)] == ["notes_edited"]


def participant_id(person: Person) -> str:
    """The participant id this person's browser cookie holds."""
    with person.client.session_transaction() as cookie:
        return cookie["joined"][person.session_id]


def test_someone_arriving_updates_who_has_still_to_rate(app, facilitator, participant, join, monkeypatch):
    """"1 of 2 have rated" counts the people here: when someone opens the session, pages on an
    indicator still being rated are sent its new counts, naming the newcomer as still to rate."""
    from ecsa.realtime import broadcast
    monkeypatch.setattr(broadcast, "PRESENCE_GAP", 0)  # one presence list per change, at once
    fay, pat = page_on(app, facilitator, INDICATOR), page_on(app, participant, INDICATOR)
    assert participant.post(f"/i/{INDICATOR}/vote", {"value": "4"}).status_code == 303
    settled(fay, pat)
    sam = join("Sam Staff", "staff")
    page_on(app, sam, OTHER)
    counts = [change for change in changes(fay) if change["type"] == "present_changed"]
    assert counts and counts[-1]["indicator"] == INDICATOR
    summary = counts[-1]["html"]["ratings_summary"]
    assert "<strong>1 of 3</strong> has rated" in summary and "Still to rate: Fay Facilitator, Sam Staff" in summary
    assert "ecsa-distribution" not in summary  # still only who, never what
