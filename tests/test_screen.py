"""The room screen: a read-only view for the projector that only the facilitator can open,
that follows the facilitator, shows what a participant sees and takes no seat."""

from __future__ import annotations

import hashlib
import json
import logging
import re

import pycrdt
import pytest

from conftest import SESSION_FORM, Person
from ecsa.realtime import socketio
from ecsa.views import RedactTokens

LEVEL_LABELS = ("Not started", "Emerging", "Developing", "Established", "Embedded")
TOKEN = re.compile(r"/screen/([A-Za-z0-9_-]{20,})")


def make_link(person: Person, show: str = "here"):
    """Press one of the share page's room screen buttons."""
    return person.post("/screen", {"show": show})


def screen_link(facilitator: Person) -> str:
    """A room screen link made to copy to another screen (its path)."""
    page = make_link(facilitator, "link")
    assert page.status_code == 200
    return "/s/" + re.search(r'value="http://localhost/s/([^"]+)"', page.get_data(as_text=True))[1]


@pytest.fixture
def projector(app, facilitator) -> Person:
    """Another computer (the projector's) that opened a room screen link."""
    client = app.test_client()
    opened = client.get(screen_link(facilitator))
    assert opened.status_code == 303 and opened.headers["Location"] == facilitator.url("/screen")
    return Person(client, facilitator.session_id, facilitator.code)


def screen_html(person: Person, block: bool = False) -> str:
    """The room screen as this browser gets it (the whole page, or its main block)."""
    answer = person.get("/screen?block=main" if block else "/screen")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


def connect_screen(app, person: Person):
    """The room screen's live connection (static/js/screen.js)."""
    return socketio.test_client(app, flask_test_client=person.client,
                                auth={"session": person.session_id, "screen": True})


def connect_page(app, person: Person):
    """A person's ordinary page connecting (static/js/live.js)."""
    return socketio.test_client(app, flask_test_client=person.client, auth={"session": person.session_id})


def workshop_of(app, person: Person):
    """The session as the server holds it."""
    return app.extensions["ecsa"].get(person.session_id)


# ---- the link ----------------------------------------------------------------------------

def test_only_the_facilitator_can_make_a_room_screen_link(app, facilitator, participant):
    assert make_link(participant).status_code == 403
    assert make_link(participant, "link").status_code == 403
    outsider = Person(app.test_client(), facilitator.session_id, facilitator.code)
    assert make_link(outsider).status_code == 403
    assert workshop_of(app, facilitator).screen_generation() is None


def test_open_the_room_screen_takes_the_facilitator_there_with_the_token_out_of_the_address(facilitator):
    made = make_link(facilitator)
    assert made.status_code == 303 and TOKEN.search(made.headers["Location"])
    opened = facilitator.client.get(made.headers["Location"])
    assert opened.status_code == 303 and opened.headers["Location"] == facilitator.url("/screen")
    assert "Indicator 1a" in screen_html(facilitator)


def test_the_room_screen_token_is_kept_only_as_its_hash(app, facilitator):
    token = TOKEN.search(make_link(facilitator).headers["Location"])[1]
    with open(workshop_of(app, facilitator).file.path, encoding="utf-8") as stored:
        raw = stored.read()
    assert token not in raw
    assert json.loads(raw)["secrets"]["1"]["screen_token_sha256"] == hashlib.sha256(token.encode()).hexdigest()


def test_a_participant_never_gets_a_room_screen_link(facilitator, participant):
    token = TOKEN.search(screen_link(facilitator))[1]
    for path in ("/share", "/", "/i/1a", "/screen/" + token):
        answer = participant.get(path)
        assert token not in answer.get_data(as_text=True) + answer.headers.get("Location", "")
    share = participant.get("/share").get_data(as_text=True)
    assert "Open the room screen" not in share and "Room screen" not in share


def test_a_link_made_to_copy_is_shown_to_the_facilitator_once(facilitator):
    link = screen_link(facilitator)
    assert TOKEN.search(link)
    assert link not in facilitator.get("/share").get_data(as_text=True)


def test_the_room_screen_link_works_on_another_computer(projector):
    page = screen_html(projector)
    assert "Indicator 1a" in page and 'id="live"' not in page  # no participant's live layer
    assert "Join this session" in page and 'alt="QR code that opens the join link' in page


