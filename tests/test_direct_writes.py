"""Direct WebSocket writes (the fast path in ecsa/realtime/transport.py): order kept, a slow
reader never blocks the sender; and a real server, on either path (ECSA_FAST_TRANSPORT=1 or
0), delivers every push in order and every binary message whole over a WebSocket."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
import simple_websocket
from engineio import packet as eio_packet
from wsproto.utilities import LocalProtocolError

from conftest import SESSION_FORM
from ecsa.realtime import socketio, transport


class FakeConnection:
    """Stands in for simple_websocket.Server: `ws` frames a message as its text plus a newline."""

    def __init__(self):
        self.connected = True
        self.ws = self

    def send(self, event) -> bytes:
        data = event.data
        return (data if isinstance(data, bytes) else data.encode()) + b"\n"


def read_lines(sock: socket.socket, count: int, timeout: float = 10) -> list[str]:
    """Read count newline-ended messages from a socket."""
    sock.settimeout(timeout)
    buffer = b""
    while buffer.count(b"\n") < count:
        chunk = sock.recv(65536)
        assert chunk, "the writer closed the connection early"
        buffer += chunk
    return buffer.decode().splitlines()


@pytest.fixture
def pair():
    """A connected socket pair with small buffers, so a reader that stops reading fills them."""
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    yield a, b
    a.close()
    b.close()


def test_a_reader_that_stops_reading_never_blocks_the_writer_and_loses_nothing(pair):
    writer_side, reader_side = pair
    lock = threading.Lock()
    wire = transport.Wire(FakeConnection(), writer_side, lock)
    message = "x" * 200
    finished = threading.Event()

    def write_all():
        for number in range(2000):  # ~400 KB: far more than the socket buffers hold
            with lock:
                wire.write(f"{number}:{message}")
        finished.set()

    threading.Thread(target=write_all, daemon=True).start()
    assert finished.wait(5), "a write blocked on a full buffer"
    assert wire.draining, "the buffer never filled: the test proves nothing"
    lines = read_lines(reader_side, 2000)
    assert [int(line.split(":")[0]) for line in lines] == list(range(2000))
    assert all(line.endswith(message) for line in lines)
    deadline = time.monotonic() + 5
    while wire.draining and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not wire.draining and wire.backlog == []


def test_writes_after_the_backlog_drains_go_straight_out_again(pair):
    writer_side, reader_side = pair
    lock = threading.Lock()
    wire = transport.Wire(FakeConnection(), writer_side, lock)
    with lock:
        for number in range(1000):
            wire.write(f"{number}:{'y' * 100}")
    read_lines(reader_side, 1000)
    deadline = time.monotonic() + 5
    while wire.draining and time.monotonic() < deadline:
        time.sleep(0.01)
    with lock:
        wire.write("after")
        assert not wire.draining and wire.backlog == []
    assert read_lines(reader_side, 1) == ["after"]


def test_a_closed_connection_drops_writes_quietly(pair):
    writer_side, reader_side = pair
    connection = FakeConnection()
    wire = transport.Wire(connection, writer_side, threading.Lock())
    reader_side.close()
    wire.write("to nobody")          # the peer is gone: no exception for the sender
    connection.connected = False
    wire.write("after the close")    # closed: not even framed
    assert wire.backlog == []


def test_a_connection_closing_this_very_moment_does_not_break_the_sender(pair):
    """The peer's close is being handled (wsproto refuses to frame), but `connected` is
    still true: the write is dropped quietly, so a fan-out carries on to everyone else."""
    writer_side, _ = pair
    connection = FakeConnection()

    def refuse(event):
        raise LocalProtocolError("Connection cannot be used to send data")
    connection.send = refuse
    wire = transport.Wire(connection, writer_side, threading.Lock())
    wire.write("to a closing connection")
    assert wire.backlog == [] and not wire.draining


class FakeEngineSocket:
    def __init__(self):
        self.upgraded, self.upgrading = True, False


def test_the_queue_writes_what_waited_first_then_writes_directly(pair):
    writer_side, reader_side = pair
    engine_queue = transport.DirectQueue()
    for number in range(3):  # queued during the handshake, before the writer thread runs
        engine_queue.put(eio_packet.Packet(eio_packet.MESSAGE, f"early {number}"))
    websocket = type("WebSocket", (), {})()
    websocket.ws = FakeConnection()
    websocket.ws.sock = writer_side
    engine_queue.socket, engine_queue.websocket = FakeEngineSocket(), websocket
    got = queue.Queue()

    def engine_writer():  # what Engine.IO's writer thread does: wait on the queue
        got.put(engine_queue.get(timeout=0.1))

    thread = transport.DaemonThread(target=engine_writer)
    thread.start()
    time.sleep(0.3)  # well past the writer's own timeout: once attached it waits for the close
    assert thread.is_alive() and engine_queue.wire is not None
    engine_queue.put(eio_packet.Packet(eio_packet.MESSAGE, "late"))
    assert read_lines(reader_side, 4) == ["4early 0", "4early 1", "4early 2", "4late"]
    engine_queue.put(None)  # the socket closes: the writer thread gets its None and ends
    thread.join(5)
    assert got.get_nowait() is None


def test_before_the_upgrade_it_is_an_ordinary_queue():
    engine_queue = transport.DirectQueue()
    engine_queue.socket = FakeEngineSocket()
    engine_queue.socket.upgraded = False  # long-polling: the GET request reads the queue
    engine_queue.put(eio_packet.Packet(eio_packet.MESSAGE, "polled"))
    assert engine_queue.get(timeout=1).data == "polled"
    with pytest.raises(queue.Empty):
        engine_queue.get(timeout=0.05)
    assert engine_queue.wire is None


# ---- through a real server -----------------------------------------------------------------

def websocket_client(base: str, cookie: str, session_id: str) -> simple_websocket.Client:
    """A raw Engine.IO v4 WebSocket client, connected to the session's namespace."""
    url = base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    # simple-websocket's client sends Host without the port, so that is the page's origin
    origin = "http://" + base.split("//")[1].split(":")[0]
    client = simple_websocket.Client.connect(url, headers={"Cookie": cookie, "Origin": origin})
    # Engine.IO open. 15 s, not 5: once (1 CI run in 6, stock path, right after the Chromium
    # tests) the open packet took longer than 5 s to arrive; never seen in 9 reruns alone.
    opened = client.receive(timeout=15)
    assert opened and opened.startswith("0"), f"no Engine.IO open packet: {opened!r}"
    client.send("40" + json.dumps({"session": session_id}))
    return client


