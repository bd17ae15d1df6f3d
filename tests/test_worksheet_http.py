"""The worksheet over HTTP: overview, indicator page, every form as a plain post and through htmx."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from markupsafe import escape
from werkzeug.datastructures import MultiDict

from conftest import HX

IN_SCOPE = ["1a", "1b", "1c", "1d", "1e", "1f", "1g", "2a", "2b", "2c", "3a", "3b", "4a", "4b", "4c", "4d", "4e",
            "5a", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c", "7d", "7e", "8a", "8b", "8c", "8d", "9a", "9b", "9c"]


def text(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def worksheet(app, person, indicator="1a") -> dict:
    """The stored worksheet of an indicator."""
    return app.extensions["ecsa"].get(person.session_id).worksheet(indicator)


def is_fragment(body: str, block: str) -> bool:
    """Whether a response is just the named block (not a whole page)."""
    return "<html" not in body and re.match(rf'\s*<(section|div) id="{block}"', body) is not None


def stored_item(app, person, kind="evidence", indicator="1a", index=-1) -> dict:
    """A stored evidence or action item."""
    return worksheet(app, person, indicator)["evidence" if kind == "evidence" else "actions"][index]


# --- overview -----------------------------------------------------------------------

def test_overview_lists_the_sections_areas_and_indicators_in_scope(facilitator):
    page = text(facilitator.get("/"))
    assert "Section 1: Leadership" in page and "Section 2: Organisational culture" in page
    assert "Section 3:" not in page
    assert "Area 1:" in page and "Area 9:" in page and "Area 10:" not in page
    listed = page.split('<div id="overview">')[1]  # after the progress summary and heatmap
    linked = re.findall(rf'href="/s/{facilitator.session_id}/i/([0-9a-z]+)"', listed)
    assert linked == IN_SCOPE
    assert listed.count(">Not started<") == len(IN_SCOPE)


def test_overview_shows_each_indicators_state_and_agreed_rating(facilitator):
    facilitator.post("/i/1b/notes", {"notes": "Started", "base": ""})
    facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "What the group agreed."})
    facilitator.post("/i/1c/agreed", {"agreed": "4", "rationale": "What the group agreed."})
    facilitator.post("/i/1a/lock")
    page = text(facilitator.get("/"))
    locked, started, agreed = (page.split(f'id="overview-{i}"')[1].split("</li>")[0] for i in ("1a", "1b", "1c"))
    assert ">Locked<" in locked and "Agreed: 3 – Developing" in locked
    assert ">In discussion<" in started and "Agreed:" not in started
    assert ">Agreed<" in agreed and "Agreed: 4 – Established" in agreed


def test_overview_tells_the_facilitator_where_the_room_is_on_each_rating(app, facilitator, participant, join,
                                                                         monkeypatch):
    sam = join("Sam Staff", "staff")
    workshop = app.extensions["ecsa"].get(facilitator.session_id)
    monkeypatch.setattr(type(workshop), "present", lambda self: {p["id"] for p in workshop.participants()})
    participant.post("/i/1a/vote", {"value": "2"})
    sam.post("/i/1b/vote", {"value": "4"})
    facilitator.post("/i/1b/vote", {"value": "4"})
    facilitator.post("/i/1b/reveal")
    page = text(facilitator.get("/"))
    rating, revealed = (page.split(f'id="overview-{i}"')[1].split("</li>")[0] for i in ("1a", "1b"))
    assert "Ratings: <strong>being rated</strong> (1 rated). Still to rate: Fay Facilitator, Sam Staff" in rating
    assert "Ratings: <strong>revealed</strong> (2 rated)" in revealed and "Still to rate" not in revealed
    # Participants see the phase too, but who has still to rate is the facilitator's to chase.
    assert "Still to rate" not in text(participant.get("/")).split('<div id="overview">')[1]


# --- the indicator page -------------------------------------------------------------

def test_indicator_page_shows_the_statement_with_its_bullets_as_a_list(participant):
    page = text(participant.get("/i/1a"))
    assert "Indicator 1a" in page
    assert "<p>The provider has an experience of care strategy that:</p>" in page
    assert "<li>has been signed off by the board</li>" in page
    assert re.search(r"<ul><li>is either a stand-alone document.*?</li>.*?</ul>", page, re.S)


def test_indicator_page_has_notes_evidence_ratings_and_actions(participant):
    page = text(participant.get("/i/1c"))
    for block in ("worksheet", "status", "notes", "evidence", "ratings", "actions"):
        assert f'id="{block}"' in page
    assert "1 – Not started" in page and "5 – Embedded/Leading" in page
    assert "No evidence yet." in page and "No actions yet." in page


@pytest.mark.parametrize("indicator, previous, next_, position", [
    ("1a", None, "1b", "1 of 35"), ("1g", "1f", "2a", "7 of 35"), ("9c", "9b", None, "35 of 35")])
def test_indicator_page_links_to_the_previous_and_next_indicator_in_scope(participant, indicator, previous, next_,
                                                                         position):
    page = text(participant.get(f"/i/{indicator}"))
    base = f"/s/{participant.session_id}/i/"
    assert position in page
    assert (f'rel="prev" href="{base}{previous}"' in page) == bool(previous)
    assert (f'rel="next" href="{base}{next_}"' in page) == bool(next_)
    assert page.count('rel="prev"') == (1 if previous else 0) and page.count('rel="next"') == (1 if next_ else 0)


@pytest.mark.parametrize("indicator", ["10a", "99z", "1A"])
def test_indicator_out_of_scope_or_unknown_is_not_found(participant, indicator):
    assert participant.get(f"/i/{indicator}").status_code == 404
    assert participant.post(f"/i/{indicator}/notes", {"notes": "x", "base": ""}).status_code == 404


@pytest.mark.parametrize("block", ["notes", "evidence", "ratings", "actions", "worksheet", "status"])
def test_block_can_be_fetched_alone_with_htmx(participant, block):
    fragment = participant.client.get(participant.url(f"/i/1a?block={block}"), headers=HX)
    assert fragment.status_code == 200 and is_fragment(text(fragment), block)
    whole = participant.client.get(participant.url(f"/i/1a?block={block}"))
    assert "<html" in text(whole)


def test_boosted_request_gets_the_whole_page(participant):
    boosted = participant.client.get(participant.url("/i/1a?block=notes"), headers={**HX, "HX-Boosted": "true"})
    assert "<html" in text(boosted) and 'id="evidence"' in text(boosted)


def test_unknown_block_name_gets_the_whole_page(participant):
    assert "<html" in text(participant.client.get(participant.url("/i/1a?block=nope"), headers=HX))


# --- each form: plain post (post-redirect-get) and htmx (the block alone) ------------

def test_notes_saved_by_plain_post_redirect_back_to_the_notes(app, participant):
    saved = participant.post("/i/1a/notes", {"notes": "We have a strategy.\n", "base": ""})
    assert saved.status_code == 303
    assert saved.headers["Location"] == participant.url("/i/1a#notes")
    assert worksheet(app, participant)["notes"] == "We have a strategy.\n"
    assert "We have a strategy." in text(participant.get("/i/1a"))
    assert worksheet(app, participant)["state"] == "in_discussion"


def test_notes_saved_through_htmx_answer_with_the_notes_block(app, participant):
    saved = participant.post("/i/1a/notes", {"notes": "Signed off in May", "base": ""}, htmx=True)
    body = text(saved)
    assert saved.status_code == 200 and is_fragment(body, "notes")
    assert "Signed off in May" in body and 'name="base" value="Signed off in May"' in body
    assert worksheet(app, participant)["notes"] == "Signed off in May"


def test_notes_keep_their_line_breaks_and_spacing(app, participant):
    participant.post("/i/1a/notes", {"notes": "  one\n\n  two  ", "base": ""})
    assert worksheet(app, participant)["notes"] == "  one\n\n  two  "


def test_concurrent_notes_saves_keep_both_peoples_words(app, facilitator, participant):
    facilitator.post("/i/1a/notes", {"notes": "Agenda:\n", "base": ""})
    assert participant.post("/i/1a/notes", {"notes": "Agenda:\nCarers were consulted.\n", "base": "Agenda:\n"},
                            htmx=True).status_code == 200
    answered = facilitator.post("/i/1a/notes", {"notes": "Agenda:\nBoard signed it off.\n", "base": "Agenda:\n"},
                                htmx=True)
    notes = worksheet(app, facilitator)["notes"]
    assert "Carers were consulted." in notes and "Board signed it off." in notes and notes.startswith("Agenda:\n")
    assert "Carers were consulted." in text(answered)  # the saver sees the merged text at once


def test_evidence_added_by_plain_post_and_through_htmx(app, participant):
    plain = participant.post("/i/1a/evidence", {"text": "Board minutes", "source": "Minutes 2026-03.docx"})
    assert plain.status_code == 303 and plain.headers["Location"] == participant.url("/i/1a#evidence")
    fragment = participant.post("/i/1a/evidence", {"text": "Strategy", "source": "https://example.org/s"}, htmx=True)
    body = text(fragment)
    assert fragment.status_code == 200 and is_fragment(body, "evidence")
    assert "Document: Minutes 2026-03.docx" in body and 'href="https://example.org/s"' in body
    assert "Added by Pat Participant" in body
    items = worksheet(app, participant)["evidence"]
    assert [(i["text"], i["source"], i["author_name"]) for i in items] == [
        ("Board minutes", "Minutes 2026-03.docx", "Pat Participant"),
        ("Strategy", "https://example.org/s", "Pat Participant")]


@pytest.mark.parametrize("htmx", [False, True])
def test_evidence_edited_with_its_revision(app, participant, htmx):
    participant.post("/i/1a/evidence", {"text": "Minutes", "source": ""})
    item = stored_item(app, participant)
    form = participant.get(f"/i/1a/evidence/{item['id']}/edit", htmx=htmx)
    assert form.status_code == 200 and is_fragment(text(form), "evidence") == htmx
    assert 'name="rev" value="1"' in text(form) and ">Minutes</textarea>" in text(form)
    saved = participant.post(f"/i/1a/evidence/{item['id']}", {"text": "Board minutes", "source": "", "rev": "1"},
                             htmx=htmx)
    assert saved.status_code == (200 if htmx else 303)
    edited = stored_item(app, participant)
    assert (edited["text"], edited["rev"], edited["edited_by"]) == ("Board minutes", 2, "Pat Participant")
    assert "edited by Pat Participant" in text(participant.get("/i/1a"))


@pytest.mark.parametrize("htmx", [False, True])
def test_evidence_removed_by_its_author(app, participant, htmx):
    participant.post("/i/1a/evidence", {"text": "Minutes", "source": ""})
    item = stored_item(app, participant)
    removed = participant.post(f"/i/1a/evidence/{item['id']}/remove", htmx=htmx)
    assert removed.status_code == (200 if htmx else 303)
    assert worksheet(app, participant)["evidence"] == []
    assert "No evidence yet." in text(participant.get("/i/1a"))


@pytest.mark.parametrize("htmx", [False, True])
def test_actions_added_edited_and_removed(app, participant, htmx):
    added = participant.post("/i/1a/action", {"what": "Publish the strategy", "owner": "Comms team",
                                              "due": "2027-03-31", "status": "open"}, htmx=htmx)
    assert added.status_code == (200 if htmx else 303)
    if htmx:
        assert is_fragment(text(added), "actions") and "Owner: Comms team." in text(added)
    else:
        assert added.headers["Location"] == participant.url("/i/1a#actions")
    action = stored_item(app, participant, "action")
    assert (action["what"], action["owner"], action["due"], action["status"]) == (
        "Publish the strategy", "Comms team", "2027-03-31", "open")
    participant.post(f"/i/1a/action/{action['id']}", {"what": "Publish it", "owner": "", "due": "",
                                                      "status": "in_progress", "rev": "1"}, htmx=htmx)
    action = stored_item(app, participant, "action")
    assert (action["what"], action["owner"], action["due"], action["status"]) == ("Publish it", "", None, "in_progress")
    assert ">In progress<" in text(participant.get("/i/1a"))
    participant.post(f"/i/1a/action/{action['id']}/remove", htmx=htmx)
    assert worksheet(app, participant)["actions"] == []


@pytest.mark.parametrize("htmx", [False, True])
def test_participant_casts_and_clears_their_own_rating(app, participant, htmx):
    cast = participant.post("/i/1a/vote", {"value": "2"}, htmx=htmx)
    assert cast.status_code == (200 if htmx else 303)
    if htmx:
        assert is_fragment(text(cast), "ratings") and "Rated: Pat Participant" in text(cast)
        assert "Your rating: <strong>2 – Emerging</strong>" in text(cast)
    else:
        assert cast.headers["Location"] == participant.url("/i/1a#ratings")
    assert [v["value"] for v in worksheet(app, participant)["rounds"][-1]["votes"].values()] == [2]
    assert 'id="vote-2" name="value" type="radio" value="2" checked' in text(participant.get("/i/1a"))
    participant.post("/i/1a/vote", {"value": ""}, htmx=htmx)
    assert worksheet(app, participant)["rounds"][-1]["votes"] == {}


def browser_submission(form_html: str, button: str) -> list[tuple[str, str]]:
    """What a browser sends for a form: checked radios (in page order), then the pressed button."""
    fields = re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)" checked', form_html)
    pressed = re.search(rf'<button[^>]*name="([^"]+)"[^>]*value="([^"]*)"[^>]*>{button}<', form_html)
    return fields + [pressed.groups()]


@pytest.mark.parametrize("htmx", [False, True])
def test_clear_my_rating_button_clears_it_even_though_the_rating_is_still_ticked(app, participant, htmx):
    participant.post("/i/1a/vote", {"value": "4"})
    page = text(participant.get("/i/1a"))
    form = page.split(f'action="/s/{participant.session_id}/i/1a/vote"')[1].split("</form>")[0]
    sent = browser_submission(form, "Clear my rating")
    assert ("value", "4") in sent
    cleared = participant.client.post(participant.url("/i/1a/vote"), data=MultiDict(sent),
                                      headers=HX if htmx else {})
    assert cleared.status_code == (200 if htmx else 303)
    assert worksheet(app, participant)["rounds"][-1]["votes"] == {}


def test_everyone_sees_who_has_rated_and_the_ratings_only_once_revealed(facilitator, participant):
    facilitator.post("/i/1a/vote", {"value": "3"})
    participant.post("/i/1a/vote", {"value": "5"})
    hidden = text(participant.get("/i/1a"))
    assert "<strong>2 of 2</strong> have rated" in hidden and "Rated: Fay Facilitator, Pat Participant" in hidden
    assert "3 – Developing</th>" not in hidden  # no distribution until the reveal
    assert facilitator.post("/i/1a/reveal").status_code == 303
    shown = text(participant.get("/i/1a"))
    assert re.search(r"3 – Developing</th>\s*<td[^>]*>1</td>.*?<td[^>]*>Fay Facilitator</td>", shown, re.S)
    assert "Ratings are 2 levels apart (3 to 5)" in shown


@pytest.mark.parametrize("htmx", [False, True])
def test_facilitator_sets_the_agreed_rating(app, facilitator, participant, htmx):
    agreed = facilitator.post("/i/1a/agreed", {"agreed": "4", "rationale": "What the group agreed."}, htmx=htmx)
    assert agreed.status_code == (200 if htmx else 303)
    if htmx:
        assert is_fragment(text(agreed), "ratings")
    assert worksheet(app, facilitator)["agreed_rating"]["value"] == 4
    assert "<strong>4 – Established</strong> (set by Fay Facilitator)" in text(participant.get("/i/1a"))
    facilitator.post("/i/1a/agreed", {"agreed": ""}, htmx=htmx)
    assert worksheet(app, facilitator)["agreed_rating"] is None


@pytest.mark.parametrize("htmx", [False, True])
def test_facilitator_locks_and_unlocks_with_a_reason(app, facilitator, participant, htmx):
    facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "What the group agreed."})
    locked = facilitator.post("/i/1a/lock", htmx=htmx)
    assert locked.status_code == (200 if htmx else 303)
    if htmx:
        assert is_fragment(text(locked), "worksheet") and "Locked by Fay Facilitator" in text(locked)
    else:
        assert locked.headers["Location"] == facilitator.url("/i/1a#worksheet")
    ws = worksheet(app, facilitator)
    assert ws["state"] == "agreed" and ws["lock"]["by"] == "Fay Facilitator"
    page = text(participant.get("/i/1a"))
    assert "Read-only until the facilitator unlocks it." in page and "Save notes" not in page
    unlocked = facilitator.post("/i/1a/unlock", {"reason": "New evidence from carers"}, htmx=htmx)
    assert unlocked.status_code == (200 if htmx else 303)
    ws = worksheet(app, facilitator)
    assert ws["lock"] is None and ws["state"] == "in_discussion"
    assert ws["lock_history"][-1]["reason"] == "New evidence from carers"
    assert "Unlocked by Fay Facilitator" in text(participant.get("/i/1a"))


def test_locking_needs_an_agreed_rating_first(app, facilitator):
    refused = facilitator.post("/i/1a/lock", htmx=True)
    assert refused.status_code == 409 and "Set the agreed rating before locking" in text(refused)
    assert worksheet(app, facilitator)["lock"] is None


def test_unlocking_an_unlocked_indicator_is_a_conflict(facilitator):
    refused = facilitator.post("/i/1a/unlock", {"reason": "why not"})
    assert refused.status_code == 409 and "not locked" in text(refused)


# --- refused input: 422 with the message beside the field and everything typed kept --

@pytest.mark.parametrize("htmx", [False, True])
def test_overlong_notes_are_refused_and_kept_so_nothing_is_lost(app, participant, htmx):
    typed = "Our words. " * 1818 + "end"  # 20,001 characters
    assert len(typed) == 20_001
    refused = participant.post("/i/1a/notes", {"notes": typed, "base": ""}, htmx=htmx)
    body = text(refused)
    assert refused.status_code == 422 and ("<html" not in body) == htmx
    assert "must be 20,000 characters or fewer (it is 20,001)" in body
    assert f">{typed}</textarea>" in body and 'aria-invalid="true"' in body
    assert worksheet(app, participant)["notes"] == ""


def test_notes_of_exactly_the_limit_are_saved(app, participant):
    assert participant.post("/i/1a/notes", {"notes": "n" * 20_000, "base": ""}).status_code == 303
    assert len(worksheet(app, participant)["notes"]) == 20_000


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("typed, field, message", [
    ({"text": "", "source": "Annual report 'draft'"}, "text", "Enter what the evidence is"),
    ({"text": "E" * 2001, "source": "Annual report 'draft'"}, "text", "must be 2,000 characters or fewer"),
    ({"text": "Survey & results", "source": "https:no-host"}, "source", "Enter a full link"),
    ({"text": "Survey & results", "source": "S" * 2001}, "source", "must be 2,000 characters or fewer"),
])
def test_bad_evidence_is_refused_with_the_message_and_what_was_typed(app, participant, htmx, typed, field, message):
    refused = participant.post("/i/1a/evidence", typed, htmx=htmx)
    body = text(refused)
    assert refused.status_code == 422 and message in body and ("<html" not in body) == htmx
    assert f'id="evidence-new-{field}-error"' in body
    assert f">{escape(typed['text'])}</textarea>" in body and f'value="{escape(typed["source"])}"' in body
    assert worksheet(app, participant)["evidence"] == []


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("changes, field, message", [
    ({"what": ""}, "what", "Enter what the action is"),
    ({"owner": "O" * 81}, "owner", "must be 80 characters or fewer"),
    ({"due": "31/02/2027"}, "due", "must be a real date"),
    ({"due": "2027-02-29"}, "due", "must be a real date"),
    ({"status": "someday"}, "status", "Select a status"),
])
def test_bad_action_is_refused_with_the_message_and_what_was_typed(app, participant, htmx, changes, field, message):
    typed = dict({"what": "Ask carers' forum", "owner": "Jo & Sam", "due": "2027-03-31", "status": "in_progress"},
                 **changes)
    refused = participant.post("/i/1a/action", typed, htmx=htmx)
    body = text(refused)
    assert refused.status_code == 422 and message in body
    assert f'id="action-new-{field}-error"' in body
    assert f">{escape(typed['what'])}</textarea>" in body
    assert f'value="{escape(typed["owner"])}"' in body and f'value="{escape(typed["due"])}"' in body
    if field != "status":
        assert 'value="in_progress" selected' in body
    assert worksheet(app, participant)["actions"] == []


@pytest.mark.parametrize("kind, good, bad, message", [
    ("evidence", {"text": "Minutes", "source": ""}, {"text": "", "source": "kept.docx"}, "Enter what the evidence is"),
    ("action", {"what": "Do it", "owner": "", "due": "", "status": "open"},
     {"what": "Do it better", "owner": "", "due": "soon", "status": "open"}, "must be a real date"),
])
def test_bad_edit_is_refused_and_the_edit_form_keeps_what_was_typed(app, participant, kind, good, bad, message):
    participant.post(f"/i/1a/{kind}", good)
    item = stored_item(app, participant, kind)
    refused = participant.post(f"/i/1a/{kind}/{item['id']}", dict(bad, rev="1"), htmx=True)
    body = text(refused)
    assert refused.status_code == 422 and message in body
    assert f'action="/s/{participant.session_id}/i/1a/{kind}/{item["id"]}"' in body
    assert all(value in body for value in bad.values() if value)
    assert stored_item(app, participant, kind)["rev"] == 1


def test_vote_outside_the_scale_is_refused(app, participant):
    refused = participant.post("/i/1a/vote", {"value": "9"}, htmx=True)
    assert refused.status_code == 422 and "Select a rating" in text(refused)
    assert worksheet(app, participant)["rounds"][-1]["votes"] == {}


def test_agreed_rating_outside_the_scale_is_refused(app, facilitator):
    refused = facilitator.post("/i/1a/agreed", {"agreed": "0"}, htmx=True)
    assert refused.status_code == 422 and "Select a rating" in text(refused)
    assert worksheet(app, facilitator)["agreed_rating"] is None


@pytest.mark.parametrize("reason, message", [("", "Enter a reason for unlocking"),
                                             ("R" * 501, "must be 500 characters or fewer")])
def test_unlocking_needs_a_short_reason(app, facilitator, reason, message):
    facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "What the group agreed."})
    facilitator.post("/i/1a/lock")
    refused = facilitator.post("/i/1a/unlock", {"reason": reason}, htmx=True)
    body = text(refused)
    assert refused.status_code == 422 and message in body and f'value="{reason}"' in body
    assert is_fragment(body, "worksheet")
    assert worksheet(app, facilitator)["lock"] is not None


# --- editing an item someone else changed meanwhile -----------------------------------

@pytest.mark.parametrize("htmx", [False, True])
def test_stale_evidence_edit_is_a_conflict_that_keeps_what_was_typed(app, facilitator, participant, htmx):
    participant.post("/i/1a/evidence", {"text": "Minutes", "source": ""})
    item = stored_item(app, participant)
    facilitator.post(f"/i/1a/evidence/{item['id']}", {"text": "Board minutes (March)", "source": "", "rev": "1"})
    stale = participant.post(f"/i/1a/evidence/{item['id']}", {"text": "Minutes of the May board", "source": "b.docx",
                                                              "rev": "1"}, htmx=htmx)
    body = text(stale)
    assert stale.status_code == 409 and ("<html" not in body) == htmx
    assert "Someone else changed this evidence item while you were editing it." in body
    assert ">Minutes of the May board</textarea>" in body and 'value="b.docx"' in body
    assert "Board minutes (March)" in body  # what it says now, to merge by hand
    assert stored_item(app, participant)["text"] == "Board minutes (March)"


def test_saving_again_after_a_conflict_replaces_the_newer_version(app, facilitator, participant):
    participant.post("/i/1a/evidence", {"text": "Minutes", "source": ""})
    item = stored_item(app, participant)
    facilitator.post(f"/i/1a/evidence/{item['id']}", {"text": "Board minutes", "source": "", "rev": "1"})
    stale = participant.post(f"/i/1a/evidence/{item['id']}", {"text": "Both minutes", "source": "", "rev": "1"},
                             htmx=True)
    rev = re.search(r'name="rev" value="(\d+)"', text(stale))[1]
    assert rev == "2"  # the form now carries the version the person has seen
    again = participant.post(f"/i/1a/evidence/{item['id']}", {"text": "Both minutes", "source": "", "rev": rev})
    assert again.status_code == 303 and stored_item(app, participant)["text"] == "Both minutes"


def test_stale_action_edit_is_a_conflict_that_keeps_what_was_typed(app, facilitator, participant):
    participant.post("/i/1a/action", {"what": "Survey", "owner": "", "due": "", "status": "open"})
    item = stored_item(app, participant, "action")
    facilitator.post(f"/i/1a/action/{item['id']}", {"what": "Survey", "owner": "", "due": "", "status": "done",
                                                    "rev": "1"})
    stale = participant.post(f"/i/1a/action/{item['id']}", {"what": "Survey carers too", "owner": "Pat", "due": "",
                                                            "status": "open", "rev": "1"}, htmx=True)
    body = text(stale)
    assert stale.status_code == 409 and ">Survey carers too</textarea>" in body and 'value="Pat"' in body
    assert stored_item(app, participant, "action")["status"] == "done"


@pytest.mark.parametrize("htmx", [False, True])
def test_editing_an_item_someone_removed_keeps_what_was_typed(app, facilitator, participant, htmx):
    participant.post("/i/1a/evidence", {"text": "Minutes", "source": ""})
    item = stored_item(app, participant)
    facilitator.post(f"/i/1a/evidence/{item['id']}/remove")
    stale = participant.post(f"/i/1a/evidence/{item['id']}", {"text": "Minutes of May", "source": "m.docx",
                                                              "rev": "1"}, htmx=htmx)
    body = text(stale)
    assert stale.status_code == 409 and "has been removed by someone else" in body
    assert ">Minutes of May</textarea>" in body and 'value="m.docx"' in body
    assert worksheet(app, participant)["evidence"] == []


def test_edit_form_for_a_removed_item_is_not_found(app, participant):
    participant.post("/i/1a/evidence", {"text": "Minutes", "source": ""})
    item = stored_item(app, participant)
    participant.post(f"/i/1a/evidence/{item['id']}/remove")
    assert participant.get(f"/i/1a/evidence/{item['id']}/edit", htmx=True).status_code == 404


def test_unknown_item_kind_is_not_found(participant):
    assert participant.post("/i/1a/gossip", {"text": "x"}).status_code == 404


# --- the forms on the page work as a browser submits them ----------------------------

class PageForms(HTMLParser):
    """The POST forms on a page: action, hx-post, and the fields a browser would send by default."""

    def __init__(self, html: str):
        super().__init__()
        self.forms, self._open, self._textarea, self._select = [], None, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("method") == "post":
            self._open = {"action": a["action"], "hx-post": a.get("data-hx-post", a.get("hx-post")), "fields": [], "textareas": []}
            self.forms.append(self._open)
        elif self._open is None:
            return
        elif tag == "input" and a.get("name") and (a.get("type") not in ("radio", "checkbox") or "checked" in a):
            self._open["fields"].append((a["name"], a.get("value") or ""))
        elif tag == "textarea":
            self._textarea = [a["name"], ""]
        elif tag == "select":
            self._select = [a["name"], None]
        elif tag == "option" and self._select and (self._select[1] is None or "selected" in a):
            self._select[1] = a.get("value", "")

    def handle_data(self, data):
        if self._textarea:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea:
            self._open["fields"].append(tuple(self._textarea))
            self._open["textareas"].append(self._textarea[0])
            self._textarea = None
        elif tag == "select" and self._select:
            self._open["fields"].append(tuple(self._select))
            self._select = None
        elif tag == "form":
            self._open = None


def submit(person, form: dict, typed: str = "Typed in the browser"):
    """Send a form with its defaults, typing into any empty textarea, as a browser would."""
    fields = [(name, value or (typed if name in form["textareas"] else value)) for name, value in form["fields"]]
    return person.client.post(form["action"], data=MultiDict(fields))


def forms_on(person, path: str) -> list[dict]:
    """The POST forms on one of the person's pages."""
    return PageForms(text(person.get(path))).forms


