"""Who may do what, enforced by the server: refused requests are 403 and change nothing."""

from __future__ import annotations

import os

import pytest


def text(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def workshop_of(app, person):
    """The person's session, as the server holds it."""
    return app.extensions["ecsa"].get(person.session_id)


def snapshot(app, person) -> dict:
    """Everything stored about a session: its files on disk and what the model reads back."""
    workshop = workshop_of(app, person)
    folder = workshop.file.path.rsplit("/", 1)[0]
    files = {name: open(os.path.join(folder, name), "rb").read()
             for name in sorted(os.listdir(folder)) if name.startswith(person.session_id)}
    return {"files": files, "details": workshop.details, "participants": workshop.participants(),
            "worksheets": workshop.worksheets(), "audit": [event.to_dict() for event in workshop.audit()]}


@pytest.fixture
def unchanged(app):
    """Assert that a request changes nothing in a session: `with unchanged(person): ...`."""
    class Unchanged:
        def __call__(self, person):
            self.person = person
            return self

        def __enter__(self):
            self.before = snapshot(app, self.person)

        def __exit__(self, *exc):
            if exc[0] is None:
                assert snapshot(app, self.person) == self.before, "a refused request changed the session"
    return Unchanged()


def lock(facilitator, indicator="1a"):
    """Agree a rating and lock the indicator."""
    assert facilitator.post(f"/i/{indicator}/agreed", {"agreed": "3", "rationale": "What the group agreed."}).status_code == 303
    assert facilitator.post(f"/i/{indicator}/lock").status_code == 303


def first_item(app, person, kind):
    """The first stored evidence or action item of indicator 1a."""
    return workshop_of(app, person).worksheet("1a")["evidence" if kind == "evidence" else "actions"][0]


ITEMS = {"evidence": {"text": "Minutes", "source": ""},
         "action": {"what": "Survey carers", "owner": "", "due": "", "status": "open"}}


# --- facilitator-only actions, attempted by a participant ----------------------------

@pytest.mark.parametrize("htmx", [False, True])
def test_participant_cannot_set_the_agreed_rating(participant, unchanged, htmx):
    with unchanged(participant):
        refused = participant.post("/i/1a/agreed", {"agreed": "4", "rationale": "What the group agreed."}, htmx=htmx)
    assert refused.status_code == 403 and "Only the facilitator can do that." in text(refused)


def test_participant_cannot_set_an_invalid_agreed_rating_either(participant, unchanged):
    with unchanged(participant):
        assert participant.post("/i/1a/agreed", {"agreed": "banana"}).status_code == 403


@pytest.mark.parametrize("htmx", [False, True])
def test_participant_cannot_lock(facilitator, participant, unchanged, htmx):
    facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "What the group agreed."})
    with unchanged(participant):
        refused = participant.post("/i/1a/lock", htmx=htmx)
    assert refused.status_code == 403


@pytest.mark.parametrize("htmx", [False, True])
def test_participant_cannot_unlock(facilitator, participant, unchanged, htmx):
    lock(facilitator)
    with unchanged(participant):
        refused = participant.post("/i/1a/unlock", {"reason": "I disagree"}, htmx=htmx)
    assert refused.status_code == 403 and "Only the facilitator can do that." in text(refused)


def test_participant_sees_no_facilitator_controls(facilitator, participant):
    facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "What the group agreed."})
    page = text(participant.get("/i/1a"))
    assert "/agreed" not in page and "/lock" not in page and "Settings" not in page
    assert "/lock" in text(facilitator.get("/i/1a")) and "/agreed" in text(facilitator.get("/i/1a"))


def test_participant_cannot_open_or_change_settings(participant, unchanged):
    with unchanged(participant):
        assert participant.get("/settings").status_code == 403
        refused = participant.post("/settings", {"title": "Hijacked", "organisation": "X", "date": "2026-12-01",
                                                 "scope": ["3"]})
    assert refused.status_code == 403 and "Hijacked" not in text(participant.get("/"))


def test_participant_cannot_make_a_new_facilitator_link(app, facilitator, participant, unchanged):
    with unchanged(participant):
        refused = participant.post("/facilitator-link")
    assert refused.status_code == 403 and "/facilitator/" not in text(refused)
    assert app.test_client().get(facilitator.url(f"/facilitator/{facilitator.token}")).status_code == 303


