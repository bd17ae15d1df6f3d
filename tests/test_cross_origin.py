"""No other origin can act as the user: writes from another site, another port or a
sandboxed frame are refused; a replaced facilitator link signs the old browsers out."""

from __future__ import annotations

import pytest
from flask_socketio import SocketIO

from conftest import SESSION_FORM
from ecsa import create_app
from ecsa.realtime import socketio

OWN = "http://localhost"  # the Flask test client's own origin


def text(response) -> str:
    """A response body as text."""
    return response.get_data(as_text=True)


def registry(app):
    """The app's session registry."""
    return app.extensions["ecsa"]


def evidence_on_1a(app, person) -> list[str]:
    """What evidence indicator 1a holds."""
    return [item["text"] for item in registry(app).get(person.session_id).worksheet("1a")["evidence"]]


FOREIGN = [
    {"Origin": "http://localhost:8081"},           # another port of the same host
    {"Origin": "http://evil.example"},             # another site
    {"Origin": "http://sub.localhost"},            # a sibling subdomain behind a proxy
    {"Origin": "null"},                            # a sandboxed frame or a file:// page
    {"Referer": "http://evil.example/form.html"},  # an older browser that sends only Referer
]


@pytest.mark.parametrize("headers", FOREIGN)
def test_a_form_posted_from_another_origin_changes_nothing(app, participant, headers):
    answer = participant.client.post(participant.url("/i/1a/evidence"), data={"text": "Forged", "source": ""},
                                     headers=headers)
    assert answer.status_code == 403 and "not part of this workshop" in text(answer)
    assert evidence_on_1a(app, participant) == []


@pytest.mark.parametrize("headers", FOREIGN)
def test_settings_cannot_be_changed_from_another_origin(app, facilitator, headers):
    form = dict(SESSION_FORM, title="Renamed by a stranger")
    answer = facilitator.client.post(facilitator.url("/settings"), data=form, headers=headers)
    assert answer.status_code == 403
    assert registry(app).get(facilitator.session_id).details["title"] == SESSION_FORM["title"]


@pytest.mark.parametrize("headers", [{"Origin": OWN}, {"Referer": OWN + "/s/x/i/1a"}, {}])
def test_our_own_pages_and_non_browsers_may_write(app, participant, headers):
    answer = participant.client.post(participant.url("/i/1a/evidence"), data={"text": "Ours", "source": ""},
                                     headers=headers)
    assert answer.status_code == 303
    assert evidence_on_1a(app, participant) == ["Ours"]


def test_the_public_url_and_listed_origins_may_write(tmp_path):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"),
                      "PUBLIC_URL": "https://ecsa.example.nhs.uk/", "ALLOWED_ORIGINS_LIST": "https://other.nhs.uk"})
    for origin in ("https://ecsa.example.nhs.uk", "https://other.nhs.uk", "HTTPS://OTHER.NHS.UK"):
        answer = app.test_client().post("/sessions", data=SESSION_FORM, headers={"Origin": origin})
        assert answer.status_code == 303, origin
    assert app.test_client().post("/sessions", data=SESSION_FORM,
                                  headers={"Origin": "https://ecsa.example.nhs.uk.evil"}).status_code == 403


