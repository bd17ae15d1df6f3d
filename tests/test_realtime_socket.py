"""The live layer through Socket.IO: who may connect, who hears what, notes, presence, follow-me.

Most tests use Flask-SocketIO's test client, which shares a person's browser cookie. It
builds a WSGI environ from the headers it is given but hands it straight to the Socket.IO
server, skipping Engine.IO's HTTP handling, where the Origin check and the message size
limit live. Those are tested through real Engine.IO polling requests made with the Flask
test client instead (and the origin check also as a callable on an environ dict).
"""

from __future__ import annotations

import base64

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pycrdt
import pytest
from markupsafe import escape

from conftest import SESSION_FORM, Person
from ecsa import create_app
from ecsa.realtime import MAX_MESSAGE_BYTES, _origin_check, allowed_origin, broadcast, handlers, socketio
from ecsa.realtime.broadcast import PRESENCE_GAP
from ecsa.rooms import BURST, Room

INDICATOR, OTHER_INDICATOR, OUT_OF_SCOPE = "1a", "2a", "19a"  # the session covers sections 1 and 2
POLLING = "/socket.io/?EIO=4&transport=polling"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- helpers ---------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def folds_only_when_asked(monkeypatch):
    """Live notes are folded into TinyDB 2 s after typing, in a thread; here only when a
    test asks (it calls fold_notes, or re-enables the timer), so file bytes stay still."""
    scheduled = []
    monkeypatch.setattr(handlers, "schedule_fold", lambda workshop: scheduled.append(workshop.id))
    return scheduled


def connect(app, person: Person, session_id: str | None = None):
    """A page of this person's browser opening its live connection to a session."""
    return socketio.test_client(app, flask_test_client=person.client,
                                auth={"session": session_id or person.session_id})


def received(client) -> dict[str, list]:
    """What a page has received since last asked, by event name (each message's payload)."""
    by_name: dict[str, list] = {}
    for message in client.get_received():
        by_name.setdefault(message["name"], []).append(message["args"][0] if message["args"] else None)
    return by_name


def drain(*clients) -> None:
    """Forget what these pages received so far (connect-time presence and follow)."""
    for client in clients:
        client.get_received()


def settle(app, *clients) -> None:
    """Let presence lists still due (they come at most every PRESENCE_GAP) arrive, then drain."""
    rooms = app.extensions["ecsa"].rooms
    deadline = time.monotonic() + 3
    while any(rooms.open(sid).presence_due for sid in rooms.open_ids()) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # the last one is rendered and sent just after it stops being due
    drain(*clients)


def presence_where(client, expected, seconds: float = 3.0) -> str:
    """The first presence list this page receives for which expected(html) holds."""
    deadline, last = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        for message in received(client).get("presence", []):
            last = message["html"]
            if expected(last):
                return last
        time.sleep(0.01)
    raise AssertionError(f"no presence list as expected arrived; the last was:\n{last}")


class NotesPage:
    """A page's notes editor: a Yjs document, as the browser's notes.js keeps one."""

    def __init__(self):
        self.doc = pycrdt.Doc()
        self.text = self.doc.get("notes", type=pycrdt.Text)
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))

    def type(self, index: int, words: str) -> bytes:
        """Type words at index; returns the update to send."""
        self.text.insert(index, words)
        return self.updates[-1]

    def append(self, words: str) -> bytes:
        """Type words at the end."""
        return self.type(len(str(self.text)), words)

    def apply(self, update: str) -> None:
        """Merge an update received from the server (Yjs bytes as base64 text)."""
        self.doc.apply_update(base64.b64decode(update))

    def __str__(self) -> str:
        return str(self.text)


def send_notes(client, update: bytes, indicator: str = INDICATOR):
    """Send one notes update and return the server's acknowledgement."""
    return client.emit("notes_update", {"indicator": indicator, "update": update}, callback=True)


def sync_notes(client, page: NotesPage, indicator: str = INDICATOR) -> dict:
    """Ask for what the page lacks, merge it in, and return the acknowledgement."""
    ack = client.emit("notes_sync", {"indicator": indicator, "state_vector": page.doc.get_state()}, callback=True)
    if ack.get("ok"):
        page.apply(ack["update"])
    return ack


