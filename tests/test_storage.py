"""Session storage loses nothing: atomic, durable, single-writer, crash-safe."""
import json
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest
from tinydb import Query

from ecsa import storage
from ecsa.storage import (CorruptSessionFile, SessionDirectory, SessionFile,
                          atomic_write)

CRASH_WRITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash_writer.py")
CRASH_ROUNDS = 40


def mode_of(path):
    """Permission bits of a file."""
    return stat.S_IMODE(os.stat(path).st_mode)


def temp_files(folder):
    """Leftover atomic_write temp files in a folder."""
    return [n for n in os.listdir(folder) if ".tmp-" in n]


@pytest.fixture
def count_writes(monkeypatch):
    """Count atomic_write calls made by the storage layer."""
    calls = []
    real = storage.atomic_write

    def counting(path, data, mode=0o600):
        calls.append(path)
        real(path, data, mode)

    monkeypatch.setattr(storage, "atomic_write", counting)
    return calls


@pytest.fixture
def session(tmp_path):
    """A fresh session file with one doc in each of two tables."""
    sf = SessionFile(tmp_path / "s1.json")
    with sf.transaction() as db:
        db.table("worksheet").insert({"text": "first draft"})
        db.table("audit").insert({"event": "created"})
    return sf


# --- atomic_write -----------------------------------------------------------

def test_atomic_write_replaces_content_with_private_mode_and_no_temp_files(tmp_path):
    target = tmp_path / "f.json"
    for i in range(20):
        atomic_write(target, f"version {i}".encode())
    assert target.read_bytes() == b"version 19"
    assert mode_of(target) == 0o600
    assert os.listdir(tmp_path) == ["f.json"]


def test_atomic_write_makes_file_private_even_with_open_umask(tmp_path):
    target = tmp_path / "f.json"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    old_umask = os.umask(0)
    try:
        atomic_write(target, b"new")
    finally:
        os.umask(old_umask)
    assert mode_of(target) == 0o600


def test_atomic_write_keeps_old_content_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic_write(target, b"old")

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(storage.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


# --- transactions -----------------------------------------------------------

def test_transaction_touching_two_tables_is_one_disk_write(session, count_writes):
    with session.transaction() as db:
        db.table("worksheet").update({"text": "second draft"}, doc_ids=[1])
        db.table("audit").insert({"event": "edited"})
        db.table("audit").insert({"event": "edited again"})
        assert count_writes == []  # buffered until the block ends
    assert len(count_writes) == 1
    on_disk = json.loads(open(session.path, "rb").read())
    assert on_disk["worksheet"]["1"]["text"] == "second draft"
    assert len(on_disk["audit"]) == 3


def test_failed_transaction_leaves_both_tables_unchanged_on_disk_and_in_memory(session, count_writes):
    before = open(session.path, "rb").read()
    worksheet, audit = session.db.table("worksheet"), session.db.table("audit")
    with pytest.raises(RuntimeError, match="boom"):
        with session.transaction() as db:
            db.table("worksheet").update({"text": "half-done"}, doc_ids=[1])
            db.table("audit").insert({"event": "should vanish"})
            # Fill the query cache with uncommitted results, too.
            assert audit.search(Query().event == "should vanish")
            raise RuntimeError("boom")
    assert count_writes == []
    assert open(session.path, "rb").read() == before
    with session.reading():
        assert worksheet.get(doc_id=1)["text"] == "first draft"
        assert [d["event"] for d in audit.all()] == ["created"]
        assert audit.search(Query().event == "should vanish") == []
    with session.transaction() as db:
        assert db.table("audit").insert({"event": "edited"}) == 2  # ids continue
    assert json.loads(open(session.path, "rb").read())["audit"]["2"] == {"event": "edited"}


def test_failed_disk_write_is_reported_and_rolls_back_memory(session, monkeypatch):
    before = open(session.path, "rb").read()

    def full_disk(path, data, mode=0o600):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "atomic_write", full_disk)
    with pytest.raises(OSError, match="No space"):
        with session.transaction() as db:
            db.table("audit").insert({"event": "lost"})
    monkeypatch.undo()
    assert open(session.path, "rb").read() == before
    with session.reading() as db:
        assert len(db.table("audit")) == 1