@pytest.mark.parametrize("kind", ["evidence", "action"])
def test_participant_cannot_remove_someone_elses_item(app, facilitator, participant, unchanged, kind):
    facilitator.post(f"/i/1a/{kind}", ITEMS[kind])
    item = first_item(app, facilitator, kind)
    assert "Remove" not in text(participant.get("/i/1a")).split(f'id="{kind}-{item["id"]}"')[1].split("</li>")[0]
    with unchanged(participant):
        refused = participant.post(f"/i/1a/{kind}/{item['id']}/remove", htmx=True)
    assert refused.status_code == 403 and "Only its author or the facilitator" in text(refused)


@pytest.mark.parametrize("kind", ["evidence", "action"])
def test_facilitator_can_remove_a_participants_item(app, facilitator, participant, kind):
    participant.post(f"/i/1a/{kind}", ITEMS[kind])
    item = first_item(app, participant, kind)
    assert facilitator.post(f"/i/1a/{kind}/{item['id']}/remove").status_code == 303
    removed = [e for e in workshop_of(app, facilitator).audit() if e.type == f"{kind}_removed"]
    assert removed[0].actor_name == "Fay Facilitator" and removed[0].data["removed"]["author_name"] == "Pat Participant"


def test_participant_can_edit_someone_elses_item(app, facilitator, participant):
    facilitator.post("/i/1a/evidence", ITEMS["evidence"])
    item = first_item(app, facilitator, "evidence")
    edited = participant.post(f"/i/1a/evidence/{item['id']}", {"text": "Board minutes", "source": "", "rev": "1"})
    assert edited.status_code == 303 and first_item(app, facilitator, "evidence")["edited_by"] == "Pat Participant"


def test_participant_vote_is_their_own(app, facilitator, participant):
    facilitator.post("/i/1a/vote", {"value": "5"})
    participant.post("/i/1a/vote", {"value": "1", "participant": "anyone"})
    votes = workshop_of(app, facilitator).worksheet("1a")["rounds"][-1]["votes"]
    assert sorted((v["name"], v["value"]) for v in votes.values()) == [("Fay Facilitator", 5), ("Pat Participant", 1)]


def test_joining_someone_elses_session_does_not_give_rights_here(app, facilitator, join):
    other = app.test_client()
    other_id = other.post("/sessions", data={"title": "Other", "organisation": "O", "date": "2026-12-01",
                                             "scope": ["1"], "name": "Olly", "perspective": "staff"}
                          ).headers["Location"].split("/")[2]
    # Olly facilitates his own session, but is a stranger in Fay's.
    assert other.get(f"/s/{other_id}/settings").status_code == 200
    assert other.post(facilitator.url("/i/1a/agreed"), data={"agreed": "3", "rationale": "What the group agreed."}).status_code == 403
    assert other.get(facilitator.url("/settings")).status_code == 302


# --- a locked indicator is read-only for everyone ----------------------------------

WRITES = {
    "notes": lambda item: ("/i/1a/notes", {"notes": "Late thought", "base": ""}),
    "add evidence": lambda item: ("/i/1a/evidence", {"text": "Late evidence", "source": ""}),
    "edit evidence": lambda item: (f"/i/1a/evidence/{item['evidence']}", {"text": "Changed", "source": "",
                                                                           "rev": "1"}),
    "remove evidence": lambda item: (f"/i/1a/evidence/{item['evidence']}/remove", {}),
    "add action": lambda item: ("/i/1a/action", dict(ITEMS["action"], what="Late action")),
    "edit action": lambda item: (f"/i/1a/action/{item['action']}", dict(ITEMS["action"], what="Changed", rev="1")),
    "remove action": lambda item: (f"/i/1a/action/{item['action']}/remove", {}),
    "vote": lambda item: ("/i/1a/vote", {"value": "2"}),
    "clear vote": lambda item: ("/i/1a/vote", {"value": ""}),
    "agreed rating": lambda item: ("/i/1a/agreed", {"agreed": "5", "rationale": "What the group agreed."}),
}


@pytest.fixture
def locked(app, facilitator, participant):
    """Indicator 1a with notes, a vote, evidence and an action, then locked; the ids of its items."""
    participant.post("/i/1a/notes", {"notes": "Agreed wording", "base": ""})
    participant.post("/i/1a/vote", {"value": "3"})
    facilitator.post("/i/1a/vote", {"value": "3"})
    for kind in ITEMS:
        participant.post(f"/i/1a/{kind}", ITEMS[kind])
    lock(facilitator)
    return {kind: first_item(app, participant, kind)["id"] for kind in ITEMS}