def workshop_of(app, person: Person):
    """The session as the server holds it."""
    return app.extensions["ecsa"].get(person.session_id)


def file_bytes(app, person: Person) -> bytes:
    """The session's TinyDB file exactly as it is on disk."""
    with open(workshop_of(app, person).file.path, "rb") as stored:
        return stored.read()


def stored_worksheet(app, person: Person, indicator: str = INDICATOR) -> dict:
    """An indicator's worksheet as written in the TinyDB file (not the live notes)."""
    tables = json.loads(file_bytes(app, person))
    return next((ws for ws in tables.get("worksheets", {}).values() if ws["indicator"] == indicator), {})


def notes_log(app, person: Person) -> bytes:
    """The session's durable log of notes updates not yet folded into TinyDB."""
    path = os.path.join(os.path.dirname(workshop_of(app, person).file.path), f"{person.session_id}.notes.log")
    if not os.path.exists(path):
        return b""
    with open(path, "rb") as log:
        return log.read()


@pytest.fixture
def stranger(app) -> Person:
    """A facilitator of another session on the same server."""
    client = app.test_client()
    created = client.post("/sessions", data=dict(SESSION_FORM, title="Another trust's workshop", name="Olu Other"))
    session_id = created.headers["Location"].split("/")[2]
    return Person(client, session_id, app.extensions["ecsa"].get(session_id).details["join_code"])


def lock(facilitator: Person, indicator: str = INDICATOR) -> None:
    """The facilitator agrees a rating and locks the indicator (over HTTP, as the page does)."""
    assert facilitator.post(f"/i/{indicator}/agreed", {"agreed": "3", "rationale": "What the group agreed."}).status_code == 303
    assert facilitator.post(f"/i/{indicator}/lock").status_code == 303


# ---- who may connect -----------------------------------------------------------------------

def test_a_browser_that_has_not_joined_cannot_connect(app, facilitator):
    here = connect(app, facilitator)
    drain(here)
    outsider = socketio.test_client(app, flask_test_client=app.test_client(), auth={"session": facilitator.session_id})
    assert not outsider.is_connected()
    assert received(here) == {}  # nobody new appears in the room


def test_a_socket_without_the_cookie_or_without_naming_its_session_is_refused(app, facilitator):
    assert not socketio.test_client(app, auth={"session": facilitator.session_id}).is_connected()
    assert not socketio.test_client(app, flask_test_client=facilitator.client).is_connected()


def test_someone_joined_to_another_session_cannot_connect_to_this_one(app, facilitator, stranger):
    assert not connect(app, stranger, facilitator.session_id).is_connected()
    assert connect(app, stranger).is_connected()
    assert app.extensions["ecsa"].get(facilitator.session_id).room.people() == {}


def test_an_unknown_session_id_is_refused(app, facilitator):
    assert not connect(app, facilitator, "no-such-session").is_connected()
    assert not socketio.test_client(app, flask_test_client=facilitator.client,
                                    auth={"session": ["not", "a", "string"]}).is_connected()


def test_a_joined_browser_connects_to_its_own_session(app, facilitator, participant):
    page = connect(app, participant)
    assert page.is_connected()
    assert "follow" in received(page)
    presence_where(page, lambda html: "Pat Participant" in html)


def test_the_socket_handlers_serve_every_app_in_the_process(tmp_path):
    # Each app gets a new Socket.IO server that must carry the handlers (and so refuse
    # strangers). A fresh interpreter: this module's own import of the handlers hides the order.
    script = textwrap.dedent(f"""
        from ecsa import create_app
        from ecsa.realtime import socketio
        for name in ("first", "second"):
            app = create_app({{"TESTING": True, "DATA_DIR": r"{tmp_path}/" + name}})
        print(socketio.test_client(app, auth={{"session": "anything"}}).is_connected())
    """)
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert ran.stdout.strip() == "False", ran.stderr