def test_nested_transaction_joins_the_outer_one(session, count_writes):
    with session.transaction() as db:
        db.table("audit").insert({"event": "outer"})
        with session.transaction() as inner:
            inner.table("audit").insert({"event": "inner"})
        assert count_writes == []
    assert len(count_writes) == 1
    with session.reading() as db:
        assert len(db.table("audit")) == 3


def test_failed_nested_transaction_aborts_the_outer_one_even_if_swallowed(session, count_writes):
    with pytest.raises(RuntimeError, match="nested transaction failed"):
        with session.transaction() as db:
            db.table("audit").insert({"event": "outer"})
            try:
                with session.transaction() as inner:
                    inner.table("audit").insert({"event": "inner"})
                    raise ValueError("inner problem")
            except ValueError:
                pass
    assert count_writes == []
    with session.reading() as db:
        assert len(db.table("audit")) == 1


def test_reading_and_read_only_transactions_do_not_write(session, count_writes):
    with session.reading() as db:
        assert len(db.table("worksheet")) == 1
    with session.transaction() as db:
        db.table("audit").all()
    assert count_writes == []


def test_non_ascii_text_survives_a_reopen(tmp_path):
    sf = SessionFile(tmp_path / "u.json")
    with sf.transaction() as db:
        db.table("worksheet").insert({"text": "Größe — 安全 ✓"})
    assert "Größe — 安全 ✓".encode() in open(sf.path, "rb").read()
    with SessionFile(sf.path).reading() as db:
        assert db.table("worksheet").get(doc_id=1)["text"] == "Größe — 安全 ✓"


def test_concurrent_increments_from_8_threads_lose_nothing(tmp_path):
    sf = SessionFile(tmp_path / "c.json")
    with sf.transaction() as db:
        db.table("counter").insert({"value": 0})
    errors = []

    def worker():
        try:
            for _ in range(50):
                with sf.transaction() as db:
                    counter = db.table("counter")
                    value = counter.get(doc_id=1)["value"]
                    time.sleep(0.0001)  # invite other threads to interleave
                    counter.update({"value": value + 1}, doc_ids=[1])
        except Exception as e:  # surfaced below; a thread cannot fail the test itself
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(open(sf.path, "rb").read())["counter"]["1"]["value"] == 400
    with SessionFile(sf.path).reading() as db:
        assert db.table("counter").get(doc_id=1)["value"] == 400


# --- the session folder -----------------------------------------------------

CORRUPT_CONTENTS = {
    "truncated": b'{"worksheet":{"1":{"text":"hal',
    "non_object": b'[1, 2, 3]',
    "empty": b"",
    "table_not_object": b'{"worksheet": 5}',
    "not_utf8": b'{"worksheet":{"1":{"text":"\xff\xfe"}}}',
}


@pytest.mark.parametrize("kind", sorted(CORRUPT_CONTENTS))
def test_corrupt_session_file_is_reported_and_left_untouched(tmp_path, kind):
    folder = tmp_path / "sessions"
    d0 = SessionDirectory(folder)
    d0.create("good")
    bad = folder / "bad.json"
    bad.write_bytes(CORRUPT_CONTENTS[kind])
    problems = SessionDirectory(folder).open_all()
    assert [p.path for p in problems] == [str(bad)]
    assert isinstance(problems[0], CorruptSessionFile) and problems[0].reason
    assert str(bad) in str(problems[0])
    assert bad.read_bytes() == CORRUPT_CONTENTS[kind]
    d = SessionDirectory(folder)
    d.open_all()
    assert d.ids() == ["good"] and d.load("bad") is None
    with pytest.raises(ValueError):
        d.create("bad")  # a corrupt file is never replaced by an empty session
    assert bad.read_bytes() == CORRUPT_CONTENTS[kind]