def events(client: simple_websocket.Client, name: str, count: int, timeout: float = 10) -> list:
    """The next count events of that name (answering pings, skipping other events)."""
    found, deadline = [], time.monotonic() + timeout
    while len(found) < count:
        message = client.receive(timeout=max(0.01, deadline - time.monotonic()))
        assert message is not None, f"only {len(found)} of {count} {name!r} events arrived"
        if message == "2":
            client.send("3")
        elif message.startswith("42"):
            event, *args = json.loads(message[2:])
            if event == name:
                found.append(args[0])
    return found


def acknowledged(client: simple_websocket.Client, timeout: float = 10) -> None:
    """Read until the server has acknowledged the namespace connection ("40{sid}")."""
    deadline = time.monotonic() + timeout
    while True:
        message = client.receive(timeout=max(0.01, deadline - time.monotonic()))
        assert message is not None, "the connection was never acknowledged"
        if message == "2":
            client.send("3")
        elif isinstance(message, str) and message.startswith("40"):
            return


def joined_cookie(base: str) -> tuple[str, str]:
    """Create a session over HTTP (the facilitator's cookie joins it); returns (cookie, session id)."""
    form = urlencode(SESSION_FORM, doseq=True).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(base + "/sessions", data=form))
    except urllib.error.HTTPError as answer:
        assert answer.code == 303
        session_id = answer.headers["Location"].split("/")[2]
        cookie = answer.headers["Set-Cookie"].split(";")[0]
        return cookie, session_id
    raise AssertionError("creating a session did not redirect")


def test_a_websocket_gets_every_push_in_order_and_closes_cleanly(serving):
    base, app = serving
    cookie, session_id = joined_cookie(base)
    client = websocket_client(base, cookie, session_id)
    assert events(client, "follow", 1)  # connected: the room told it about follow-me
    engine = socketio.server.eio

    def push(start):
        with app.app_context():
            for number in range(start, start + 300):
                socketio.emit("seq", {"n": number}, to=session_id)

    pushers = [threading.Thread(target=push, args=(start,)) for start in (0, 1000)]
    for pusher in pushers:
        pusher.start()
    for pusher in pushers:
        pusher.join()
    got = [item["n"] for item in events(client, "seq", 600)]
    for start in (0, 1000):  # each sender's pushes arrive complete and in its order
        assert [n for n in got if start <= n < start + 300] == list(range(start, start + 300))
    client.close()
    deadline = time.monotonic() + 5
    while not all(s.closed for s in list(engine.sockets.values())) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(s.closed for s in list(engine.sockets.values())), "the server kept the socket open"
    assert not [t for t in threading.enumerate() if t.name.startswith("ecsa-ws-backlog")]


