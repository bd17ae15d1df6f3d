"""Kill -9 the real server while people type notes: nothing acknowledged is lost.

The real server (`python app.py`) runs on a temporary data folder. A facilitator creates
a session over HTTP and three participants join (each with their own cookie jar); each
connects a python-socketio client and types into the same indicator's notes at once,
sending pycrdt updates with `notes_update` and noting which the server acknowledged.
At a random moment the server gets SIGKILL. Then the session file must still parse, and
a restarted server must hold every acknowledged word, once. The pages then reconnect and
resync as notes.js does (keeping their documents), so the next round also checks that
words typed but never acknowledged arrive exactly once.

Each insert is a unique token followed by "|", inserted only right after a "|", so the
notes are always a sequence of whole tokens. Replay a run with ECSA_CRASH_SEED=<seed>.
"""

from __future__ import annotations

import base64

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener

import pytest
import socketio
from pycrdt import Doc, Text

from tests.notes_page import NotesPage

ROOT = Path(__file__).resolve().parent.parent
INDICATOR = "1b"
ROUNDS = 5
TYPISTS = 3
PER_ROUND = 40  # tokens a page types per round at most: the notes stay under NOTES_MAX
WORDS = ["care", "naïve", "Ελληνικά", "日本語", "русский", "עברית", "😀", "👍🏽", "👩‍👩‍👧", "Zürich"]
EMPTY_VECTOR = Doc().get_state()
EMPTY_UPDATE = Doc().get_update()


def new_client() -> socketio.Client:
    """A Socket.IO client that handles incoming messages one at a time, in order.

    python-engineio's threaded client hands each message to a new thread, so a binary
    event's header and its attachment (every notes update) can be decoded out of order
    ("invalid literal for int()"), losing the message. A browser has no such problem.
    """
    client = socketio.Client(reconnection=False)
    trigger = client.eio._trigger_event

    def in_order(event, *args, **kwargs):
        if event == "message":
            kwargs["run_async"] = False
        return trigger(event, *args, **kwargs)

    client.eio._trigger_event = in_order
    return client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`python app.py` on a port and data folder, started and SIGKILLed at will."""

    def __init__(self, data_dir: Path, log_path: Path):
        self.data_dir, self.log_path, self.port = data_dir, log_path, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECSA_")}
        env["ECSA_DATA_DIR"] = str(self.data_dir)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(self.port)],
                                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server exited:\n{self.log()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"the server did not start:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no last fold."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


class Browser:
    """Someone's browser for the HTTP part: their own cookie jar."""

    def __init__(self, base: str):
        self.base, self.jar = base, CookieJar()
        self.opener = build_opener(HTTPCookieProcessor(self.jar))

    def post(self, path: str, fields: dict) -> tuple[str, str]:
        """Submit a form, following redirects; the final URL and page."""
        request = Request(self.base + path, data=urlencode(fields, doseq=True).encode())
        with self.opener.open(request, timeout=15) as response:
            return response.geturl(), response.read().decode()

    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


class Page(NotesPage):
    """A participant's page: a socket and a pycrdt document, typing tokens into the notes."""

    def __init__(self, name: str, cookie: str, rng: random.Random):
        self.name, self.cookie, self.rng = name, cookie, rng
        self.doc, self.lock = Doc(allow_multithreading=True), threading.Lock()
        self.sent: list[str] = []         # every token typed into this page's document
        self.acknowledged: list[str] = []  # the server said ok to the update carrying it
        self.dropped: list[str] = []       # refused, then dropped as notes.js does
        self.client: socketio.Client | None = None
        self.gone = threading.Event()

    def text(self) -> str:
        with self.lock:
            return str(self.doc.get("notes", type=Text))

    def connect(self, server: Server, session_id: str) -> None:
        """Connect (again) and resync as notes.js does: take what we lack, send what it lacks."""
        self.gone.clear()
        self.client = new_client()
        self.client.on("notes_update", self.remote)
        self.client.on("disconnect", lambda *args: self.gone.set())
        self.client.connect(server.base, headers={"Cookie": self.cookie}, auth={"session": session_id},
                            transports=["polling"], wait_timeout=15)
        assert self.resync(), "the server is up: nothing stops a resync"

    def resync(self) -> bool:
        """Take what we lack, send what the server lacks; whether the server took it all."""
        with self.lock:
            vector = self.doc.get_state()
        ack = self.call("notes_sync", {"indicator": INDICATOR, "state_vector": vector})
        if not (ack and ack["ok"]):
            return False
        with self.lock:
            self.doc.apply_update(base64.b64decode(ack["update"]))
            mine = self.doc.get_update(base64.b64decode(ack["state_vector"]))
        if mine != EMPTY_UPDATE:
            ack = self.call("notes_update", {"indicator": INDICATOR, "update": mine})
        if ack and ack["ok"]:
            held = set(tokens(self.text()))  # the server now holds all this page holds
            self.acknowledged.extend(t for t in self.sent if t not in self.acknowledged and t in held)
            return True
        return False

    def type_until_gone(self, round_no: int) -> None:
        """Insert one token at a time (right after a "|"), until the server is gone."""
        count = 0
        while not self.gone.is_set():
            if count == PER_ROUND:
                self.gone.wait(30)  # typed enough: idle (a fold may come) until the kill
                return
            token = f"{self.name}.{round_no}.{count}.{self.rng.choice(WORDS)}"
            count += 1
            with self.lock:
                text = self.doc.get("notes", type=Text)
                current = str(text)
                boundaries = [0] + [i + 1 for i, ch in enumerate(current) if ch == "|"]
                at = len(current[:self.rng.choice(boundaries)].encode("utf-8"))  # pycrdt counts bytes
                before = self.doc.get_state()
                text.insert(at, token + "|")
                update = self.doc.get_update(before)
            self.sent.append(token)
            ack = self.call("notes_update", {"indicator": INDICATOR, "update": update})
            if ack is None:
                return
            if ack.get("ok"):
                self.acknowledged.append(token)
            elif ack.get("resync"):  # as notes.js: it built on an update the server lacks
                if not self.resync():
                    return
            else:  # as notes.js: keep nothing the server refused, start again from its text
                with self.lock:
                    self.dropped.extend(t for t in tokens(str(self.doc.get("notes", type=Text)))
                                        if t in self.sent and t not in self.acknowledged)
                    self.doc = Doc(allow_multithreading=True)
                ack = self.call("notes_sync", {"indicator": INDICATOR, "state_vector": EMPTY_VECTOR})
                if ack is None:
                    return
                with self.lock:
                    self.doc.apply_update(base64.b64decode(ack["update"]))
            time.sleep(self.rng.uniform(0.02, 0.06))  # under the server's 40 messages a second

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.disconnect()
            except Exception:
                pass


