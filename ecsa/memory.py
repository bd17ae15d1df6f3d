"""Giving memory back to the system when rooms close (issue #12: bounded memory).

A busy spell (1,000 sessions open at once) makes a great many small objects, and a few of
them outlive it: each new session's id and join code in the registry, entries in the
interpreter's caches. Wherever those few land, they keep the memory around them resident.
Four things, together, bring the server back to where it started once the rooms close
(`python -m bench.rooms_memory`: 1,000 new sessions opened and closed, +2.6% to +3.8%):

- **The C library's allocator** (`use_system_allocator`, from `python app.py`). CPython's
  own small-object allocator returns a 1 MiB arena only when every object in it is freed,
  so one survivor keeps a whole arena: after the busy spell 39 arenas became 78 (RSS +49%;
  still +24% to +29% with the two steps below). glibc's malloc can hand back any free
  4 KiB page (`malloc_trim`). The app therefore starts again on it (`PYTHONMALLOC=malloc`),
  once, before anything else is done; an operator's own PYTHONMALLOC wins. It costs about
  5% more CPU per live message; the latency benches in bench/RESULTS.md were run this way.
- **Compaction when rooms close** (`compact_when_quiet`): the registry re-makes the strings
  it keeps for every session, so the copies sit together instead of one on each page the
  busy spell used (without this, +10.9%).
- **Caches emptied**: the interpreter's method cache holds on to attribute names made at
  run time ("do_GET", "_upgrade_websocket", a JSON decoder's "object_hook"), and urllib
  keeps the last URLs it split (without this, +14.3%).
- **Fewer malloc arenas** (`limit_arenas`, once at start-up): in threading mode every socket
  has a few threads, and glibc gives threads that allocate at the same time arenas of their
  own (up to 8 per core), each keeping its own free memory. The operator's
  `MALLOC_ARENA_MAX` (or `GLIBC_TUNABLES`) wins.

`released`, after a room closes, does the last three: compaction, a garbage collection (a
room's objects hold cycles), then `malloc_trim(0)`. They stop the other threads for a few
milliseconds (the collection holds the GIL; the trim holds each arena's mutex in turn), so
this is rate-limited and runs only in the thread that closed the room, holding none of the
app's locks. Where the C library is not glibc (musl, macOS, Windows) all of this is left
alone.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys
import threading
import time
import urllib.parse
import weakref
from typing import Callable

log = logging.getLogger(__name__)

M_ARENA_MAX = -8        # mallopt's parameter number for the arena limit (glibc's malloc.h)
# The start-up default. 1,000 sessions opened and closed (on CPython's own allocator) left
# RSS +47% of before with 2 arenas, +54% with glibc's default (8 per core); the rating round
# showed no slowdown beyond its run-to-run noise.
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


def use_system_allocator(environ=os.environ, libc=GLIBC, execv=os.execv) -> None:
    """Start this process again with Python's objects on the C library's malloc
    (PYTHONMALLOC=malloc), which `malloc_trim` can give back page by page; returns (doing
    nothing) if that is already so, if the operator set PYTHONMALLOC, or where the C library
    is not glibc.

    Call it first thing in `python app.py`, before any thread or open file: `os.execv`
    replaces the process (same process id, same command line, same standard streams).
    """
    if libc is None or "PYTHONMALLOC" in environ:
        return
    if sys.flags.ignore_environment:  # python -E or -I: the new process would not see it
        return
    environ["PYTHONMALLOC"] = "malloc"
    execv(sys.executable, sys.orig_argv)


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


_compactions: list[weakref.WeakMethod] = []
_compactions_lock = threading.Lock()  # a leaf: held only to read or change the list


def compact_when_quiet(method: Callable[[], object]) -> None:
    """Call the bound `method` before each trim, for as long as its object lives: it should
    re-make the small objects its owner keeps for good (see `fresh`), so they sit together.
    It is called holding no lock, from the thread that closed a room."""
    with _compactions_lock:
        _compactions[:] = [ref for ref in _compactions if ref() is not None]
        _compactions.append(weakref.WeakMethod(method))


def fresh(text: str) -> str:
    """A new string equal to `text` (not the same object), made now: kept in place of the
    old one, it is allocated next to the other objects made now, and the old one is freed."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")


def compact() -> None:
    """Have every registered owner re-make what it keeps, and empty the interpreter's caches
    that hold small objects made during a busy spell."""
    with _compactions_lock:
        methods = [ref() for ref in _compactions]
    for method in methods:
        if method is None:
            continue
        try:
            method()
        except Exception:  # a failed compaction costs memory, not the room's close
            log.exception("compacting %r failed", method)
    sys._clear_type_cache()  # attribute names made at run time ("do_GET", "object_hook"...)
    urllib.parse.clear_cache()  # the last URLs split, each with its own strings


def collect_and_trim(pad: int = 0) -> None:
    """Compact, free what only the garbage collector can (a closed room's reference cycles),
    then hand every arena's free pages back to the system; `pad` bytes are kept at each
    heap's top.

    Without the collection first, what the collector frees later stays with glibc until
    the next trim, and a server that has gone quiet may never make one.
    """
    compact()
    gc.collect()
    GLIBC.malloc_trim(pad)


TRIMMER = Trimmer(collect_and_trim if GLIBC is not None else None)


def released() -> bool:
    """A room closed: hand the memory it freed back to the system (rate-limited; glibc only)."""
    return TRIMMER.released()