def test_a_handshake_from_another_site_is_refused(app):
    refused = app.test_client().get(POLLING, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 400
    assert b"Not an accepted origin" in refused.data


@pytest.mark.parametrize("origin", ["http://localhost.evil.example", "https://localhost", "null", "*"])
def test_look_alike_origins_are_refused(app, origin):
    assert app.test_client().get(POLLING, headers={"Origin": origin}).status_code == 400


def test_a_same_origin_handshake_is_accepted(app):
    opened = app.test_client().get(POLLING, headers={"Origin": "http://localhost"})
    assert opened.status_code == 200 and opened.data.startswith(b"0{")
    assert opened.headers.get("Access-Control-Allow-Origin") == "http://localhost"


def test_the_public_url_origin_is_accepted_behind_a_proxy(tmp_path):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"),
                      "PUBLIC_URL": "https://ecsa.example.nhs.uk/workshops/"})
    browser = app.test_client()
    assert browser.get(POLLING, headers={"Origin": "https://ecsa.example.nhs.uk"}).status_code == 200
    assert browser.get(POLLING, headers={"Origin": "https://example.nhs.uk"}).status_code == 400


def test_the_origin_check_never_allows_every_origin(app):
    check = socketio.server.eio.cors_allowed_origins
    assert callable(check) and check not in ("*", ["*"])
    environ = {"wsgi.url_scheme": "https", "HTTP_HOST": "ecsa.example.org"}
    assert _origin_check(app)("https://ecsa.example.org", environ)
    assert not _origin_check(app)("*", environ)
    assert not _origin_check(app)("https://evil.example", environ)
    with app.app_context():
        assert allowed_origin(None, environ)  # not a browser: the cookie is still demanded at connect
        assert not allowed_origin("http://ecsa.example.org", environ)  # the scheme counts too


# ---- who hears what -------------------------------------------------------------------------

@pytest.fixture
def rooms(app, facilitator, participant, stranger):
    """Three pages: the facilitator and a participant in one session, a stranger in another."""
    pages = connect(app, facilitator), connect(app, participant), connect(app, stranger)
    settle(app, *pages)
    return pages


def test_a_change_reaches_everyone_in_the_session_and_no_one_else(rooms, participant):
    here, sender, elsewhere = rooms
    assert participant.post(f"/i/{INDICATOR}/evidence", {"text": "Board minutes, May", "source": ""}).status_code == 303
    for page in (here, sender):
        (changed,) = received(page)["changed"]
        assert changed["type"] == "evidence_added" and changed["indicator"] == INDICATOR
        assert changed["blocks"] == ["evidence_list", "status"] and changed["notes"] is False
        assert changed["message"] == f"Pat Participant added evidence to {INDICATOR}"
    assert received(elsewhere) == {}


def test_a_vote_tells_the_session_which_blocks_to_refresh(rooms, participant):
    here, sender, elsewhere = rooms
    assert participant.post(f"/i/{OTHER_INDICATOR}/vote", {"value": "4"}).status_code == 303
    (changed,) = received(here)["changed"]
    assert (changed["indicator"], changed["blocks"]) == (OTHER_INDICATOR, ["ratings_summary", "status"])
    assert received(sender)["changed"] == [changed]
    assert received(elsewhere) == {}


def test_typed_notes_reach_the_others_in_the_session_but_not_the_typist_or_other_sessions(rooms):
    here, typist, elsewhere = rooms
    update = NotesPage().type(0, "Carers were consulted.")
    assert send_notes(typist, update) == {"ok": True}
    assert received(here) == {"notes_update": [{"indicator": INDICATOR, "update": base64.b64encode(update).decode()}]}
    assert received(typist) == {}
    assert received(elsewhere) == {}


# ---- what a socket may not do ---------------------------------------------------------------

def test_a_participant_cannot_turn_on_follow_me(app, rooms, facilitator):
    here, participant_page, _ = rooms
    ack = participant_page.emit("follow", {"on": True, "indicator": INDICATOR}, callback=True)
    assert ack["ok"] is False and "facilitator" in ack["error"]
    assert app.extensions["ecsa"].get(facilitator.session_id).room.following()["on"] is False
    assert "follow" not in received(here)


@pytest.mark.parametrize("name", ["lock", "unlock", "indicator_locked", "indicator_unlocked", "agreed",
                                  "agreed_rating_set", "set_agreed", "vote", "change"])