def test_a_wrong_room_screen_token_is_a_404(app, facilitator):
    make_link(facilitator)
    stranger = app.test_client()
    answer = stranger.get(facilitator.url("/screen/" + "x" * 43))
    assert answer.status_code == 404 and "not valid" in answer.get_data(as_text=True)
    assert stranger.get(facilitator.url("/screen")).status_code == 403


def test_the_screen_refuses_participants_and_strangers(app, facilitator, participant):
    make_link(facilitator)
    stranger = Person(app.test_client(), facilitator.session_id, facilitator.code)
    for person in (participant, stranger):
        for path in ("/screen", "/screen?block=main"):
            answer = person.get(path)
            assert answer.status_code == 403
            assert "only by the facilitator" in answer.get_data(as_text=True)


def test_a_screen_of_one_session_cannot_watch_another(app, projector):
    other = app.test_client().post("/sessions", data=dict(SESSION_FORM, title="Another workshop"))
    other_id = other.headers["Location"].split("/")[2]
    assert projector.client.get(f"/s/{other_id}/screen").status_code == 403


def test_replacing_the_facilitator_link_leaves_screens_open(facilitator, projector):
    assert facilitator.post("/facilitator-link").status_code == 303
    assert "Indicator 1a" in screen_html(projector)


def test_room_screen_tokens_stay_out_of_the_request_log():
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" 303 -', ("GET /s/abc/screen/SeCrEt_tok-en HTTP/1.1",), None)
    RedactTokens().filter(record)
    assert "SeCrEt" not in record.getMessage() and "/screen/[redacted]" in record.getMessage()


def test_the_facilitator_sees_a_room_screen_link_in_the_session_menu(facilitator, participant):
    assert facilitator.url("/screen") in facilitator.get("/").get_data(as_text=True)
    assert participant.url("/screen") not in participant.get("/").get_data(as_text=True)


# ---- what it shows ---------------------------------------------------------------------------

def test_the_screen_shows_the_indicator_the_facilitator_is_on(app, facilitator, projector):
    assert "this is the first one in scope" in screen_html(projector)
    page = connect_page(app, facilitator)
    assert page.emit("where", {"indicator": "2a"}, callback=True) == {"ok": True}
    shown = screen_html(projector, block=True)
    assert "Indicator 2a" in shown and "first one in scope" not in shown
    assert shown.lstrip().startswith('<div id="main"')  # the block alone
    page.emit("where", {"indicator": None}, callback=True)  # back to the overview
    stays = projector.get("/screen?block=main&showing=2a").get_data(as_text=True)
    assert "Indicator 2a" in stays and "they were last on" in stays


def test_the_screen_follows_follow_me(app, facilitator, projector):
    page = connect_page(app, facilitator)
    page.emit("where", {"indicator": "1b"}, callback=True)
    page.emit("follow", {"on": True, "indicator": "1b"}, callback=True)
    page.emit("where", {"indicator": "2b"}, callback=True)
    assert "Indicator 2b" in screen_html(projector, block=True)


def test_before_the_reveal_the_screen_shows_who_rated_and_never_a_value(app, facilitator, join, projector):
    pat, sam = join("Pat Participant"), join("Sam Staff", "staff")
    assert pat.post("/i/1a/vote", {"value": "4"}).status_code == 303
    assert sam.post("/i/1a/vote", {"value": "2"}).status_code == 303
    for html in (screen_html(projector), screen_html(projector, block=True), screen_html(facilitator)):
        assert "<strong>2 of 2</strong> have rated" in html and "Rated: Pat Participant, Sam Staff" in html
        assert not any(label in html for label in LEVEL_LABELS), "a rating's level shows before the reveal"
        assert 'class="nhsuk-table ecsa-distribution"' not in html


def test_after_the_reveal_the_screen_shows_the_distribution(app, facilitator, join, projector):
    pat, sam = join("Pat Participant"), join("Sam Staff", "staff")
    pat.post("/i/1a/vote", {"value": "4"})
    sam.post("/i/1a/vote", {"value": "2"})
    assert facilitator.post("/i/1a/reveal").status_code == 303
    html = screen_html(projector, block=True)
    assert 'data-revealed="1"' in html and 'id="screen-round-1"' in html
    assert re.search(r"4 – Established</th>\s*<td[^>]*>1</td>.*?Pat Participant", html, re.S)
    assert re.search(r"2 – Emerging</th>\s*<td[^>]*>1</td>.*?Sam Staff", html, re.S)