def test_with_the_fast_path_on_a_websocket_is_written_directly(serving):
    base, app = serving
    if not app.extensions["ecsa.fast_transport"]:
        pytest.skip("the fast transport is off (ECSA_FAST_TRANSPORT=0, or other library versions): "
                    "Engine.IO's own writer threads send")
    cookie, session_id = joined_cookie(base)
    client = websocket_client(base, cookie, session_id)
    assert events(client, "follow", 1)
    queues = [s.queue for s in list(socketio.server.eio.sockets.values())]
    deadline = time.monotonic() + 5
    while not any(q.wire for q in queues) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any(isinstance(q, transport.DirectQueue) and q.wire for q in queues), "not writing directly"
    client.close()


def test_with_the_fast_path_off_engine_io_keeps_its_own_queues(serving):
    base, app = serving
    if app.extensions["ecsa.fast_transport"]:
        pytest.skip("the fast transport is on: ECSA_FAST_TRANSPORT=0 runs this (as .ci/run does)")
    cookie, session_id = joined_cookie(base)
    client = websocket_client(base, cookie, session_id)
    assert events(client, "follow", 1)
    assert not any(isinstance(s.queue, transport.DirectQueue) for s in list(socketio.server.eio.sockets.values()))
    client.close()


def test_binary_messages_sent_at_once_from_two_threads_arrive_whole(serving):
    """A binary message is two packets (header, attachment): nothing may come in between."""
    base, app = serving
    cookie, session_id = joined_cookie(base)
    client = websocket_client(base, cookie, session_id)
    acknowledged(client)  # python-socketio sends that itself, past the client manager

    def push(start):
        with app.app_context():
            for number in range(start, start + 200):
                socketio.emit("blob", {"n": number, "bytes": str(number).encode()}, to=session_id)

    pushers = [threading.Thread(target=push, args=(start,)) for start in (0, 1000)]
    for pusher in pushers:
        pusher.start()
    for pusher in pushers:
        pusher.join()
    received, deadline = [], time.monotonic() + 10
    while len(received) < 400:
        message = client.receive(timeout=max(0.01, deadline - time.monotonic()))
        assert message is not None, f"only {len(received)} of 400 binary messages arrived"
        if message == "2":
            client.send("3")
        elif isinstance(message, str) and message.startswith("451-"):
            event, header = json.loads(message[4:])
            attachment = client.receive(timeout=5)
            assert isinstance(attachment, bytes), f"{event} {header['n']}: the attachment did not follow its header"
            assert attachment == str(header["n"]).encode(), "an attachment followed another message's header"
            received.append(header["n"])
    assert sorted(received) == list(range(200)) + list(range(1000, 1200))
    client.close()


def test_a_device_that_vanishes_is_dropped_by_the_ping_and_leaves_the_presence_list(serving):
    """A phone whose Wi-Fi drops sends no goodbye: the unanswered ping must drop it."""
    base, app = serving
    engine = socketio.server.eio
    engine.ping_interval, engine.ping_timeout = 1, 1  # the app's 5 s + 5 s, shortened for the test
    cookie, session_id = joined_cookie(base)
    watcher = websocket_client(base, cookie, session_id)
    vanishing = websocket_client(base, cookie, session_id)
    assert events(vanishing, "follow", 1)
    room = app.extensions["ecsa"].get(session_id).room
    deadline = time.monotonic() + 5
    while len(room.connections) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(room.connections) == 2
    started, lists = time.monotonic(), []  # from now on `vanishing` never reads or answers a ping
    while len(room.connections) > 1 and time.monotonic() - started < 6:
        lists += answer_pings(watcher, 0.1)  # the watcher's page stays alive
    dropped_after = time.monotonic() - started
    assert len(room.connections) == 1, "the silent device was never dropped"
    assert dropped_after < 3.5  # interval + timeout (2 s) and a little
    lists += answer_pings(watcher, 0.5)
    assert watcher.connected and "Here now (1)" in lists[-1]["html"]  # the room was told
    watcher.close()


def answer_pings(client: simple_websocket.Client, seconds: float) -> list:
    """Read for a while as a live page does, answering pings; returns the presence lists received."""
    lists, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        message = client.receive(timeout=left)
        if message == "2":
            client.send("3")
        elif isinstance(message, str) and message.startswith("42"):
            event, *args = json.loads(message[2:])
            if event == "presence":
                lists.append(args[0])
    return lists
