"""ECSA_FAST_TRANSPORT: the live layer's speed-ups that reach into Socket.IO's private
internals are on by default, off with 0, and off (said in one line) whenever the installed
libraries are not the versions they were written for. Both paths send messages whole and
take long-polling batches."""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from pathlib import Path

import pytest
from engineio.payload import Payload

from ecsa import create_app
from ecsa.config import StartupError, from_environment
from ecsa.realtime import socketio, transport

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
PINNED_HERE = not transport.version_mismatches()


def pins() -> dict[str, str]:
    """name -> version for every `name==version` line of requirements.txt (names lower-cased)."""
    found = {}
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if match:
            found[match[1].lower()] = match[2]
    return found


def make_app(tmp_path, **config):
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), **config})


def test_the_fast_path_was_written_for_the_versions_requirements_pins():
    """Bumping a pin means checking the fast path against the new version, then this table."""
    pinned = pins()
    assert {name: pinned.get(name) for name in transport.WRITTEN_FOR} == transport.WRITTEN_FOR


def test_the_setting_is_on_unless_set_to_0_and_anything_else_stops_the_start():
    assert from_environment({})["FAST_TRANSPORT"] is True
    assert from_environment({"ECSA_FAST_TRANSPORT": "1"})["FAST_TRANSPORT"] is True
    assert from_environment({"ECSA_FAST_TRANSPORT": "0"})["FAST_TRANSPORT"] is False
    with pytest.raises(StartupError, match="ECSA_FAST_TRANSPORT must be 1 .on. or 0 .off.; it is 'off'"):
        from_environment({"ECSA_FAST_TRANSPORT": "off"})


@pytest.mark.skipif(not PINNED_HERE, reason="the installed Socket.IO libraries are not the pinned versions")
def test_on_engine_io_queues_write_directly(tmp_path):
    app = make_app(tmp_path, FAST_TRANSPORT=True)
    assert app.extensions["ecsa.fast_transport"] is True
    assert socketio.server.eio._async["queue"] is transport.DirectQueue


def test_off_engine_io_runs_its_stock_path(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=transport.__name__):
        app = make_app(tmp_path, FAST_TRANSPORT=False)
    assert app.extensions["ecsa.fast_transport"] is False
    assert socketio.server.eio._async["queue"] is queue.Queue
    assert caplog.records == []  # switched off on purpose: nothing to say


def test_other_library_versions_get_the_stock_path_and_one_line_saying_so(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(transport.WRITTEN_FOR, "python-engineio", "0.0.1")
    with caplog.at_level(logging.WARNING, logger=transport.__name__):
        app = make_app(tmp_path, FAST_TRANSPORT=True)
    assert app.extensions["ecsa.fast_transport"] is False
    assert socketio.server.eio._async["queue"] is queue.Queue
    [said] = caplog.records
    assert "\n" not in said.getMessage()
    assert "python-engineio 0.0.1" in said.getMessage() and "stock" in said.getMessage()


@pytest.mark.parametrize("fast", [True, False])
def test_both_paths_send_messages_whole_and_take_long_polling_batches(tmp_path, fast):
    make_app(tmp_path, FAST_TRANSPORT=fast)
    assert isinstance(socketio.server.manager, transport.WholeMessages)
    assert Payload.max_decode_packets >= transport.POLL_PACKETS


# ---- TinyDB's private caches, reset on rollback, are fenced the same way (ecsa/storage.py) ----

@pytest.mark.parametrize("fits", [True, False], ids=["tinydb as pinned", "another tinydb"])
def test_a_rolled_back_change_leaves_no_trace_in_tinydbs_caches(tmp_path, monkeypatch, fits):
    from tinydb import Query

    from ecsa import storage
    assert storage.TINYDB_WRITTEN_FOR == pins()["tinydb"]
    monkeypatch.setattr(storage, "TINYDB_FITS", fits)
    session = storage.SessionFile(tmp_path / "s.json")
    with session.transaction() as db:
        db.table("audit").insert_multiple([{"event": "one"}, {"event": "two"}])
    with pytest.raises(RuntimeError):
        with session.transaction() as db:
            assert db.table("audit").insert({"event": "dropped"}) == 3
            assert db.table("audit").search(Query().event == "dropped")  # cached
            raise RuntimeError("refused")
    with session.transaction() as db:
        assert db.table("audit").search(Query().event == "dropped") == []
        assert db.table("audit").insert({"event": "three"}) == 3  # not 4: the next id was forgotten
    with session.reading() as db:
        assert [doc["event"] for doc in db.table("audit").all()] == ["one", "two", "three"]


def test_a_binary_emit_runs_alone_while_text_emits_run_side_by_side():
    sends, order = transport.SharedOrAlone(), []
    text_in, binary_waiting, release = threading.Event(), threading.Event(), threading.Event()

    def text(name):
        with sends.shared():
            order.append(f"{name} in")
            text_in.set()
            release.wait(5)
            order.append(f"{name} out")

    def binary():
        binary_waiting.set()
        with sends.alone():
            with sends.alone():  # the thread holding it alone may take it again
                order.append("binary")

    first = threading.Thread(target=text, args=("text 1",))
    first.start()
    assert text_in.wait(5)
    second = threading.Thread(target=text, args=("text 2",))
    second.start()  # shares with text 1
    deadline = time.monotonic() + 5
    while order.count("text 2 in") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    alone = threading.Thread(target=binary)
    alone.start()
    assert binary_waiting.wait(5)
    time.sleep(0.1)
    assert "binary" not in order  # waits for both text sends to finish
    release.set()
    for thread in (first, second, alone):
        thread.join(5)
    assert order[:2] == ["text 1 in", "text 2 in"] and order[-1] == "binary"
