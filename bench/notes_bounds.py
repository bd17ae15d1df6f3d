"""What hostile notes updates leave behind, and how long a restart replays the notes log:
`python -m bench.notes_bounds`.

Runs the app in this process (Flask-SocketIO's test client, a temporary data folder) and
prints numbers; it never fails:
- the formatting attack: 200 one-character updates each carrying 150 KB of formatting
  attributes (now refused); the session file and the notes log after a fold;
- the never-sent-base attack: 200 updates of 19,000 characters, each built on one the
  server never received (now refused, asking for a resync); the same sizes;
- the five-byte update claiming 3×10⁸ clients: how long its refusal takes;
- a restart whose log holds 10,000 real keystroke updates: how long opening the notes
  (replaying the log) takes.
"""

from __future__ import annotations

import os
import tempfile
import time

from pycrdt import Doc, Text

from ecsa import create_app
from ecsa.notes import SessionNotes, encode_record
from ecsa.realtime import handlers, socketio

INDICATOR = "1a"
SESSION_FORM = {"title": "Bench", "organisation": "Example NHS Trust", "date": "2026-12-01",
                "scope": ["1"], "name": "Fay Facilitator", "perspective": "staff"}


def edit(doc: Doc, change) -> bytes:
    """The update a change to a page's notes produces."""
    before = doc.get_state()
    change(doc.get("notes", type=Text))
    return doc.get_update(before)


def session(folder: str):
    """An app, a facilitator's socket on a new session, and that session's Workshop."""
    handlers.schedule_fold = lambda workshop: None  # folds only when this script says
    handlers.throttle.allow = lambda sid: True  # an attacker has as many sockets as it likes
    app = create_app({"TESTING": True, "DATA_DIR": folder})
    browser = app.test_client()
    created = browser.post("/sessions", data=SESSION_FORM)
    session_id = created.headers["Location"].split("/")[2]
    socket = socketio.test_client(app, flask_test_client=browser, auth={"session": session_id})
    return socket, app.extensions["ecsa"].get(session_id)


def sizes(workshop) -> str:
    """The session file's and the notes log's size after a fold."""
    workshop.fold_notes()
    log = os.path.join(os.path.dirname(workshop.file.path), f"{workshop.id}.notes.log")
    log_bytes = os.path.getsize(log) if os.path.exists(log) else 0
    return f"session file {os.path.getsize(workshop.file.path):,} B, log {log_bytes:,} B"


def send(socket, update: bytes) -> dict:
    """Send one notes update; the acknowledgement."""
    return socket.emit("notes_update", {"indicator": INDICATOR, "update": update}, callback=True)


def formatting_attack(folder: str) -> None:
    """200 one-character inserts with 150 KB of attributes each, each on the server's text."""
    socket, workshop = session(folder)
    send(socket, edit(Doc(), lambda text: text.insert(0, "Notes.")))
    print(f"before the formatting attack: {sizes(workshop)}")
    acks = []
    for i in range(200):
        page = Doc()
        page.apply_update(workshop.notes.missing(INDICATOR, Doc().get_state()))
        attributes = {"a": f"{i}" + "y" * 150_000}  # a different value each time: none is shared
        acks.append(send(socket, edit(page, lambda text: text.insert(i % 6, "x", attributes))))
    refused = sum(bool(not ack["ok"] and "plain text" in ack["error"]) for ack in acks)
    print(f"after the formatting attack ({refused}/200 refused as not plain text): {sizes(workshop)}")


def never_sent_base_attack(folder: str) -> None:
    """200 updates each built on an update that was never sent."""
    socket, workshop = session(folder)
    page = Doc()
    send(socket, edit(page, lambda text: text.insert(0, "Notes.")))
    print(f"before the never-sent-base attack: {sizes(workshop)}")
    edit(page, lambda text: text.insert(0, "x"))  # never sent
    acks = [send(socket, edit(page, lambda text: text.insert(0, "y" * 19_000))) for _ in range(200)]
    refused = sum(bool(not ack["ok"] and ack.get("resync")) for ack in acks)
    print(f"after the never-sent-base attack ({refused}/200 refused with resync): {sizes(workshop)}")


def bomb(folder: str) -> None:
    """The five-byte update claiming 3×10⁸ clients."""
    socket, _ = session(folder)
    started = time.perf_counter()
    ack = send(socket, b"\x80\xbc\xc1\x96\x01")
    print(f"five-byte client-count bomb: refused={not ack['ok']} in {(time.perf_counter() - started) * 1000:.2f} ms")


def restart(folder: str, keystrokes: int = 10_000) -> None:
    """A log of real keystroke updates (one character each, as a person types), replayed."""
    page, words = Doc(), "We ask carers twice a year and report to the board. 😀 "
    records = []
    for i in range(keystrokes):
        at = len(str(page.get("notes", type=Text)).encode("utf-8"))
        typed = edit(page, lambda text: text.insert(at, words[i % len(words)]))
        records.append(encode_record(INDICATOR, "pat", typed))
    log = os.path.join(folder, "notes.log")
    with open(log, "wb") as out:
        out.write(b"".join(records))
    started = time.perf_counter()
    notes = SessionNotes(log, lambda indicator: (None, ""))
    elapsed = time.perf_counter() - started
    assert notes.text(INDICATOR) == str(page.get("notes", type=Text))
    print(f"restart replaying {keystrokes:,} keystroke updates ({os.path.getsize(log):,} B of log): "
          f"{elapsed * 1000:.0f} ms")


def main() -> None:
    """Run each part in its own temporary folder."""
    for part in (formatting_attack, never_sent_base_attack, bomb, restart):
        with tempfile.TemporaryDirectory() as folder:
            part(folder)


if __name__ == "__main__":
    main()
