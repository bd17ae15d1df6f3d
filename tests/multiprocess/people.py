"""People using a multi-process deployment through nginx: browsers (HTTP with their own
cookies) and live pages (a Socket.IO client typing into one indicator's notes as notes.js
does, reconnecting and resyncing when its process goes away).

Each page types unique tokens ending in "|", appended to the notes, so the notes are
always a sequence of whole tokens and every acknowledged one can be looked for.
"""

from __future__ import annotations

import base64
import re
import threading
import time

import requests
import socketio
from pycrdt import Doc, Text

from tests.notes_page import NotesPage

INDICATOR = "1b"
SESSION_FORM = {"title": "Regional workshop", "organisation": "Example NHS Trust", "date": "2026-12-01",
                "scope": ["1", "2"], "name": "Fay Facilitator", "perspective": "staff"}
EMPTY_VECTOR = Doc().get_state()
EMPTY_UPDATE = Doc().get_update()


class Browser:
    """Someone's browser for pages and forms: its own cookie jar, through nginx."""

    def __init__(self, base: str):
        self.base, self.http = base, requests.Session()

    def get(self, path: str, **options) -> requests.Response:
        return self.http.get(self.base + path, timeout=15, **options)

    def post(self, path: str, data: dict, **options) -> requests.Response:
        return self.http.post(self.base + path, data=data, timeout=15, **options)

    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)


def create_session(base: str) -> tuple[Browser, str, str]:
    """A facilitator creates a session through nginx: (their browser, session id, join code)."""
    fay = Browser(base)
    shared = fay.post("/sessions", SESSION_FORM)
    assert shared.status_code == 200, (shared.status_code, shared.text[:500])
    session_id = re.search(r"/s/([A-Za-z0-9_-]+)/share$", shared.url)[1]
    code = re.search(r"/join/([A-Z0-9]{6})", shared.text)[1]
    return fay, session_id, code


def join(base: str, code: str, name: str) -> Browser:
    """Someone joins with the code at /join/<code>, which may land on any process."""
    person = Browser(base)
    joined = person.post(f"/join/{code}", {"name": name, "perspective": "staff"})
    assert joined.status_code == 200 and "/s/" in joined.url, (joined.status_code, joined.url, joined.text[:300])
    return person


def holder(browser: Browser, session_id: str) -> str:
    """Which process answers the session's pages (X-ECSA-Process), waiting out a move."""
    deadline = time.monotonic() + 30
    while True:
        answer = browser.get(f"/s/{session_id}/")
        if answer.status_code != 503 or time.monotonic() > deadline:
            assert answer.status_code == 200, answer.status_code
            return answer.headers["X-ECSA-Process"]
        time.sleep(0.2)


def tokens(text: str) -> list[str]:
    """The whole tokens in a notes text."""
    parts = text.split("|")
    assert parts[-1] == "", f"the notes do not end with a whole token: {text[-80:]!r}"
    return parts[:-1]