def test_a_cross_site_join_cannot_replace_the_facilitators_cookie(app, facilitator):
    """An auto-submitted form joining the attacker's session used to replace the victim's
    cookie: the facilitator lost their own session."""
    attacker = app.test_client().post("/sessions", data=SESSION_FORM)
    code = registry(app).get(attacker.headers["Location"].split("/")[2]).details["join_code"]
    forged = facilitator.client.post(f"/join/{code}", data={"name": "Victim", "perspective": "staff"},
                                     headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403
    assert facilitator.get("/settings").status_code == 200
    forged = facilitator.client.post("/sessions", data=SESSION_FORM, headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403 and facilitator.get("/settings").status_code == 200


def test_a_browser_can_facilitate_one_session_and_take_part_in_another(app, facilitator):
    other = app.test_client().post("/sessions", data=dict(SESSION_FORM, title="Another"))
    other_id = other.headers["Location"].split("/")[2]
    code = registry(app).get(other_id).details["join_code"]
    assert facilitator.client.post(f"/join/{code}", data={"name": "Fay", "perspective": "staff"}).status_code == 303
    assert facilitator.get("/settings").status_code == 200                   # still facilitator here
    assert facilitator.client.get(f"/s/{other_id}/").status_code == 200        # a participant there
    assert facilitator.client.get(f"/s/{other_id}/settings").status_code == 403


def test_the_facilitator_joining_their_own_session_keeps_their_role(app, facilitator):
    answer = facilitator.client.post(f"/join/{facilitator.code}", data={"name": "Fay again", "perspective": "staff"})
    assert answer.status_code == 303
    assert facilitator.get("/settings").status_code == 200
    assert len(registry(app).get(facilitator.session_id).participants()) == 1


def test_replacing_the_facilitator_link_signs_out_the_browsers_that_used_the_old_one(app, facilitator):
    laptop = app.test_client()  # the old link, opened on another device
    assert laptop.get(facilitator.url(f"/facilitator/{facilitator.token}")).status_code == 303
    assert laptop.post(facilitator.url("/i/1a/agreed"), data={"agreed": "3", "rationale": "What the group agreed."}).status_code == 303
    assert facilitator.post("/facilitator-link").status_code == 303
    refused = laptop.post(facilitator.url("/i/1a/agreed"), data={"agreed": "1", "rationale": "What the group agreed."})
    assert refused.status_code == 403
    assert registry(app).get(facilitator.session_id).worksheet("1a")["agreed_rating"]["value"] == 3
    assert laptop.get(facilitator.url("/settings")).status_code == 302  # to the join form
    assert facilitator.get("/settings").status_code == 200  # the browser that replaced it stays in


def test_a_replaced_link_closes_the_old_browsers_live_connection(app, facilitator):
    laptop = app.test_client()
    laptop.get(facilitator.url(f"/facilitator/{facilitator.token}"))
    old = socketio.test_client(app, flask_test_client=laptop, auth={"session": facilitator.session_id})
    mine = socketio.test_client(app, flask_test_client=facilitator.client, auth={"session": facilitator.session_id})
    assert old.is_connected() and mine.is_connected()
    assert facilitator.post("/facilitator-link").status_code == 303
    assert not old.is_connected() and not mine.is_connected()  # both came with the old link
    # The pages connect again (live.js does so when the server closes the socket): the browser
    # that replaced the link holds its new generation, the other is refused.
    mine = socketio.test_client(app, flask_test_client=facilitator.client, auth={"session": facilitator.session_id})
    assert mine.is_connected() and mine.emit("follow", {"on": True}, callback=True) == {"ok": True}
    again = socketio.test_client(app, flask_test_client=laptop, auth={"session": facilitator.session_id})
    assert not again.is_connected()


@pytest.mark.parametrize("rev", ["²", "1" * 4400, "-1", "1.0", " 1", "", "١"])
def test_a_damaged_revision_on_an_edit_is_a_clear_422(app, participant, rev):
    participant.post("/i/1a/evidence", {"text": "Survey", "source": ""})
    item = registry(app).get(participant.session_id).worksheet("1a")["evidence"][0]
    for htmx in (False, True):
        answer = participant.post(f"/i/1a/evidence/{item['id']}", {"rev": rev, "text": "Edited", "source": ""},
                                  htmx=htmx)
        assert answer.status_code == 422 and "could not be read" in text(answer)
        assert "Edited" in text(answer)  # what was typed is kept
    assert evidence_on_1a(app, participant) == ["Survey"]


def test_a_client_event_named_disconnect_does_not_hide_it_from_the_room(app, facilitator, participant):
    pat = socketio.test_client(app, flask_test_client=participant.client, auth={"session": participant.session_id})
    fay = socketio.test_client(app, flask_test_client=facilitator.client, auth={"session": facilitator.session_id})
    pat.emit("disconnect", "transport close")
    pat.emit("connect", {"session": "nonsense"})
    room = registry(app).get(participant.session_id).room
    assert len(room.connections) == 2
    assert pat.is_connected() and pat.emit("where", {"indicator": "1a"}, callback=True) == {"ok": True}
    fay.disconnect()
    pat.disconnect()
    assert room.connections == {}
