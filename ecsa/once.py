"""Submitting the same form twice does its work once.

A double tap on "Join session" on a phone sends two POSTs at once, both without the
cookie the first would set: without this, the group sees the same person twice, and the
record keeps both (and a double tap on "Create session" makes two sessions). Each form
carries a random attempt id; the first submission with a given id (and the same values)
does the work, and any repeat gets the same result. An id is 128 random bits that only
the page showing the form ever holds, so it cannot be guessed to borrow someone's result.

With more than one process, the two taps may land on two of them: `run` then also claims
the submission across processes through `across` (the placement: see
ecsa/placement.RedisPlacement.run_once), so only the first anywhere does the work.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from functools import partial
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")
ATTEMPT = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_attempt() -> str:
    """A fresh attempt id for a form about to be shown."""
    return secrets.token_urlsafe(16)


def valid_attempt(value) -> str | None:
    """The attempt id sent with a form, if it looks like one we hand out."""
    return value if isinstance(value, str) and ATTEMPT.fullmatch(value) else None


class Once:
    """The results of recent submissions by key; a repeat waits for and reuses the first."""

    def __init__(self, keep: int = 4096):
        self.keep = keep
        self._lock = threading.Lock()
        self._results: OrderedDict[Hashable, object] = OrderedDict()
        self._running: dict[Hashable, threading.Lock] = {}

    def run(self, key: Hashable | None, work: Callable[[], T],
            across: Callable[[str, Callable[[], T]], T] | None = None) -> T:
        """work(), unless a submission with this key already ran it: then its result.

        `across(name, work)`, if given, runs work() only if no other process ran (or is
        running) the submission named `name`; its result must then be JSON (strings, lists).
        """
        if key is None:
            return work()
        do = partial(across, shared_name(key), work) if across else work
        with self._lock:
            if key in self._results:
                return self._results[key]
            running = self._running.setdefault(key, threading.Lock())
        with running:  # a repeat arriving mid-way waits here for the first to finish
            with self._lock:
                if key in self._results:
                    return self._results[key]
            result = do()  # if this raises, nothing is kept and a repeat tries again
            with self._lock:
                self._results[key] = result
                while len(self._results) > self.keep:
                    self._results.popitem(last=False)
                self._running.pop(key, None)
            return result


def shared_name(key: Hashable) -> str:
    """A submission's name outside this process: a digest, so what was typed never leaves it."""
    return hashlib.sha256(repr(key).encode()).hexdigest()