def tokens(text: str) -> list[str]:
    parts = text.split("|")
    assert parts[-1] == "", f"the notes do not end with a whole token: {text[-80:]!r}"
    return parts[:-1]


def server_notes(server: Server, cookie: str, session_id: str) -> str:
    """The notes as a freshly started server holds them (a new page, empty state vector)."""
    client = new_client()
    client.connect(server.base, headers={"Cookie": cookie}, auth={"session": session_id},
                   transports=["polling"], wait_timeout=15)
    try:
        ack = client.call("notes_sync", {"indicator": INDICATOR, "state_vector": EMPTY_VECTOR}, timeout=15)
    finally:
        client.disconnect()
    assert ack and ack["ok"], ack
    doc = Doc()
    doc.apply_update(base64.b64decode(ack["update"]))
    return str(doc.get("notes", type=Text))


def check_session_file(data_dir: Path, session_id: str) -> None:
    """The TinyDB file parses and still holds the session (no torn write)."""
    raw = (data_dir / "sessions" / f"{session_id}.json").read_text()
    tables = json.loads(raw)
    assert tables["session"]["1"]["id"] == session_id
    assert len(tables["participants"]) == TYPISTS + 1


def test_acknowledged_notes_survive_sigkill(tmp_path):
    seed = int(os.environ.get("ECSA_CRASH_SEED") or random.randrange(1_000_000))
    print(f"ECSA_CRASH_SEED={seed}")
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    server = Server(data_dir, tmp_path / "server.log")
    pages: list[Page] = []
    try:
        server.start()
        facilitator = Browser(server.base)
        share_url, share = facilitator.post("/sessions", {
            "title": "Crash test", "organisation": "Example NHS Trust", "date": "2026-12-01",
            "scope": ["1"], "name": "Fay Facilitator", "perspective": "staff"})
        session_id = re.search(r"/s/([A-Za-z0-9_-]+)/share", share_url)[1]
        code = re.search(r"/join/([A-Z0-9]{6})", share)[1]
        for i in range(TYPISTS):
            person = Browser(server.base)
            person.post(f"/join/{code}", {"name": f"Typist {i}", "perspective": "unpaid_carer"})
            pages.append(Page(f"t{i}", person.cookie(), random.Random(rng.random())))

        for round_no in range(ROUNDS):
            for page in pages:
                page.connect(server, session_id)
            if round_no:  # the reconnected pages sent what the killed server never acknowledged
                sent = [t for page in pages for t in page.sent if t not in page.dropped]
                held = tokens(server_notes(server, facilitator.cookie(), session_id))
                assert sorted(held) == sorted(sent), f"seed {seed}, round {round_no}: resync lost or doubled words"
            threads = [threading.Thread(target=page.type_until_gone, args=(round_no,)) for page in pages]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.3, 2.8))  # sometimes before the 2 s fold, sometimes after
            server.kill()
            for thread in threads:
                thread.join(20)
                assert not thread.is_alive(), f"seed {seed}: a page did not notice the server had gone"
            for page in pages:
                page.close()
            check_session_file(data_dir, session_id)

            server.start()
            held = tokens(server_notes(server, facilitator.cookie(), session_id))
            acknowledged = [t for page in pages for t in page.acknowledged]
            missing = set(acknowledged) - set(held)
            assert not missing, f"seed {seed}, round {round_no}: acknowledged words lost: {sorted(missing)[:5]}"
            doubled = {t for t in held if held.count(t) > 1}
            assert not doubled, f"seed {seed}, round {round_no}: words doubled: {sorted(doubled)[:5]}"
            assert set(held) <= {t for page in pages for t in page.sent}
            print(f"round {round_no}: {len(acknowledged)} acknowledged, {len(held)} held")
        assert "damaged" not in server.log()
    finally:
        for page in pages:
            page.close()
        server.kill()