class LivePage(NotesPage):
    """A page of one session, live over Socket.IO through nginx, typing into the notes."""

    def __init__(self, base: str, browser: Browser, session_id: str, name: str, transport: str = "websocket",
                 person: str = ""):
        self.base, self.browser, self.session_id, self.name = base, browser, session_id, name
        self.person = person  # the display name the page's person joined with
        self.transport = transport
        self.doc, self.lock = Doc(allow_multithreading=True), threading.Lock()
        self.acknowledged: list[str] = []
        # Ratings sent, in order, each with whether the server surely took it (303) or
        # may have (the process died before answering): the last one taken, or any sent
        # after it, is the rating the server may hold.
        self.votes: list[tuple[int, bool]] = []
        self.refusals: list[str] = []
        self.client: socketio.Client | None = None
        self.gone = threading.Event()
        self.stop = threading.Event()
        self.back_at: float | None = None  # first acknowledged edit after `since`
        self.since: float | None = None
        self.thread: threading.Thread | None = None
        self.count = 0

    def text(self) -> str:
        with self.lock:
            return str(self.doc.get("notes", type=Text))

    # --- the connection ------------------------------------------------------------

    def connect(self, seconds: float = 60) -> None:
        """Connect through nginx (asking again after each 503 while the session moves),
        then resync as notes.js does."""
        deadline = time.monotonic() + seconds
        while True:
            client = socketio.Client(reconnection=False)
            client.on("notes_update", self.remote)
            client.on("disconnect", lambda *args: self.gone.set())
            try:
                client.connect(f"{self.base}/?session={self.session_id}", headers={"Cookie": self.browser.cookie()},
                               auth={"session": self.session_id}, transports=[self.transport], wait_timeout=10)
            except socketio.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                continue
            self.client = client
            self.gone.clear()
            if self.resync():
                return
            client.disconnect()

    def resync(self) -> bool:
        """Take what we lack, send what the server lacks; whether the server took it all."""
        with self.lock:
            vector = self.doc.get_state()
        ack = self.call("notes_sync", {"indicator": INDICATOR, "state_vector": base64.b64encode(vector).decode()})
        if not (ack and ack.get("ok")):
            return False
        with self.lock:
            self.doc.apply_update(base64.b64decode(ack["update"]))
            mine = self.doc.get_update(base64.b64decode(ack["state_vector"]))
        if mine != EMPTY_UPDATE:
            ack = self.call("notes_update", {"indicator": INDICATOR, "update": base64.b64encode(mine).decode()})
        return bool(ack and ack.get("ok"))

    # --- typing and voting -----------------------------------------------------------

    def start(self) -> None:
        self.thread = threading.Thread(target=self.work, daemon=True)
        self.thread.start()

    def work(self) -> None:
        """Type a token every ~50 ms and vote every tenth, reconnecting whenever the server goes."""
        while not self.stop.is_set():
            if self.gone.is_set():
                self.connect()
            self.type_one()
            if self.count % 10 == 0:
                self.vote((self.count // 10) % 5 + 1)
            time.sleep(0.05)

    def type_one(self) -> None:
        """Append one token and send the update; note it once the server acknowledges it."""
        token = f"{self.name}.{self.count}"
        self.count += 1
        with self.lock:
            text = self.doc.get("notes", type=Text)
            before = self.doc.get_state()
            text.insert(len(str(text).encode("utf-8")), token + "|")
            update = self.doc.get_update(before)
        ack = self.call("notes_update", {"indicator": INDICATOR, "update": base64.b64encode(update).decode()})
        if ack is None:
            return  # not acknowledged: the resync on reconnecting sends it again
        if ack.get("ok"):
            self.acknowledged.append(token)
            if self.since is not None and self.back_at is None:
                self.back_at = time.monotonic()
        elif ack.get("resync"):
            self.resync()
        else:
            self.refusals.append(ack.get("error", "?"))

    def vote(self, value: int) -> None:
        """Cast a rating over HTTP (a 503 while the session moves is simply not counted)."""
        try:
            answer = self.browser.post(f"/s/{self.session_id}/i/{INDICATOR}/vote", {"value": str(value)},
                                       allow_redirects=False)
        except requests.RequestException:
            self.votes.append((value, False))
            return
        if answer.status_code == 303:
            self.votes.append((value, True))
        elif answer.status_code != 503:  # 503: refused before anything was done
            self.votes.append((value, False))

    def possible_ratings(self) -> set[int]:
        """The ratings the server may hold for this page's person."""
        taken = max((i for i, (_, sure) in enumerate(self.votes) if sure), default=0)
        return {value for value, _ in self.votes[taken:]}

    def finish(self) -> None:
        """Stop typing, then send anything the server has not acknowledged."""
        self.stop.set()
        self.thread.join(60)
        if self.gone.is_set():
            self.connect()
        assert self.resync()

    def close(self) -> None:
        self.stop.set()
        if self.client is not None:
            try:
                self.client.disconnect()
            except Exception:
                pass


def server_notes(base: str, browser: Browser, session_id: str) -> str:
    """The notes as the session's process holds them now (a new page, empty state)."""
    page = LivePage(base, browser, session_id, "reader", transport="polling")
    page.connect()
    try:
        return page.text()
    finally:
        page.close()
