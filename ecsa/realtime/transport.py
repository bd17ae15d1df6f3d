"""How the live layer drives python-socketio and python-engineio: the one module that may
reach into their private internals, and only behind a switch and a version check.

Always on, through public interfaces only:

- `WholeMessages`, the client manager (the documented `client_manager=` hook): python-socketio
  queues a message with binary data as several Engine.IO packets, and two threads emitting
  to one socket at once could interleave them and garble both; such emits take one lock.
- `allow_batched_polls`: a long-polling request may carry many queued messages.

The fast path (`ECSA_FAST_TRANSPORT=1`, the default) writes each outgoing message straight
to its WebSocket from the sending thread (`DirectQueue`, `Wire`). It replaces Engine.IO's
private `_async` driver table and leans on simple-websocket's and wsproto's connection
objects, so it is used only with the versions in `WRITTEN_FOR` (the pins in
requirements.txt); with any other version the app logs one line and runs the stock path.
"""

from __future__ import annotations

import functools
import logging
import queue
import socket
import threading
from contextlib import contextmanager
from importlib import metadata

import socketio
from engineio.payload import Payload
from wsproto.events import Message, TextMessage
from wsproto.utilities import LocalProtocolError

try:  # Engine.IO's threading driver runs each socket's writer in one of these
    from engineio.async_drivers.threading import DaemonThread
except ImportError:  # another Engine.IO: the version check keeps the fast path off
    DaemonThread = None

log = logging.getLogger(__name__)

# The versions the fast path was written and measured for: the pins in requirements.txt
# (tests/test_transport_switch.py fails when the two disagree).
WRITTEN_FOR = {"python-engineio": "4.15.1", "python-socketio": "5.18.1",
               "simple-websocket": "1.1.0", "wsproto": "1.3.2"}
# Engine.IO drops a whole long-polling request holding more than its default of 16 packets
# (a binary notes update counts twice). MAX_MESSAGE_BYTES still bounds what one carries.
POLL_PACKETS = 512


def install(server: socketio.Server, fast: bool) -> bool:
    """Use the fast path on this server if `fast` and the installed versions are the ones it
    was written for; True if it is in use."""
    if not fast:
        return False
    differ = version_mismatches()
    if differ:
        log.warning("ECSA_FAST_TRANSPORT: the fast live transport was written for %s but %s is "
                    "installed; using the stock Socket.IO path", _listed(WRITTEN_FOR),
                    _listed(differ))
        return False
    _write_directly(server.eio)
    return True


def version_mismatches() -> dict[str, str]:
    """Each package in WRITTEN_FOR whose installed version differs: name -> installed."""
    found = {}
    for name, wanted in WRITTEN_FOR.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "none"
        if installed != wanted:
            found[name] = installed
    if DaemonThread is None and "python-engineio" not in found:
        found["python-engineio"] = "without a threading DaemonThread"
    return found


def _listed(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items())


def allow_batched_polls() -> None:
    """Let one long-polling request carry up to POLL_PACKETS packets (both paths need it).

    Engine.IO offers this only as a class attribute of its public `Payload`, so it holds
    for the whole process; it is only ever raised, never lowered below what someone set.
    """
    Payload.max_decode_packets = max(Payload.max_decode_packets, POLL_PACKETS)


class WholeMessages(socketio.Manager):
    """A client manager that hands each emitted message to sockets' queues in one piece.

    A message with binary data is several packets (a header, then each attachment), and a
    packet of any other message queued in between would garble it. So a binary emit runs
    alone, while text emits (one packet each: everything this app sends) run side by side,
    and fan-outs to different rooms never wait for each other. What python-socketio sends
    by itself (the connect acknowledgement, replies to a client's events) does not pass
    here: it is text, and the app sends no binary, so it garbles nothing today.
    """

    def __init__(self):
        super().__init__()
        self.sends = SharedOrAlone()

    def emit(self, event, data, *args, **kwargs):
        binary = self.server.packet_class.data_is_binary(list(data) if isinstance(data, tuple) else data)
        with self.sends.alone() if binary else self.sends.shared():
            return super().emit(event, data, *args, **kwargs)


class SharedOrAlone:
    """A lock that many threads may hold together (`shared`) or one thread alone (`alone`).

    A waiting `alone` is not starved: new `shared` holders wait behind it. The thread
    holding it alone may take it again either way; a `shared` holder must not take it
    again (an emit never emits).
    """

    def __init__(self):
        self._changed = threading.Condition(threading.Lock())
        self._sharing = 0
        self._owner: int | None = None   # the thread holding it alone
        self._depth = 0
        self._waiting = 0                # threads waiting to hold it alone

    @contextmanager
    def shared(self):
        me = threading.get_ident()
        if self._owner == me:            # already alone: sharing with itself is fine
            yield
            return
        with self._changed:
            self._changed.wait_for(lambda: self._owner is None and not self._waiting)
            self._sharing += 1
        try:
            yield
        finally:
            with self._changed:
                self._sharing -= 1
                if not self._sharing:
                    self._changed.notify_all()

    @contextmanager
    def alone(self):
        me = threading.get_ident()
        with self._changed:
            if self._owner != me:
                self._waiting += 1
                self._changed.wait_for(lambda: self._owner is None and not self._sharing)
                self._waiting -= 1
                self._owner = me
            self._depth += 1
        try:
            yield
        finally:
            with self._changed:
                self._depth -= 1
                if not self._depth:
                    self._owner = None
                    self._changed.notify_all()


# ---- the fast path: direct writes (private internals; only under the versions above) ---------
#
# In threading mode Engine.IO gives every socket a writer thread fed by a queue, so each
# delivery is a queue put, a thread wake-up and a hand-over of the GIL. A keystroke fanned
# out to 59 people made 59 wake-ups, and at 60 people a session those hand-overs took most
# of the server's time (py-spy: `Condition.notify` alone was a third of it).
#
# Once a socket is on WebSocket, its queue here writes a message directly instead: framed by
# the connection's wsproto state and written with a non-blocking send, under the socket's
# lock. When the kernel's buffer is full (a phone on poor Wi-Fi), the rest is kept in order
# in a backlog that a helper thread writes out with blocking sends, and later messages queue
# behind it: order is kept, and one slow reader never holds up the room. Long-polling
# sockets, and anything else this cannot drive, keep Engine.IO's own path.


def _write_directly(eio_server) -> None:
    """Make an Engine.IO server (threading mode) write messages directly to WebSockets."""
    drivers = eio_server._async  # private: the async driver's table of classes
    eio_server._async = dict(drivers, queue=DirectQueue,
                             websocket=functools.partial(DirectWebSocket, drivers["websocket"]))


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
            threading.Thread(target=self._drain, name="ecsa-ws-backlog", daemon=True).start()

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


class DirectWebSocket:
    """Engine.IO's threading WebSocket handler (`stock`), telling the socket's queue which
    connection it has before it runs."""

    def __init__(self, stock, handler, server, **kwargs):
        self.websocket = stock(handler, server, **kwargs)
        self.engine = getattr(handler, "__self__", None)  # the Engine.IO socket it serves

    def __call__(self, environ, start_response):
        engine = self.engine
        if engine is not None and isinstance(engine.queue, DirectQueue):
            engine.queue.socket, engine.queue.websocket = engine, self.websocket
        return self.websocket(environ, start_response)
