"""Memory is given back to the system when rooms close: trims are rate-limited, never made
while a lock is held, and nothing at all is done where the C library is not glibc."""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref
from types import SimpleNamespace

import pytest

from conftest import SESSION_FORM
from ecsa import create_app, memory


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeLibc:
    """glibc's mallopt, recording what it was asked."""

    def __init__(self, answer: int = 1):
        self.answer, self.calls = answer, []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return self.answer


def test_a_room_closing_trims_at_once_when_none_was_done_lately():
    trims, clock = [], Clock()
    trimmer = memory.Trimmer(trims.append, interval=5.0, clock=clock)
    assert trimmer.released() is True
    assert trims == [0]


def test_a_burst_of_closes_trims_once_now_and_once_when_the_interval_is_up():
    trims, clock = [], Clock()
    trimmer = memory.Trimmer(trims.append, interval=0.2, clock=clock)
    assert trimmer.released() is True
    for _ in range(50):
        assert trimmer.released() is False
    assert trims == [0]
    clock.now += 0.05
    time.sleep(0.5)  # the trailing trim is due 0.2 s after the first, by its own timer
    assert trims == [0, 0]
    assert trimmer.settled()


def test_a_close_after_the_interval_trims_again_at_once():
    trims, clock = [], Clock()
    trimmer = memory.Trimmer(trims.append, interval=5.0, clock=clock)
    trimmer.released()
    clock.now += 5.0
    assert trimmer.released() is True
    assert trims == [0, 0]


def test_without_glibc_nothing_is_trimmed_or_scheduled():
    trimmer = memory.Trimmer(None)
    assert trimmer.released() is False
    assert trimmer.settled()


def test_without_glibc_the_arena_limit_is_left_alone():
    assert memory.limit_arenas(2, environ={}, libc=None) is None


def test_the_arenas_are_limited_unless_the_operator_chose_a_limit():
    libc = FakeLibc()
    assert memory.limit_arenas(2, environ={}, libc=libc) == 2
    assert libc.calls == [(memory.M_ARENA_MAX, 2)]
    for chosen in ({"MALLOC_ARENA_MAX": "4"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}):
        libc = FakeLibc()
        assert memory.limit_arenas(2, environ=chosen, libc=libc) is None
        assert libc.calls == []


def test_a_refused_arena_limit_is_reported_not_claimed(caplog):
    assert memory.limit_arenas(2, environ={}, libc=FakeLibc(answer=0)) is None
    assert "could not limit" in caplog.text


def test_this_platform_is_detected_as_glibc_or_not_without_failing():
    libc = memory._glibc()
    assert libc is None or callable(libc.malloc_trim)


def test_a_room_closed_after_its_grace_period_trims_holding_no_lock(tmp_path, monkeypatch):
    """The close path calls the trim from the closing thread once the room is closed and no
    longer referenced (so its memory can be freed), with the registry's, the room's and its
    file's locks all free."""
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data")})
    registry = app.extensions["ecsa"]
    rooms = registry.rooms
    rooms.grace = 0.1
    client = app.test_client()
    session_id = client.post("/sessions", data=SESSION_FORM).headers["Location"].split("/")[2]
    room = rooms.open(session_id)
    room_lock, file_lock, room = room.lock, room.file._lock, weakref.ref(room)
    seen, trimmed = [], threading.Event()

    def released():
        gc.collect()  # as the real trim does first
        seen.append({"registry": rooms._lock.locked(), "room": room_lock.locked(),
                     "file": file_lock._is_owned(),  # an RLock: held by this thread?
                     "opener": session_id in rooms._openers,
                     "open": session_id in rooms.open_ids(), "let go": room() is None})
        trimmed.set()
        return True
    monkeypatch.setattr(memory, "released", released)
    assert trimmed.wait(5), "no trim after the room closed"
    assert seen == [{"registry": False, "room": False, "file": False, "opener": False, "open": False,
                     "let go": True}]


# The C library's allocator, from `python app.py`

class Exec:
    """os.execv, recording what it was asked (and returning, where the real one would not)."""

    def __init__(self):
        self.calls = []

    def __call__(self, path, argv):
        self.calls.append((path, list(argv)))


def test_the_app_starts_again_on_the_c_librarys_malloc_with_the_same_command_line():
    environ, execv = {}, Exec()
    memory.use_system_allocator(environ=environ, libc=FakeLibc(), execv=execv)
    assert environ["PYTHONMALLOC"] == "malloc"
    assert execv.calls == [(sys.executable, sys.orig_argv)]


