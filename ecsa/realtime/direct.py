"""Write each outgoing message straight to its WebSocket, from the thread that sends it.

In threading mode Engine.IO gives every socket a writer thread fed by a queue, so each
delivery is a queue put, a thread wake-up and a hand-over of the GIL. A keystroke
fanned out to 59 people made 59 wake-ups, and at 60 people a session those hand-overs
took most of the server's time (py-spy: `Condition.notify` alone was a third of it).

Once a socket is on WebSocket, its queue here writes a message directly instead: framed
by the connection's wsproto state and written with a non-blocking send, under the
socket's lock. When the kernel's buffer is full (a phone on poor Wi-Fi), the rest is kept
in order in a backlog that a helper thread writes out with blocking sends, and later
messages queue behind it: order is kept, and one slow reader never holds up the room.
Long-polling sockets, and anything else this cannot drive, keep Engine.IO's own path.
"""

from __future__ import annotations

import queue
import socket
import threading

from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI
from engineio.async_drivers.threading import DaemonThread
from wsproto.events import Message, TextMessage
from wsproto.utilities import LocalProtocolError


class Wire:
    """The write side of one WebSocket connection: frame, send without blocking, or backlog."""

    def __init__(self, ws, sock: socket.socket, lock: threading.Lock):
        self.ws, self.sock = ws, sock           # simple_websocket.Server and its TCP socket
        self.lock = lock                        # the socket's lock: held by every write
        self.backlog: list[bytes] = []          # frames (or their unsent tails) waiting, in order
        self.draining = False

    def write(self, data: str | bytes) -> None:
        """Send one Engine.IO packet's encoding (caller holds the socket's lock)."""
        if not self.ws.connected:
            return  # closed: the reader side notices and tears the socket down
        try:
            frame = self.ws.ws.send(TextMessage(data=data) if isinstance(data, str) else Message(data=data))
        except LocalProtocolError:
            return  # closing this very moment (the reader is handling the peer's close)
        if self.draining:
            self.backlog.append(frame)
            return
        try:
            sent = self.sock.send(frame, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the connection is gone; its reader closes the Engine.IO socket
        if sent < len(frame):
            self.backlog.append(frame[sent:])
            self.draining = True
            DaemonThread(target=self._drain, name="ecsa-ws-backlog").start()

    def _drain(self) -> None:
        """Write the backlog out with blocking sends until it is empty (a helper thread)."""
        while True:
            with self.lock:
                if not self.backlog:
                    self.draining = False
                    return
                chunk, self.backlog = b"".join(self.backlog), []
            try:
                self.sock.sendall(chunk)
            except OSError:
                with self.lock:
                    self.backlog, self.draining = [], False
                return


class DirectQueue(queue.Queue):
    """An Engine.IO socket's outgoing queue that writes straight to the WebSocket once it can.

    Until then (the handshake, long-polling, the upgrade) it is an ordinary queue. It
    switches when Engine.IO's writer thread first waits on it after the upgrade: whatever
    was queued is written first, in order, and from then on `put` writes directly. The
    writer thread stays parked on the queue until the `None` that closes the socket.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.wire: Wire | None = None
        self.socket = self.websocket = None     # set by DirectWebSocket when one opens

    def put(self, item, block=True, timeout=None):
        with self.lock:
            if self.wire is not None and item is not None:
                return self.wire.write(item.encode())
            return super().put(item, block, timeout)

    def get(self, block=True, timeout=None):
        if block and self.wire is None and self._writer_is_waiting():
            self._attach()
        if block and self.wire is not None:
            timeout = None  # nothing arrives here any more but the closing None
        return super().get(block, timeout)

    def _writer_is_waiting(self) -> bool:
        """Whether the caller is Engine.IO's WebSocket writer thread, past the upgrade."""
        engine = self.socket
        return (self.websocket is not None and engine is not None and engine.upgraded
                and not engine.upgrading and isinstance(threading.current_thread(), DaemonThread))

    def _attach(self) -> None:
        """Switch to direct writes, first writing out what is already queued."""
        ws = self.websocket.ws
        sock = getattr(ws, "sock", None)
        if not isinstance(sock, socket.socket) or sock.gettimeout() not in (None, 0.0):
            return  # not a plain blocking socket: keep Engine.IO's writer
        with self.lock:
            wire = Wire(ws, sock, self.lock)
            closing = False
            while True:
                try:
                    item = super().get(block=False)
                except queue.Empty:
                    break
                super().task_done()
                if item is None:
                    closing = True
                else:
                    wire.write(item.encode())
            if closing:
                super().put(None)
            self.wire = wire


class DirectWebSocket(SimpleWebSocketWSGI):
    """Engine.IO's threading WebSocket, telling the socket's queue which connection it has."""

    def __call__(self, environ, start_response):
        engine = getattr(self.app, "__self__", None)  # the Engine.IO socket this handler belongs to
        if engine is not None and isinstance(engine.queue, DirectQueue):
            engine.queue.socket, engine.queue.websocket = engine, self
        return super().__call__(environ, start_response)


def install(eio_server) -> None:
    """Make an Engine.IO server (threading mode) write messages directly to WebSockets."""
    eio_server._async = dict(eio_server._async, queue=DirectQueue, websocket=DirectWebSocket)