def test_there_is_no_socket_path_to_lock_or_rate(app, facilitator, participant, name):
    # Even the facilitator's socket: locks and agreed ratings are HTTP forms with their own checks.
    pages = connect(app, facilitator), connect(app, participant)
    before, audit = file_bytes(app, facilitator), len(workshop_of(app, facilitator).audit())
    for page in pages:
        assert page.emit(name, {"indicator": INDICATOR, "value": 5, "agreed": 5, "reason": "x"}, callback=True) is None
    assert file_bytes(app, facilitator) == before
    assert len(workshop_of(app, facilitator).audit()) == audit
    assert workshop_of(app, facilitator).worksheet(INDICATOR)["lock"] is None


def test_notes_for_a_locked_indicator_are_refused_and_change_nothing(app, facilitator, participant):
    here, typist = connect(app, facilitator), connect(app, participant)
    page = NotesPage()
    assert send_notes(typist, page.type(0, "Agreed wording.")) == {"ok": True}
    lock(facilitator)
    drain(here, typist)
    before, log = file_bytes(app, facilitator), notes_log(app, facilitator)
    ack = send_notes(typist, page.append(" One more thought."))
    assert ack["ok"] is False and ack["locked"] is True and "locked" in ack["error"]
    assert workshop_of(app, facilitator).notes.text(INDICATOR) == "Agreed wording."
    assert stored_worksheet(app, facilitator)["notes"] == "Agreed wording."
    assert file_bytes(app, facilitator) == before
    assert notes_log(app, facilitator) == log
    assert received(here) == {}


def test_notes_sync_says_when_an_indicator_is_locked(app, facilitator, participant):
    lock(facilitator)
    assert sync_notes(connect(app, participant), NotesPage())["locked"] is True


@pytest.mark.parametrize("indicator", [OUT_OF_SCOPE, "99z", "", None, 7])
def test_notes_for_an_indicator_outside_the_session_are_refused(app, facilitator, participant, indicator):
    typist = connect(app, participant)
    before = file_bytes(app, facilitator)
    ack = send_notes(typist, NotesPage().type(0, "Somewhere else"), indicator=indicator)
    assert ack["ok"] is False
    assert typist.emit("notes_sync", {"indicator": indicator, "state_vector": b"\x00"}, callback=True)["ok"] is False
    assert notes_log(app, facilitator) == b"" and file_bytes(app, facilitator) == before
    assert workshop_of(app, facilitator).notes.docs == {}


@pytest.mark.parametrize("update", [b"\x00\xffgarbage", b"not yjs at all", b"", "a string, not bytes", None, 42])
def test_garbage_notes_updates_are_refused(app, rooms, facilitator, update):
    here, typist, _ = rooms
    ack = send_notes(typist, update)
    assert ack["ok"] is False and ack["error"]
    assert notes_log(app, facilitator) == b""
    assert workshop_of(app, facilitator).notes.text(INDICATOR) == ""
    assert received(here) == {}


def test_a_garbage_state_vector_is_refused(rooms):
    _, page, _ = rooms
    ack = page.emit("notes_sync", {"indicator": INDICATOR, "state_vector": b"\xff\xff\xff"}, callback=True)
    assert ack == {"ok": False, "error": "The notes state could not be read."}


def test_an_update_that_writes_outside_the_notes_text_is_refused(app, rooms, facilitator):
    here, typist, _ = rooms
    smuggler = pycrdt.Doc()
    updates = []
    smuggler.observe(lambda event: updates.append(event.update))
    smuggler.get("hidden", type=pycrdt.Text).insert(0, "x" * 100_000)
    ack = send_notes(typist, updates[-1])
    assert ack["ok"] is False
    assert notes_log(app, facilitator) == b"" and received(here) == {}


def test_a_notes_message_over_256_kb_is_refused(app, rooms, facilitator):
    here, typist, _ = rooms
    before = file_bytes(app, facilitator)
    huge = NotesPage().type(0, "x" * (MAX_MESSAGE_BYTES + 1))
    assert len(huge) > MAX_MESSAGE_BYTES
    assert send_notes(typist, huge)["ok"] is False
    assert send_notes(typist, b"\x00" * (MAX_MESSAGE_BYTES + 1))["ok"] is False
    assert notes_log(app, facilitator) == b"" and file_bytes(app, facilitator) == before
    assert received(here) == {}


