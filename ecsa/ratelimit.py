"""Pacing of join-code guesses, so codes cannot be found by brute force.

A right code is never refused: a hospital's NAT, or the reverse proxy in front of the app,
puts a whole room behind one address, and ten typos there must not lock the room out.
So instead of refusing an address that has sent too many wrong codes, its further tries
are *paced*: each waits for a slot, one per `pace` seconds, and a try that would wait longer
than `max_wait` is refused unchecked. A person typing the right code after the room's
typos waits about a second; a script from that address gets one guess a second, however
many connections it opens. The same pacing server-wide bounds guessing spread over many
addresses. With 25⁶ ≈ 244 million codes, finding a given session at 20 guesses a second
takes about 70 days on average.
"""

from __future__ import annotations

import threading
import time
from collections import deque

MAX_KEYS = 10_000  # addresses remembered at once: beyond this, the quiet ones are dropped


class GuessPacer:
    """Free tries up to `limit` wrong guesses per key a `window`; then one try per `pace` s."""

    def __init__(self, limit: int, window: float = 60.0, pace: float = 1.0, max_wait: float = 5.0,
                 clock=time.monotonic):
        self.limit, self.window, self.pace, self.max_wait, self.clock = limit, window, pace, max_wait, clock
        self._failures: dict[str, deque] = {}
        self._next_slot: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> float | None:
        """Seconds this try must wait before its code is checked (0: now); None: refuse it
        unchecked, since too many of this key's tries are already waiting."""
        with self._lock:
            if len(self._recent(key)) < self.limit:
                return 0.0
            now = self.clock()
            slot = max(now, self._next_slot.get(key, now))
            if slot - now > self.max_wait:
                return None
            self._next_slot[key] = slot + self.pace
            return slot - now

    def fail(self, key: str) -> None:
        """Count one wrong guess for key."""
        with self._lock:
            if key not in self._failures and len(self._failures) >= MAX_KEYS:
                self._forget_quiet()
            self._failures.setdefault(key, deque()).append(self.clock())

    def _recent(self, key: str) -> deque:
        """The key's wrong guesses inside the window (older ones dropped)."""
        failures, cutoff = self._failures.get(key, deque()), self.clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures

    def _forget_quiet(self) -> None:
        """Drop keys with no wrong guess inside the window (bounded memory under a spray of addresses)."""
        for key in [key for key in self._failures if not self._recent(key)]:
            del self._failures[key]
            self._next_slot.pop(key, None)