def test_the_screen_shows_notes_as_they_are_typed(app, facilitator, projector):
    doc = pycrdt.Doc()
    text = doc.get("notes", type=pycrdt.Text)
    updates = []
    doc.observe(lambda event: updates.append(event.update))
    text.insert(0, "Carers <b>were</b> consulted")
    page = connect_page(app, facilitator)
    assert page.emit("notes_update", {"indicator": "1a", "update": updates[-1]}, callback=True) == {"ok": True}
    assert "Carers &lt;b&gt;were&lt;/b&gt; consulted" in screen_html(projector, block=True)


def test_the_screen_shows_a_running_timer(facilitator, projector):
    assert facilitator.post("/i/1a/timer", {"do": "start", "minutes": "5"}).status_code == 303
    html = screen_html(projector, block=True)
    assert 'data-timer-state="running"' in html and "Ends at" in html
    assert "Pause" not in html and "Add a minute" not in html  # the facilitator's controls stay off it


# ---- its live connection ---------------------------------------------------------------------

def test_a_screen_connects_with_its_cookie_and_hears_the_room(app, facilitator, participant, projector):
    screen = connect_screen(app, projector)
    assert screen.is_connected()
    screen.get_received()
    assert participant.post("/i/1a/vote", {"value": "3"}).status_code == 303
    changed = [m["args"][0] for m in screen.get_received() if m["name"] == "changed"]
    assert [(c["type"], c["indicator"]) for c in changed] == [("vote_cast", "1a")]
    assert "html" not in changed[0]  # told what changed; it fetches its own view


def test_a_screen_is_not_present_and_does_not_count_as_a_rater(app, facilitator, participant, projector):
    pages = connect_page(app, facilitator), connect_page(app, participant)
    screens = connect_screen(app, projector), connect_screen(app, facilitator)
    assert all(client.is_connected() for client in pages + screens)
    workshop = workshop_of(app, facilitator)
    assert len(workshop.present()) == 2 and "" not in workshop.present()
    participant.post("/i/1a/vote", {"value": "3"})
    assert "<strong>1 of 2</strong> has rated" in screen_html(projector, block=True)
    for screen in screens:
        screen.disconnect()
    assert len(workshop.present()) == 2


@pytest.mark.parametrize("name, data", [
    ("where", {"indicator": "1a"}), ("typing", {"indicator": "1a"}), ("follow", {"on": True, "indicator": "1a"}),
    ("notes_update", {"indicator": "1a", "update": "AAA="}), ("notes_sync", {"indicator": "1a", "state_vector": "AA=="}),
])
def test_a_screen_cannot_send_anything(app, facilitator, projector, name, data):
    screen = connect_screen(app, projector)
    ack = screen.emit(name, data, callback=True)
    assert ack["ok"] is False
    assert workshop_of(app, facilitator).room.following()["on"] is False


def test_a_screen_socket_without_the_cookie_is_refused(app, facilitator, participant):
    make_link(facilitator)
    assert not connect_screen(app, participant).is_connected()
    assert not socketio.test_client(app, auth={"session": facilitator.session_id, "screen": True}).is_connected()
    assert not connect_screen(app, Person(app.test_client(), "no-such-session", "")).is_connected()


def test_a_screen_keeps_the_session_open_while_it_watches(app, facilitator, projector):
    screen = connect_screen(app, projector)
    rooms = app.extensions["ecsa"].rooms
    rooms.close(facilitator.session_id)
    assert facilitator.session_id in rooms.open_ids()
    screen.disconnect()
    rooms.close(facilitator.session_id)
    assert facilitator.session_id not in rooms.open_ids()



def test_an_anonymous_sessions_screen_never_puts_a_name_beside_a_value(app, facilitator, join, projector):
    assert facilitator.post("/settings", dict(SESSION_FORM, anonymous_offered="yes", anonymous="yes")).status_code == 303
    join("Pat Participant").post("/i/1a/vote", {"value": "4"})
    join("Sam Staff", "staff").post("/i/1a/vote", {"value": "2"})
    assert facilitator.post("/i/1a/vote", {"value": "2"}).status_code == 303  # an anonymous reveal needs three
    assert facilitator.post("/i/1a/reveal").status_code == 303
    revealed = screen_html(projector, block=True)
    table = revealed[revealed.index('id="screen-round-1"'):revealed.index("</table>")]
    assert "4 – Established" in table and "2 – Emerging" in table
    assert not any(name in table for name in ("Pat Participant", "Sam Staff", "Fay Facilitator"))