@pytest.mark.parametrize("role", ["facilitator", "participant"])
@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("htmx", [False, True])
def test_locked_indicator_refuses_every_write_from_everyone(request, locked, unchanged, role, write, htmx):
    person = request.getfixturevalue(role)
    path, data = WRITES[write](locked)
    with unchanged(person):
        refused = person.post(path, data, htmx=htmx)
    assert refused.status_code == 403, write
    assert "agreed and locked" in text(refused) or (write == "agreed rating" and role == "participant")


def test_locking_a_locked_indicator_again_changes_nothing(facilitator, locked, unchanged):
    with unchanged(facilitator):
        assert facilitator.post("/i/1a/lock").status_code == 409


@pytest.mark.parametrize("role", ["facilitator", "participant"])
def test_locked_indicator_page_is_read_only(request, locked, role):
    page = text(request.getfixturevalue(role).get("/i/1a"))
    assert "Agreed wording" in page and "Minutes" in page and "Survey carers" in page
    for control in ("Save notes", "Add evidence", "Add an action", "Save my rating", "Set agreed rating",
                    "/remove", "/edit"):
        assert control not in page, control
    assert ("Unlock" in page) == (role == "facilitator")


def test_notes_refused_because_the_indicator_was_locked_meanwhile_are_shown_back(facilitator, participant, locked):
    typed = "My last point, written while the facilitator locked it"
    refused = participant.post("/i/1a/notes", {"notes": typed, "base": "Agreed wording"}, htmx=True)
    body = text(refused)
    assert refused.status_code == 403 and "Your notes were not saved" in body
    assert f">{typed}</textarea>" in body and "readonly" in body


@pytest.mark.parametrize("kind, field", [("evidence", "text"), ("action", "what")])
def test_items_refused_because_the_indicator_was_locked_meanwhile_are_shown_back(participant, locked, kind, field):
    typed = "Typed just as the lock landed"
    added = participant.post(f"/i/1a/{kind}", dict(ITEMS[kind], **{field: typed}), htmx=True)
    assert added.status_code == 403 and f">{typed}</textarea>" in text(added) and "was not saved" in text(added)
    edited = participant.post(f"/i/1a/{kind}/{locked[kind]}", dict(ITEMS[kind], rev="1", **{field: typed + "!"}),
                              htmx=True)
    assert edited.status_code == 403 and f">{typed}!</textarea>" in text(edited)
    assert "Save evidence" not in text(edited) and "Save action" not in text(edited)


def test_unlocked_indicator_takes_writes_again(app, facilitator, participant, locked):
    facilitator.post("/i/1a/unlock", {"reason": "Carers' forum raised new evidence"})
    assert participant.post("/i/1a/notes", {"notes": "Agreed wording\nMore", "base": "Agreed wording"}
                            ).status_code == 303
    assert workshop_of(app, participant).worksheet("1a")["notes"] == "Agreed wording\nMore"


# --- someone who has not joined ---------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/i/1a", "/i/1a?block=notes", "/share", "/record", "/settings",
                                  "/i/1a/evidence/abc/edit"])
def test_someone_not_joined_is_sent_to_join_when_opening_a_page(app, facilitator, path):
    stranger = app.test_client()
    sent = stranger.get(facilitator.url(path))
    assert sent.status_code == 302 and sent.headers["Location"] == f"/join/{facilitator.code}"


@pytest.mark.parametrize("path, data", [
    ("/i/1a/notes", {"notes": "x", "base": ""}), ("/i/1a/evidence", ITEMS["evidence"]),
    ("/i/1a/action", ITEMS["action"]), ("/i/1a/vote", {"value": "2"}), ("/i/1a/agreed", {"agreed": "2", "rationale": "What the group agreed."}),
    ("/i/1a/lock", {}), ("/i/1a/unlock", {"reason": "x"}), ("/settings", {"title": "x"}),
    ("/facilitator-link", {}), ("/i/1a/evidence/ITEM", {"text": "x", "source": "", "rev": "1"}),
    ("/i/1a/evidence/ITEM/remove", {}),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_someone_not_joined_cannot_change_anything(app, facilitator, unchanged, path, data, htmx):
    facilitator.post("/i/1a/evidence", ITEMS["evidence"])
    path = path.replace("ITEM", first_item(app, facilitator, "evidence")["id"])
    stranger = app.test_client()
    with unchanged(facilitator):
        refused = stranger.post(facilitator.url(path), data=data, headers={"HX-Request": "true"} if htmx else {})
    assert refused.status_code == 403


def test_not_joined_someone_cannot_download_the_record(app, facilitator):
    assert app.test_client().get(facilitator.url("/record")).status_code == 302