@pytest.mark.timeout(15)
def test_a_message_over_256_kb_on_the_wire_is_refused_without_changing_anything(app, facilitator, participant):
    # Real Engine.IO long-polling, as a browser without WebSocket uses it.
    browser = participant.client
    sid = json.loads(browser.get(POLLING).data[1:])["sid"]
    there = f"{POLLING}&sid={sid}"
    auth = json.dumps({"session": participant.session_id})
    assert browser.post(there, data=f"40{auth}", content_type="text/plain").status_code == 200
    assert wait_for(lambda: len(app.extensions["ecsa"].get(participant.session_id).room.connections) == 1)
    before = file_bytes(app, facilitator)
    update = "x" * MAX_MESSAGE_BYTES
    huge = "42" + json.dumps(["notes_update", {"indicator": INDICATOR, "update": update}])
    assert browser.post(there, data=huge, content_type="text/plain").status_code == 413
    assert file_bytes(app, facilitator) == before and notes_log(app, facilitator) == b""


@pytest.mark.timeout(15)
def test_an_oversized_post_from_a_stranger_does_not_tie_up_the_server(app):
    # No cookie is needed for an Engine.IO handshake, so this must not hang a server thread.
    browser = app.test_client()
    sid = json.loads(browser.get(POLLING).data[1:])["sid"]
    refused = browser.post(f"{POLLING}&sid={sid}", data="4" + "x" * (MAX_MESSAGE_BYTES + 1),
                           content_type="text/plain")
    assert refused.status_code == 413


