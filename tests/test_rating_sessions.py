"""Rating rounds in a session: anonymous sessions, revealing once everyone has rated, the
settings that choose them, and the agreed rating's reason (over HTTP, as people use them)."""

from __future__ import annotations

import json

from tests.conftest import SESSION_FORM


def workshop_of(app, person):
    """The session's model."""
    return app.extensions["ecsa"].get(person.session_id)


def record_of(person) -> dict:
    """The record as this person downloads it."""
    return json.loads(person.get("/record").get_data(as_text=True))


def new_session(app, **options) -> "Person":
    """A facilitator who created a session with the given rating options ticked."""
    from tests.conftest import Person
    client = app.test_client()
    created = client.post("/sessions", data=dict(SESSION_FORM, anonymous_offered="yes",
                                                 **{key: "yes" for key in options}))
    assert created.status_code == 303
    session_id = created.headers["Location"].split("/")[2]
    return Person(client, session_id, app.extensions["ecsa"].get(session_id).details["join_code"])


def test_a_new_session_names_ratings_and_reveals_by_hand(app, facilitator):
    details = workshop_of(app, facilitator).details
    assert (details["anonymous"], details["auto_reveal"]) == (False, False)


def test_an_anonymous_sessions_audit_says_someone_rated_never_what(app, join):
    fay = new_session(app, anonymous=True)
    pat = join("Pat Participant", "unpaid_carer", person=fay)
    sam = join("Sam Staff", "staff", person=fay)
    pat.post("/i/1a/vote", {"value": "2"})
    fay.post("/i/1a/vote", {"value": "4"})
    rated = [event for event in workshop_of(app, fay).audit() if event.type == "vote_cast"]
    assert [(event.actor_name, event.data) for event in rated] == [
        ("Pat Participant", {"round": 1}), ("Fay Facilitator", {"round": 1})]
    # Two ratings and two names: who gave which could be told, so no reveal yet.
    early = fay.post("/i/1a/reveal", htmx=True)
    assert early.status_code == 409 and "at least 3 people must rate" in early.get_data(as_text=True)
    sam.post("/i/1a/vote", {"value": "4"})
    assert fay.post("/i/1a/reveal").status_code == 303
    for person in (fay, pat):
        sheet = next(i for i in record_of(person)["indicators"] if i["id"] == "1a")
        assert sheet["rounds"][0]["votes"] == [] and sheet["rounds"][0]["ballots"] == [2, 4, 4]
    page = pat.get("/i/1a").get_data(as_text=True)
    assert "2 – Emerging</th>" in page and "Pat Participant</td>" not in page


def test_ratings_are_revealed_once_everyone_present_has_rated(app, join, monkeypatch):
    fay = new_session(app, auto_reveal=True)
    pat = join("Pat Participant", "unpaid_carer", person=fay)
    workshop = workshop_of(app, fay)
    people = {p["name"]: p["id"] for p in workshop.participants()}
    monkeypatch.setattr(type(workshop), "present", lambda self: set(people.values()))
    pat.post("/i/1a/vote", {"value": "3"})
    assert workshop.worksheet("1a")["rounds"][0]["revealed"] is None  # Fay has not rated
    fay.post("/i/1a/vote", {"value": "5"})
    revealed = workshop.worksheet("1a")["rounds"][0]["revealed"]
    assert revealed["auto"] is True and revealed["by"] == "(everyone present had rated)"
    assert "3 – Developing</th>" in pat.get("/i/1a").get_data(as_text=True)


def test_without_auto_reveal_the_facilitator_reveals(app, facilitator, participant, monkeypatch):
    workshop = workshop_of(app, facilitator)
    monkeypatch.setattr(type(workshop), "present", lambda self: {p["id"] for p in workshop.participants()})
    participant.post("/i/1a/vote", {"value": "3"})
    facilitator.post("/i/1a/vote", {"value": "5"})
    assert workshop.worksheet("1a")["rounds"][0]["revealed"] is None


def test_anonymity_can_change_in_settings_only_until_someone_rates(app, facilitator, participant):
    settings = dict(SESSION_FORM, anonymous_offered="yes", anonymous="yes")
    assert facilitator.post("/settings", settings).status_code == 303
    assert workshop_of(app, facilitator).details["anonymous"] is True
    page = facilitator.get("/settings").get_data(as_text=True)
    assert 'id="anonymous" name="anonymous" type="checkbox" value="yes" checked' in page
    participant.post("/i/1a/vote", {"value": "2"})
    page = facilitator.get("/settings").get_data(as_text=True)
    assert 'name="anonymous"' not in page and "cannot change now that people have rated" in page
    refused = facilitator.post("/settings", dict(settings, anonymous_offered="yes", anonymous=""))
    assert refused.status_code == 422 and "only while nobody has rated" in refused.get_data(as_text=True)
    assert workshop_of(app, facilitator).details["anonymous"] is True
    # A settings form without the choice (as shown once people have rated) keeps it as it is.
    assert facilitator.post("/settings", dict(SESSION_FORM, auto_reveal="yes")).status_code == 303
    details = workshop_of(app, facilitator).details
    assert (details["anonymous"], details["auto_reveal"]) == (True, True)


def test_the_agreed_rating_needs_the_groups_reason(app, facilitator):
    refused = facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "  "}, htmx=True)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Enter the group&#39;s reason for this rating" in body
    assert workshop_of(app, facilitator).worksheet("1a")["agreed_rating"] is None
    too_long = facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "Why " * 200}, htmx=True)
    body = too_long.get_data(as_text=True)
    assert too_long.status_code == 422 and "Reason must be 500 characters or fewer (it is 799)" in body
    assert "Why Why Why" in body  # what was typed is kept
    assert facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "Strategy signed off."}).status_code == 303
    assert facilitator.post("/i/1a/agreed", {"agreed": "", "rationale": ""}).status_code == 303  # clearing needs none


def test_locking_keeps_the_reason_in_the_lock_history_the_page_and_the_report(app, facilitator):
    facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "Strategy signed off; carers not asked."})
    facilitator.post("/i/1a/lock")
    page = facilitator.get("/i/1a").get_data(as_text=True)
    assert "Agreed because: Strategy signed off; carers not asked." in page
    assert "Locked by Fay Facilitator" in page and "“Strategy signed off; carers not asked.”" in page
    sheet = next(i for i in record_of(facilitator)["indicators"] if i["id"] == "1a")
    assert sheet["lock"]["rationale"] == sheet["lock_history"][0]["reason"] == "Strategy signed off; carers not asked."
    assert "Strategy signed off; carers not asked." in facilitator.get("/report").get_data(as_text=True)