@pytest.mark.parametrize("environ", [{"PYTHONMALLOC": "malloc"}, {"PYTHONMALLOC": "pymalloc"}, {"PYTHONMALLOC": ""}])
def test_an_allocator_already_chosen_is_kept_and_the_process_not_started_again(environ):
    execv, chosen = Exec(), dict(environ)
    memory.use_system_allocator(environ=environ, libc=FakeLibc(), execv=execv)
    assert execv.calls == [] and environ == chosen


def test_without_glibc_the_allocator_is_left_alone():
    environ, execv = {}, Exec()
    memory.use_system_allocator(environ=environ, libc=None, execv=execv)
    assert execv.calls == [] and environ == {}


def test_a_python_told_to_ignore_the_environment_is_not_started_again(monkeypatch):
    """python -E would never see PYTHONMALLOC: starting again would loop for ever."""
    monkeypatch.setattr(sys, "flags", SimpleNamespace(ignore_environment=1))
    environ, execv = {}, Exec()
    memory.use_system_allocator(environ=environ, libc=FakeLibc(), execv=execv)
    assert execv.calls == [] and environ == {}


# Compaction: what is kept for every session is re-made as rooms close

class Keeper:
    def __init__(self, calls: list, fail: bool = False):
        self.calls, self.fail = calls, fail

    def compact(self):
        self.calls.append(self)
        if self.fail:
            raise RuntimeError("boom")


def test_a_fresh_string_is_equal_but_a_new_object():
    for text in ("Wh7SnXMaSBnn", "KA7YAJ", "é and 😀"):
        copy = memory.fresh(text)
        assert copy == text and copy is not text


def test_compaction_calls_each_live_owner_once_and_a_failure_stops_none_of_the_others(caplog, monkeypatch):
    monkeypatch.setattr(memory, "_compactions", [])
    calls = []
    first, failing, last = Keeper(calls), Keeper(calls, fail=True), Keeper(calls)
    gone = Keeper(calls)
    for keeper in (first, failing, gone, last):
        memory.compact_when_quiet(keeper.compact)
    del gone  # held weakly: an app that has gone is not kept alive, nor called
    gc.collect()
    memory.compact()
    assert calls == [first, failing, last]
    assert "compacting" in caplog.text and "boom" in caplog.text
    assert len(memory._compactions) == 4  # pruned at the next registration
    memory.compact_when_quiet(first.compact)
    assert len(memory._compactions) == 4


def test_compaction_empties_the_caches_that_keep_strings_made_while_busy():
    import urllib.parse
    urllib.parse.urlsplit("/s/abc/share?x=1")
    assert urllib.parse.urlsplit.cache_info().currsize > 0
    memory.compact()
    assert urllib.parse.urlsplit.cache_info().currsize == 0


def test_the_registry_re_makes_each_sessions_id_and_join_code_and_still_finds_them(tmp_path):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data")})
    registry = app.extensions["ecsa"]
    client = app.test_client()
    made = [client.post("/sessions", data=SESSION_FORM).headers["Location"].split("/")[2] for _ in range(3)]
    before = dict(registry._by_code)
    kept_ids = {session_id: session_id for session_id in registry.directory._known}
    registry.compact()
    after = registry._by_code
    assert after == before and sorted(registry.directory.ids()) == sorted(made)
    known = {session_id: session_id for session_id in registry.directory._known}
    for code, session_id in after.items():
        old_code = next(c for c in before if c == code)
        assert code is not old_code and session_id is not kept_ids[session_id]
        assert session_id is known[session_id]  # one copy of each id, shared by both indexes
        assert registry.session_of_code(code) == session_id and registry.get(session_id) is not None
    code, session_id = next(iter(after.items()))
    joining = client.get(f"/join/{code}")
    assert joining.status_code == 303 and f"/s/{session_id}/" in joining.headers["Location"]


@pytest.mark.skipif(memory.GLIBC is None, reason="the trim is glibc's")
def test_each_trim_compacts_first(monkeypatch):
    done = []
    monkeypatch.setattr(memory, "compact", lambda: done.append("compact"))
    monkeypatch.setattr(memory.gc, "collect", lambda: done.append("collect"))
    memory.collect_and_trim()
    assert done == ["compact", "collect"]
