"""Giving memory back to the system once rooms close (issue #12: bounded memory).

In threading mode every socket has a few threads, and glibc's malloc gives threads that
allocate at the same time arenas of their own (up to 8 per core). When a room closes its
objects are freed, but glibc keeps the freed pages for reuse instead of returning them,
so the server's resident memory stays near its peak long after the sessions have gone.
Two things help, both through glibc's own interface (ctypes), and both no-ops where the C
library is not glibc (musl, macOS, Windows):

- `limit_arenas`, once at start-up: fewer arenas, so less memory stranded in them. The
  operator's own `MALLOC_ARENA_MAX` (or `GLIBC_TUNABLES`) wins.
- `released`, after a room closes: a garbage collection (a room's objects hold cycles),
  then `malloc_trim(0)`, which returns the free pages of every arena. Both stop the other
  threads for a few milliseconds (the collection holds the GIL; the trim holds each arena's
  mutex in turn), so this is rate-limited and runs only in the thread that closed the room,
  holding none of the app's locks.

Neither reaches CPython's own small-object allocator: it returns a 1 MiB arena only when
every object in it is freed, and the few objects that outlive a busy spell (a new
session's entry in the registry, a bounded cache's entries) keep whole arenas resident.
After 1,000 sessions that is what remains (`python -m bench.rooms_memory` counts them).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

M_ARENA_MAX = -8        # mallopt's parameter number for the arena limit (glibc's malloc.h)
# The start-up default. 1,000 sessions opened and closed left RSS +47% of before with 2
# arenas, +54% with glibc's default (8 per core); the rating round showed no slowdown
# beyond its run-to-run noise.
ARENA_MAX = 2
TRIM_INTERVAL = 5.0     # seconds: at most one trim this often, however many rooms close


def _glibc():
    """The process's glibc (for malloc_trim and mallopt), or None under any other C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded: the C library Python runs on
    except OSError:
        return None
    # Only glibc has gnu_get_libc_version; musl has neither it nor malloc_trim.
    glibc = all(hasattr(libc, name) for name in ("gnu_get_libc_version", "malloc_trim", "mallopt"))
    return libc if glibc else None


GLIBC = _glibc()


def limit_arenas(default: int = ARENA_MAX, environ=os.environ, libc=GLIBC) -> int | None:
    """Cap glibc's malloc arenas at `default` unless the operator chose a limit; the limit set
    by this call, or None (the operator's setting stands, or this is not glibc).

    Call before the server starts its threads: a thread's arena is chosen at its first malloc.
    """
    if libc is None or environ.get("MALLOC_ARENA_MAX") or "arena_max" in environ.get("GLIBC_TUNABLES", ""):
        return None
    if not libc.mallopt(M_ARENA_MAX, default):  # mallopt answers 1 on success, 0 on error
        log.warning("could not limit glibc's malloc arenas to %d", default)
        return None
    return default


class Trimmer:
    """Calls `trim` (glibc's malloc_trim) at most once every `interval` seconds.

    A burst of closes (the end of a busy day) trims once at its start and once `interval`
    after it, so the memory the last of them freed is returned too. The trim itself runs in
    the caller's thread (or, for the trailing one, a timer's) outside this object's lock:
    a trim can take tens of milliseconds, and no other thread should wait on it.
    """

    def __init__(self, trim: Callable[[int], object] | None, interval: float = TRIM_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.trim, self.interval, self.clock = trim, interval, clock
        self._lock = threading.Lock()  # a leaf: held only to decide, never while trimming
        self._last = -interval
        self._pending: threading.Timer | None = None

    def released(self) -> bool:
        """Memory was just freed (a room closed): trim now if none was done in the last
        `interval` seconds, else make sure one follows when the interval is up. True if
        this call trimmed."""
        if self.trim is None:
            return False
        with self._lock:
            wait = self._last + self.interval - self.clock()
            if wait > 0:
                if self._pending is None:
                    self._pending = threading.Timer(wait, self._trailing)
                    self._pending.daemon = True
                    self._pending.start()
                return False
            self._last = self.clock()
        self._trim()
        return True

    def settled(self) -> bool:
        """True when no trailing trim is waiting to run."""
        with self._lock:
            return self._pending is None

    def _trailing(self) -> None:
        """The trim owed to the closes of the last interval (a timer thread)."""
        with self._lock:
            self._pending, self._last = None, self.clock()
        self._trim()

    def _trim(self) -> None:
        """Return freed heap to the system, never while holding a lock."""
        self.trim(0)


def collect_and_trim(pad: int = 0) -> None:
    """Free what only the garbage collector can (a closed room's reference cycles), then hand
    every arena's free pages back to the system; `pad` bytes are kept at each heap's top.

    Without the collection first, what the collector frees later stays with glibc until
    the next trim, and a server that has gone quiet may never make one.
    """
    gc.collect()
    GLIBC.malloc_trim(pad)


TRIMMER = Trimmer(collect_and_trim if GLIBC is not None else None)


def released() -> bool:
    """A room closed: hand the memory it freed back to the system (rate-limited; glibc only)."""
    return TRIMMER.released()