def wait_for(condition, seconds: float = 3.0) -> bool:
    """Whether condition becomes true within seconds (for work done on server threads)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ---- notes ----------------------------------------------------------------------------------

def test_notes_sync_sends_what_the_page_lacks_and_the_servers_state(app, rooms, facilitator):
    _, typist, _ = rooms
    assert send_notes(typist, NotesPage().type(0, "We have a carers' strategy.")) == {"ok": True}
    newcomer = NotesPage()
    ack = sync_notes(rooms[0], newcomer)
    assert ack["ok"] is True and ack["locked"] is False
    assert str(newcomer) == "We have a carers' strategy."
    assert base64.b64decode(ack["state_vector"]) == workshop_of(app, facilitator).notes.state_vector(INDICATOR)
    assert base64.b64decode(ack["state_vector"]) == newcomer.doc.get_state()


def test_notes_sync_lets_a_page_send_what_the_server_lacks(app, rooms, facilitator):
    _, page_socket, _ = rooms
    page = NotesPage()
    page.type(0, "Typed while offline.")
    ack = sync_notes(page_socket, page)
    assert str(page) == "Typed while offline."  # nothing on the server to merge yet
    assert send_notes(page_socket, page.doc.get_update(base64.b64decode(ack["state_vector"]))) == {"ok": True}
    assert workshop_of(app, facilitator).notes.text(INDICATOR) == "Typed while offline."


def test_two_people_typing_at_once_end_with_the_same_notes(app, rooms, facilitator):
    first_socket, second_socket, _ = rooms
    first, second = NotesPage(), NotesPage()
    assert send_notes(first_socket, first.type(0, "Shared start. ")) == {"ok": True}
    second.apply(received(second_socket)["notes_update"][0]["update"])
    # Both type at the same moment, neither having seen the other's words.
    first_update, second_update = first.append("Fay's point."), second.type(0, "Pat's point. ")
    assert send_notes(first_socket, first_update) == {"ok": True}
    assert send_notes(second_socket, second_update) == {"ok": True}
    for page, socket_client in ((first, first_socket), (second, second_socket)):
        for message in received(socket_client).get("notes_update", []):
            page.apply(message["update"])
    server = workshop_of(app, facilitator).notes.text(INDICATOR)
    assert server == str(first) == str(second)
    assert "Fay's point." in server and "Pat's point. " in server and "Shared start. " in server


def test_folding_writes_typed_notes_into_the_record_with_who_edited(app, rooms, facilitator, participant):
    fay, pat, _ = rooms
    fay_page, pat_page = NotesPage(), NotesPage()
    send_notes(fay, fay_page.type(0, "Fay: leadership signed off. "))
    pat_page.apply(received(pat)["notes_update"][0]["update"])
    send_notes(pat, pat_page.append("Pat: carers not yet asked."))
    drain(fay, pat)
    assert stored_worksheet(app, facilitator) == {}  # only in the log so far
    assert notes_log(app, facilitator) != b""

    events = workshop_of(app, facilitator).fold_notes()

    text = "Fay: leadership signed off. Pat: carers not yet asked."
    ws = stored_worksheet(app, facilitator)
    assert ws["notes"] == text and ws["notes_crdt"] and ws["state"] == "in_discussion"
    people = {p["name"]: p["id"] for p in workshop_of(app, facilitator).participants()}
    edited = [e for e in workshop_of(app, facilitator).audit() if e.type == "notes_edited"]
    assert sorted(e.actor_id for e in edited) == sorted([people["Fay Facilitator"], people["Pat Participant"]])
    assert {e.actor_name for e in events} == {"Fay Facilitator", "Pat Participant"}
    assert all(e.indicator == INDICATOR and e.data == {"length": len(text)} for e in edited)
    assert notes_log(app, facilitator) == b""
    # Both authors are in the audit; the room is told of the fold once.
    assert [c["type"] for c in received(pat)["changed"]] == ["notes_edited"]


def test_a_fold_with_nothing_typed_changes_nothing(app, facilitator):
    before = file_bytes(app, facilitator)
    assert workshop_of(app, facilitator).fold_notes() == []
    assert file_bytes(app, facilitator) == before


def test_typed_notes_reach_the_record_soon_without_anyone_saving(app, monkeypatch, rooms, facilitator):
    monkeypatch.setattr(handlers, "schedule_fold", broadcast.schedule_fold)
    monkeypatch.setattr(broadcast, "FOLD_SECONDS", 0.05)
    _, typist, _ = rooms
    assert send_notes(typist, NotesPage().type(0, "Saved by itself.")) == {"ok": True}
    assert wait_for(lambda: stored_worksheet(app, facilitator).get("notes") == "Saved by itself.")
    assert wait_for(lambda: notes_log(app, facilitator) == b"")


def test_notes_saved_without_javascript_merge_into_the_live_notes(app, rooms, facilitator):
    _, pat, elsewhere = rooms
    page = NotesPage()
    assert send_notes(pat, page.type(0, "Hello")) == {"ok": True}
    # Fay's browser has no JavaScript: a plain form with the text she started from.
    saved = facilitator.post(f"/i/{INDICATOR}/notes", {"base": "Hello", "notes": "Hello, everyone"})
    assert saved.status_code == 303
    changed = [c for c in received(pat)["changed"] if c["type"] == "notes_saved"]
    assert changed and changed[0]["notes"] is True and changed[0]["indicator"] == INDICATOR
    assert changed[0]["blocks"] == ["status"]
    sync_notes(pat, page)
    assert str(page) == "Hello, everyone" == workshop_of(app, facilitator).notes.text(INDICATOR)
    assert stored_worksheet(app, facilitator)["notes"] == "Hello, everyone"
    assert received(elsewhere) == {}


def test_a_form_save_and_live_typing_at_once_keep_both(app, rooms, facilitator):
    _, pat, _ = rooms
    page = NotesPage()
    send_notes(pat, page.type(0, "Hello"))
    unsent = page.append(" there")  # Pat types while Fay's form is on its way
    facilitator.post(f"/i/{INDICATOR}/notes", {"base": "Hello", "notes": "Hello, everyone"})
    assert send_notes(pat, unsent) == {"ok": True}
    sync_notes(pat, page)
    server = workshop_of(app, facilitator).notes.text(INDICATOR)
    assert str(page) == server
    assert "everyone" in server and "there" in server


# ---- presence -------------------------------------------------------------------------------

BOLD_NAME = 'Sam <b>"Bold"</b> O\'Neil'


def test_connecting_shows_the_person_to_everyone_in_the_room_escaped(app, facilitator, join):
    here = connect(app, facilitator)
    sam = join(BOLD_NAME)
    settle(app, here)  # joining pushes presence too; connecting is what adds Sam to the list
    connect(app, sam)
    html = presence_where(here, lambda html: "Here now (2)" in html)
    assert str(escape(BOLD_NAME)) in html
    assert "<b>" not in html and '"Bold"' not in html


def test_where_shows_which_indicator_a_person_is_on(app, rooms):
    here, pat, _ = rooms
    assert pat.emit("where", {"indicator": OTHER_INDICATOR}, callback=True) == {"ok": True}
    presence_where(here, lambda html: re.search(rf"Pat Participant</span>.*?on {OTHER_INDICATOR}</span>", html, re.S))


def test_typing_shows_who_is_typing_where(app, rooms):
    here, pat, elsewhere = rooms
    pat.emit("where", {"indicator": INDICATOR}, callback=True)
    assert pat.emit("typing", {"indicator": INDICATOR}, callback=True) == {"ok": True}
    presence_where(here, lambda html: f"typing in {INDICATOR}" in html)
    assert received(elsewhere) == {}


def test_typing_in_an_unknown_indicator_shows_nothing(app, rooms):
    here, pat, _ = rooms
    assert pat.emit("typing", {"indicator": OUT_OF_SCOPE}, callback=True) == {"ok": True}
    settle(app)
    assert "presence" not in received(here)


def test_disconnecting_removes_the_person(app, facilitator, participant):
    here, pat = connect(app, facilitator), connect(app, participant)
    settle(app, here)
    pat.disconnect()
    presence_where(here, lambda html: "Pat Participant" not in html and "Here now (1)" in html)
    assert set(app.extensions["ecsa"].get(facilitator.session_id).room.people()) == {
        p["id"] for p in workshop_of(app, facilitator).participants() if p["name"] == "Fay Facilitator"}


def test_a_person_with_two_tabs_is_listed_once_and_stays_until_both_close(app, facilitator, participant):
    here, first_tab = connect(app, facilitator), connect(app, participant)
    second_tab = connect(app, participant)
    first_tab.emit("where", {"indicator": INDICATOR}, callback=True)
    second_tab.emit("where", {"indicator": OTHER_INDICATOR}, callback=True)
    html = presence_where(here, lambda html: f"on {INDICATOR}, {OTHER_INDICATOR}" in html)
    assert html.count("Pat Participant") == 1 and "Here now (2)" in html
    first_tab.disconnect()
    html = presence_where(here, lambda html: f"on {INDICATOR}, " not in html)
    assert html.count("Pat Participant") == 1 and f"on {OTHER_INDICATOR}" in html
    second_tab.disconnect()
    presence_where(here, lambda html: "Pat Participant" not in html)


def test_a_burst_of_arrivals_sends_a_few_lists_and_the_last_is_current(app, facilitator, join):
    here = connect(app, facilitator)
    people = [join(f"Person {number}") for number in range(20)]
    settle(app, here)
    started = time.monotonic()
    pages = [connect(app, person) for person in people]  # a Wi-Fi blip: everyone comes back at once
    html = presence_where(here, lambda html: "Here now (21)" in html)
    elapsed = time.monotonic() - started
    settle(app)
    lists = 1 + len(received(here).get("presence", []))
    assert lists <= 2 + elapsed / PRESENCE_GAP, f"{lists} lists in {elapsed:.2f} s"
    assert lists < 20
    assert all(f"Person {number}" in html for number in range(20))
    for page in pages:
        page.disconnect()
    presence_where(here, lambda html: "Here now (1)" in html)


def test_a_change_after_a_quiet_spell_is_shown_at_once(app, rooms):
    here, pat, _ = rooms
    time.sleep(PRESENCE_GAP)
    pat.emit("where", {"indicator": OTHER_INDICATOR}, callback=True)
    assert f"on {OTHER_INDICATOR}" in received(here)["presence"][-1]["html"]  # no waiting


# ---- follow-me ------------------------------------------------------------------------------

def test_follow_me_leads_everyone_and_late_joiners_catch_up(app, facilitator, participant, join, stranger):
    fay, pat, elsewhere = connect(app, facilitator), connect(app, participant), connect(app, stranger)
    drain(fay, pat, elsewhere)

    assert fay.emit("follow", {"on": True, "indicator": INDICATOR}, callback=True) == {"ok": True}
    for page in (fay, pat):
        assert received(page)["follow"] == [{"on": True, "indicator": INDICATOR, "since": 1}]

    assert fay.emit("where", {"indicator": OTHER_INDICATOR}, callback=True) == {"ok": True}
    for page in (fay, pat):
        assert received(page)["follow"] == [{"on": True, "indicator": OTHER_INDICATOR, "since": 1}]

    late = connect(app, join("Lee Late"))
    assert received(late)["follow"] == [{"on": True, "indicator": OTHER_INDICATOR, "since": 1}]

    assert fay.emit("follow", {"on": False}, callback=True) == {"ok": True}
    for page in (fay, pat, late):
        assert received(page)["follow"] == [{"on": False, "indicator": OTHER_INDICATOR, "since": 1}]
    assert "follow" not in received(elsewhere)
    # Turned on again: a new `since`, so a "Stay here" chosen the first time lapses.
    assert fay.emit("follow", {"on": True}, callback=True) == {"ok": True}
    assert received(pat)["follow"] == [{"on": True, "indicator": OTHER_INDICATOR, "since": 2}]


def test_a_participant_moving_does_not_move_the_followers(app, facilitator, participant):
    fay, pat = connect(app, facilitator), connect(app, participant)
    fay.emit("follow", {"on": True, "indicator": INDICATOR}, callback=True)
    drain(fay, pat)
    pat.emit("where", {"indicator": OTHER_INDICATOR}, callback=True)
    assert "follow" not in received(fay)
    assert app.extensions["ecsa"].get(facilitator.session_id).room.following()["indicator"] == INDICATOR


def test_without_follow_me_the_facilitator_moving_leads_no_one(app, facilitator, participant):
    fay, pat = connect(app, facilitator), connect(app, participant)
    drain(fay, pat)
    fay.emit("where", {"indicator": OTHER_INDICATOR}, callback=True)
    assert "follow" not in received(pat)


def test_a_new_page_learns_follow_me_is_off(app, facilitator):
    assert received(connect(app, facilitator))["follow"] == [{"on": False, "indicator": None, "since": 0}]


# ---- throttle -------------------------------------------------------------------------------

def test_a_flooding_page_is_slowed_while_others_carry_on(app, rooms, facilitator):
    calm, flooder, _ = rooms
    room = app.extensions["ecsa"].get(facilitator.session_id).room
    now = room.clock()
    room.clock = lambda: now  # however slowly this machine sends them, they arrive "at once"
    acks = [flooder.emit("where", {"indicator": INDICATOR}, callback=True) for _ in range(500)]
    refused = [ack for ack in acks if not ack["ok"]]
    assert len(refused) == 500 - BURST
    assert all("slow down" in ack["error"] for ack in refused)
    assert calm.emit("where", {"indicator": OTHER_INDICATOR}, callback=True) == {"ok": True}
    assert flooder.is_connected() and calm.is_connected()


def test_a_downloaded_record_holds_notes_typed_live_and_who_typed_them(rooms, facilitator):
    _, pat, _ = rooms
    assert send_notes(pat, NotesPage().type(0, "Typed live, not yet folded.")) == {"ok": True}
    download = facilitator.client.get(facilitator.url("/record"))
    record = json.loads(download.get_data(as_text=True))
    sheet = next(i for i in record["indicators"] if i["id"] == INDICATOR)
    assert sheet["notes"] == "Typed live, not yet folded."
    edits = [e for e in record["audit"] if e["type"] == "notes_edited" and e["indicator"] == INDICATOR]
    assert [e["actor_name"] for e in edits] == ["Pat Participant"]


# ---- the presence gate ----------------------------------------------------------------------

def test_the_gate_lets_the_first_push_through_and_holds_one_for_the_rest_of_the_gap():
    room, other = Room("room", None, None), Room("other room", None, None)
    assert room.claim_presence(10) == 0.0             # quiet until now: push at once
    wait = room.claim_presence(10)
    assert 9 < wait <= 10                             # within the gap: one push at its end
    assert room.claim_presence(10) is None            # already due: that push will show this too
    assert other.claim_presence(10) == 0.0            # rooms do not hold each other up
    room.presence_sent()                              # the due push renders now
    assert 9 < room.claim_presence(10) <= 10          # a change after that render needs another
