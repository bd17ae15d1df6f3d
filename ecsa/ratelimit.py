"""A small in-memory limiter for wrong join codes, so codes cannot be guessed by brute force."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class FailureLimiter:
    """Allows at most `limit` failures per key within `window` seconds."""

    def __init__(self, limit: int, window: float = 60.0, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, key: str) -> float:
        """Seconds until key may try again (0 when it may try now)."""
        with self._lock:
            failures = self._recent(key)
            if len(failures) < self.limit:
                return 0.0
            return max(0.0, failures[0] + self.window - self.clock())

    def fail(self, key: str) -> None:
        """Count one failure for key."""
        with self._lock:
            self._recent(key).append(self.clock())

    def _recent(self, key: str) -> deque:
        """The key's failures inside the window (older ones dropped)."""
        failures, cutoff = self._failures[key], self.clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures
