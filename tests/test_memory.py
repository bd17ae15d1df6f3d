"""Memory is given back to the system when rooms close: trims are rate-limited, never made
while a lock is held, and nothing at all is done where the C library is not glibc."""

from __future__ import annotations

import gc
import threading
import time
import weakref

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