def test_opening_a_corrupt_file_directly_raises(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{")
    with pytest.raises(CorruptSessionFile) as err:
        SessionFile(bad)
    assert err.value.path == str(bad)
    assert bad.read_bytes() == b"{"


def test_new_sessions_are_private_and_reopen_after_restart(tmp_path):
    folder = tmp_path / "data" / "sessions"
    d = SessionDirectory(folder)
    assert mode_of(folder) == 0o700
    sf = d.create("ws-2024_A")
    assert mode_of(sf.path) == 0o600
    with sf.transaction() as db:
        db.table("worksheet").insert({"text": "kept"})
    d.create("other")
    restarted = SessionDirectory(folder)
    assert restarted.open_all() == []
    assert restarted.ids() == ["other", "ws-2024_A"]
    with restarted.load("ws-2024_A").reading() as db:
        assert db.table("worksheet").all() == [{"text": "kept"}]
    assert restarted.load("missing") is None


@pytest.mark.parametrize("bad_id", ["", "a/b", "../x", "x.json", "a b", "é", "x" * 65, "ok\n"])
def test_create_refuses_invalid_ids(tmp_path, bad_id):
    d = SessionDirectory(tmp_path)
    with pytest.raises(ValueError):
        d.create(bad_id)
    assert os.listdir(tmp_path) == []


def test_create_refuses_an_existing_id(tmp_path):
    d = SessionDirectory(tmp_path)
    d.create("s1")
    with pytest.raises(ValueError, match="already exists"):
        d.create("s1")


def test_open_all_removes_stale_temp_files(tmp_path):
    d = SessionDirectory(tmp_path)
    d.create("s1")
    (tmp_path / ".s1.json.tmp-deadbeef").write_bytes(b'{"half')
    restarted = SessionDirectory(tmp_path)
    assert restarted.open_all() == []
    assert os.listdir(tmp_path) == ["s1.json"]


def test_size_bytes_matches_file(session):
    assert session.size_bytes() == os.path.getsize(session.path) > 0


# --- THE CRASH TEST ---------------------------------------------------------

def run_writer_and_kill(path, delay):
    """Start the writer, SIGKILL it `delay` s after its first ack; return acked ids."""
    # bufsize=0: readline must not pull later acks into a buffer that
    # communicate() (which reads the raw pipe) would never see.
    proc = subprocess.Popen([sys.executable, CRASH_WRITER, str(path)], bufsize=0,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        rest, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first.startswith(b"ack "), f"writer failed: {err.decode(errors='replace')}"
    assert proc.returncode == -signal.SIGKILL
    # Only complete lines are acknowledgements.
    lines = (first + rest).split(b"\n")[:-1]
    return [int(line.split()[1]) for line in lines]


@pytest.mark.timeout(120)
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_acknowledged_writes_survive_kill_9(tmp_path, record_property):
    seed = int(os.environ.get("ECSA_CRASH_SEED", random.randrange(2**32)))
    record_property("crash_seed", seed)
    print(f"crash test seed {seed}; replay with ECSA_CRASH_SEED={seed}")
    rng = random.Random(seed)
    folder = tmp_path / "sessions"
    folder.mkdir()
    path = folder / "crash.json"
    total_acked, killed_mid_write = 0, 0
    for rnd in range(CRASH_ROUNDS):
        where = f"(seed {seed}, round {rnd})"
        acked = run_writer_and_kill(path, rng.uniform(0.005, 0.080))
        assert acked == list(range(total_acked, total_acked + len(acked))), where
        total_acked += len(acked)

        data = json.loads(path.read_bytes())  # plain JSON, no help from our code
        ns = sorted(doc["n"] for doc in data["docs"].values())
        assert ns == list(range(len(ns))), f"gap or duplicate {where}"
        assert len(ns) >= total_acked, f"an acknowledged write was lost {where}"
        assert len(ns) <= total_acked + 1, where  # at most the one in flight
        assert data["counter"]["1"]["value"] == len(ns), f"tables disagree {where}"
        assert mode_of(path) == 0o600, where

        killed_mid_write += bool(temp_files(folder))
        d = SessionDirectory(folder)
        assert d.open_all() == [], where
        assert os.listdir(folder) == ["crash.json"], f"temp file left {where}"
        with d.load("crash").reading() as db:
            assert len(db.table("docs")) == len(ns), where
        total_acked = len(ns)  # an unacknowledged but durable write is fine
    print(f"{CRASH_ROUNDS} rounds, {total_acked} docs, "
          f"{killed_mid_write} kills left a temp file")