def test_every_form_on_the_indicator_page_is_accepted_as_a_browser_sends_it(app, facilitator):
    facilitator.post("/i/1a/evidence", {"text": "Minutes", "source": ""})
    facilitator.post("/i/1a/action", {"what": "Survey", "owner": "", "due": "", "status": "open"})
    facilitator.post("/i/1a/vote", {"value": "2"})
    forms = forms_on(facilitator, "/i/1a")
    kinds = sorted(form["action"].rsplit("/i/1a/", 1)[1].split("/")[0] for form in forms)
    assert kinds == ["action", "action", "agreed", "evidence", "evidence", "lock", "notes", "reveal", "timer",
                     "timer", "vote"]
    for form in forms:
        assert form["hx-post"] == form["action"]
        # Locking, removing and revealing change what the other forms may do; the timer's
        # buttons each carry a value (tested in test_timer.py).
        if not form["action"].endswith(("/lock", "/remove", "/reveal", "/timer")):
            assert submit(facilitator, form).status_code == 303, form
    ws = worksheet(app, facilitator)
    assert ws["notes"] == "Typed in the browser" and ws["agreed_rating"] is None
    assert [e["text"] for e in ws["evidence"]][-1] == "Typed in the browser"
    assert [a["what"] for a in ws["actions"]][-1] == "Typed in the browser"


