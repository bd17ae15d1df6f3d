"""What the crash and failover tests' stand-in pages share: a Socket.IO call that waits for
its acknowledgement (or for the connection to go), and applying someone else's notes update."""

from __future__ import annotations

import base64
import time
import threading


class NotesPage:
    """A mixin for a stand-in page with `client` (a socketio.Client), `gone` (set when the
    connection went), `lock` and `doc` (its Yjs document), typing in `indicator`'s notes."""

    indicator = "1b"

    def remote(self, message) -> None:
        """Someone else's update, fanned out by the server."""
        if message.get("indicator") == self.indicator:
            with self.lock:
                self.doc.apply_update(base64.b64decode(message["update"]))

    def call(self, event: str, data: dict, timeout: float = 10):
        """Emit and wait for the acknowledgement; None if the connection went first."""
        done, answer = threading.Event(), []

        def callback(*args):
            answer.append(args[0] if args else None)
            done.set()

        try:
            self.client.emit(event, data, callback=callback)
        except Exception:  # already disconnected
            return None
        deadline = time.monotonic() + timeout
        while not done.wait(0.05):
            if self.gone.is_set() or time.monotonic() > deadline:
                return None
        return answer[0]