def test_every_item_form_is_accepted_as_a_browser_sends_it(app, facilitator):
    for kind, data in (("evidence", {"text": "Minutes", "source": "m.docx"}),
                       ("action", {"what": "Survey", "owner": "Jo", "due": "2027-01-31", "status": "in_progress"})):
        facilitator.post(f"/i/1a/{kind}", data)
        item = stored_item(app, facilitator, kind)
        edit = next(f for f in forms_on(facilitator, f"/i/1a/{kind}/{item['id']}/edit")
                    if f["action"].endswith(f"/{kind}/{item['id']}"))
        assert submit(facilitator, edit).status_code == 303
        assert stored_item(app, facilitator, kind)["rev"] == 2
        assert {k: v for k, v in stored_item(app, facilitator, kind).items() if k in data} == data
        remove = next(f for f in forms_on(facilitator, "/i/1a") if f["action"].endswith(f"/{item['id']}/remove"))
        assert submit(facilitator, remove).status_code == 303
    ws = worksheet(app, facilitator)
    assert ws["evidence"] == [] and ws["actions"] == []


def test_lock_and_unlock_forms_are_accepted_as_a_browser_sends_them(app, facilitator):
    facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "What the group agreed."})
    lock = next(f for f in forms_on(facilitator, "/i/1a") if f["action"].endswith("/lock"))
    assert submit(facilitator, lock).status_code == 303
    [unlock] = [f for f in forms_on(facilitator, "/i/1a") if f["action"].endswith("/unlock")]
    refused = submit(facilitator, unlock)  # no reason typed: refused, still locked
    assert refused.status_code == 422 and worksheet(app, facilitator)["lock"] is not None
    unlock["fields"] = [(n, "We found more evidence" if n == "reason" else v) for n, v in unlock["fields"]]
    assert submit(facilitator, unlock).status_code == 303 and worksheet(app, facilitator)["lock"] is None


def test_settings_form_is_accepted_as_a_browser_sends_it(app, facilitator):
    [form] = forms_on(facilitator, "/settings")
    assert submit(facilitator, form).status_code == 303
    details = app.extensions["ecsa"].get(facilitator.session_id).details
    assert (details["title"], details["date"], details["scope"]) == ("Leadership workshop", "2026-12-01", [1, 2])
