"""The load generator: K sessions x N Socket.IO clients per server, all in this one process.

Every client is a python-socketio `AsyncClient` on the WebSocket transport. In each
session the first W = min(N, 10) clients are writers: each sends edits open-loop (Poisson
arrivals at a fixed rate), whatever the server's answers are doing; every other client
of the session receives them. An edit is a real pycrdt (Yjs) update of about 100 bytes:
each writer retypes its own line of the notes, "<writer>:<seq>:<offset>|....". Since all
clients live in this process, a side map from the update's bytes to (writer, seq,
scheduled time) identifies every delivery. Latency = receipt time - *scheduled* send time,
so a server (or a generator) that falls behind cannot hide it (no coordinated omission).

ECSA receives the edits as `notes_update` through its real handler (CRDT apply, durable
log, fan-out to the room). The relays receive the same bytes as `edit` {payload}.
Alongside the edits, ECSA sessions also take votes over HTTP, the way the page posts
them, and every client's receipt of the `changed` event is timed (see `Window.on_changed`).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import random
import re
import time
import zlib
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import socketio
from pycrdt import Doc, Text

from .plan import Plan
from .servers import CLOCK_TICKS, Server

LINE_CHARS = 64            # a 64-character line makes a pycrdt update of about 100 bytes
LEAD_S = 0.3               # time between preparing a window and its first scheduled send
CONNECTS_AT_ONCE = 16
GENERATOR_CPU_LIMIT = 0.70  # a window where the generator used more of a core is invalid
PASS_P95_MS = 100.0        # the ladder's bar for a sustained rate at N = 30
QUIET_S = 1.0              # a window closes once nothing has arrived for this long
IDLE_CPU = 0.05            # a server using less of a core than this is idle
LAG_TICK_S = 0.01
NOISY_OTHER_CPU = 0.3      # cores used by other work during a window that make it noisy

SESSION_FORM = {"title": "Benchmark workshop", "organisation": "Bench Trust", "date": "2026-12-01",
                "scope": "1", "name": "Fay Facilitator", "perspective": "staff"}


# The client libraries print to stderr unless handed a logger: these go to bench/out/generator.log.
CLIENT_LOG = logging.getLogger("bench.socketio.client")
ENGINEIO_LOG = logging.getLogger("bench.engineio.client")


# ---- who is connected ----------------------------------------------------------------------

@dataclass(eq=False)
class Member:
    """One client: its name, session, browser cookie (ECSA only) and socket."""

    name: str
    room: "Room"
    index: int
    cookie: str | None = None
    sio: socketio.AsyncClient | None = None
    voting: bool = False
    last_seq: dict = field(default_factory=dict)   # writer -> highest seq received


@dataclass(eq=False)
class Room:
    """One session (ECSA) or room (relay) and its clients, writers first."""

    id: str
    members: list[Member] = field(default_factory=list)


# ---- what one measured window saw ----------------------------------------------------------

@dataclass
class Sent:
    """One edit as scheduled: who, which number, when (seconds after the window's start)."""

    uid: int
    room: str
    writer: str
    seq: int
    offset: float


class Window:
    """One measured interval against one server: everything sent, and every receipt."""

    def __init__(self, server: Server, n: int, rate: float, duration: float, indicator: str):
        self.server, self.n, self.rate, self.duration, self.indicator = server, n, rate, duration, indicator
        self.t0 = 0.0
        self.sent: dict[bytes, Sent] = {}
        self.latencies: list[float] = []
        self.seen: set[tuple[int, int]] = set()
        self.expected = 0
        self.counts: Counter = Counter()   # duplicates, reordered, echoes, stray, refused, send errors, ...
        self.errors: Counter = Counter()   # messages of refusals and exceptions
        self.vote_latencies: list[float] = []
        self.vote_http: list[float] = []
        self.vote_seen: set[tuple[int, str, int]] = set()
        self.vote_expected = 0
        self.pending_votes: dict[tuple[str, str], deque] = defaultdict(deque)
        self.vote_times: dict[tuple[str, int], float | None] = {}
        self.gen_cpu_fraction = 0.0     # of one core, over the sending time
        self.other_cpu = 0.0            # cores used by everything else on the machine meanwhile
        self.loop_lags: list[float] = []  # the generator's event-loop lag, sampled every 10 ms
        self.server_cpu_s = 0.0         # from the first send until the drain ended
        self.drained_s = self.settled_s = 0.0

    def on_edit(self, member: Member, payload) -> None:
        """A client received an edit: record its latency, or count why it is odd."""
        now = time.perf_counter()
        try:
            payload = base64.b64decode(payload, validate=True)
        except (TypeError, ValueError):
            self.counts["corrupted (payload not base64 text)"] += 1
            return
        sent = self.sent.get(payload)
        if sent is None:
            self.counts["stray (bytes never sent)"] += 1
            return
        if sent.writer == member.name:
            self.counts["echoes"] += 1
            return
        key = (member.index, sent.uid)
        if key in self.seen:
            self.counts["duplicates"] += 1
            return
        self.seen.add(key)
        self.latencies.append(now - self.t0 - sent.offset)
        if sent.seq < member.last_seq.get(sent.writer, -1):
            self.counts["reordered"] += 1
        else:
            member.last_seq[sent.writer] = sent.seq

    def on_changed(self, member: Member, change) -> None:
        """A client received `changed`: time it from the vote's scheduled POST.

        Matching: each voter has at most one vote in flight and the server emits a
        session's events in commit order, so the first receipt of a new (session,
        event_id) belongs to the oldest unmatched vote of the voter the message names
        ("<name> rated <indicator>"). Later receipts of that event_id reuse the match.
        """
        now = time.perf_counter()
        if not isinstance(change, dict) or change.get("type") != "vote_cast":
            return
        key = (member.room.id, change.get("event_id"))
        if key not in self.vote_times:
            voter = str(change.get("message", "")).rsplit(" rated ", 1)[0]
            queue = self.pending_votes.get((member.room.id, voter))
            self.vote_times[key] = queue.popleft() if queue else None
        scheduled = self.vote_times[key]
        if scheduled is None:
            self.counts["votes unmatched"] += 1
            return
        seen = (member.index,) + key
        if seen not in self.vote_seen:
            self.vote_seen.add(seen)
            self.vote_latencies.append(now - scheduled)

    def on_ack(self, *args) -> None:
        """The server answered an edit: count a refusal and keep its message."""
        ack = args[0] if args else None
        if not (isinstance(ack, dict) and ack.get("ok")):
            self.counts["refused"] += 1
            self.errors[str(ack.get("error") if isinstance(ack, dict) else ack)] += 1

    def complete(self) -> bool:
        """Whether every expected delivery (edits and vote pushes) has arrived."""
        return len(self.seen) >= self.expected and len(self.vote_seen) >= self.vote_expected

    @property
    def drops(self) -> int:
        """Expected edit deliveries that never arrived (sequence gaps and lost tails)."""
        return self.expected - len(self.seen)

    @property
    def vote_drops(self) -> int:
        """Expected `changed` receipts of successful votes that never arrived."""
        return self.vote_expected - len(self.vote_seen)

    @property
    def deliveries_per_s(self) -> float:
        """Edit deliveries per second of sending time."""
        return len(self.seen) / self.duration

    @property
    def valid(self) -> bool:
        """False when the generator itself was the bottleneck."""
        return self.gen_cpu_fraction <= GENERATOR_CPU_LIMIT


# ---- the machine and the generator ----------------------------------------------------------

def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


async def watch_loop_lag(lags: list[float]) -> None:
    """Sample how late the generator's event loop wakes up (until cancelled)."""
    while True:
        start = time.perf_counter()
        await asyncio.sleep(LAG_TICK_S)
        lags.append(time.perf_counter() - start - LAG_TICK_S)


# ---- building edits ------------------------------------------------------------------------

def poisson_offsets(rng: random.Random, rate: float, duration: float) -> list[float]:
    """Open-loop arrival times in [0, duration) with exponential gaps at the given rate."""
    offsets, t = [], rng.expovariate(rate)
    while t < duration:
        offsets.append(t)
        t += rng.expovariate(rate)
    return offsets


def line_updates(writer: str, offsets: list[float]) -> list[bytes]:
    """Real pycrdt updates, one per offset: the writer retypes its own line of the notes.

    Each update deletes the writer's previous line and inserts the new one, so the
    notes stay far below ECSA's 20,000-character limit however long the run.
    """
    doc, updates = Doc(), []
    text = doc.get("notes", type=Text)
    doc.observe(lambda event: updates.append(event.update))
    previous = 0
    for seq, offset in enumerate(offsets):
        line = f"{writer}:{seq}:{offset:.4f}|".ljust(LINE_CHARS, ".")
        with doc.transaction():
            if previous:
                del text[0:previous]
            text.insert(0, line)
        previous = len(line)
    return updates


# ---- ECSA sessions over HTTP ---------------------------------------------------------------

def _cookie(response: aiohttp.ClientResponse) -> str:
    """The `ecsa` session cookie the response set."""
    return response.cookies["ecsa"].value


async def create_session(http: aiohttp.ClientSession, base: str, title: str) -> tuple[str, str]:
    """Create an ECSA session as its facilitator; returns (session id, join code)."""
    form = dict(SESSION_FORM, title=title)
    async with http.post(f"{base}/sessions", data=form, allow_redirects=False) as created:
        assert created.status == 303, f"creating a session answered {created.status}"
        session_id = urlsplit(created.headers["Location"]).path.split("/")[2]
        cookie = _cookie(created)
    async with http.get(f"{base}/s/{session_id}/share", headers={"Cookie": f"ecsa={cookie}"}) as share:
        code = re.search(r"/join/([A-Z0-9]{6})", await share.text())[1]
    return session_id, code


async def join_session(http: aiohttp.ClientSession, base: str, code: str, name: str) -> str:
    """Join a session with its code, as a participant would; returns the cookie."""
    form = {"name": name, "perspective": "staff"}
    async with http.post(f"{base}/join/{code}", data=form, allow_redirects=False) as joined:
        assert joined.status == 303, f"joining answered {joined.status}"
        return _cookie(joined)


# ---- one server's clients ------------------------------------------------------------------

class Fleet:
    """K rooms x N connected clients on one server, and the windows measured on them."""

    def __init__(self, server: Server, http: aiohttp.ClientSession, plan: Plan, n: int, first_index: int):
        self.server, self.http, self.plan, self.n = server, http, plan, n
        self.rooms: list[Room] = []
        self.window: Window | None = None
        self.last_window: Window | None = None
        self.next_index = first_index
        self.disconnects = self.window_disconnects = 0
        self.connect_errors: Counter = Counter()
        self.rss_before = self.rss_after = 0
        self.last_receipt = 0.0

    @property
    def members(self) -> list[Member]:
        """Every client of every room."""
        return [m for room in self.rooms for m in room.members]

    @property
    def writers(self) -> list[Member]:
        """The first W clients of each room."""
        w = min(self.n, self.plan.max_writers)
        return [m for room in self.rooms for m in room.members[:w]]

    async def open(self) -> None:
        """Make the rooms (joining ECSA sessions over HTTP) and connect every client."""
        for k in range(self.plan.sessions):
            room = await self._make_room(k)
            self.rooms.append(room)
        self.rss_before = self.server.rss_bytes()
        gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
        await asyncio.gather(*(self._connect(m, gate) for m in self.members))
        await self.settle()  # let the presence pushes of the connection storm finish
        self.rss_after = self.server.rss_bytes()

    async def _make_room(self, k: int) -> Room:
        """One room with N members; for ECSA a real session that each member has joined."""
        names = [f"r{k}m{i:02d}" for i in range(self.n)]
        if not self.server.is_ecsa:
            room = Room(f"room-{self.n}-{k}")
            room.members = [self._member(name, room, None) for name in names]
            return room
        session_id, code = await create_session(self.http, self.server.url, f"Bench N={self.n} #{k}")
        room = Room(session_id)
        gate = asyncio.Semaphore(4)

        async def join(name: str) -> Member:
            async with gate:
                return self._member(name, room, await join_session(self.http, self.server.url, code, name))
        room.members = list(await asyncio.gather(*(join(name) for name in names)))
        return room

    def _member(self, name: str, room: Room, cookie: str | None) -> Member:
        """A new member with a fleet-wide index."""
        self.next_index += 1
        return Member(name, room, self.next_index, cookie)

    async def _connect(self, member: Member, gate: asyncio.Semaphore) -> None:
        """Connect one client over WebSocket, as a browser on this origin would."""
        sio = socketio.AsyncClient(reconnection=False, handle_sigint=False, http_session=self.http,
                                   websocket_extra_options={"headers": self._cookie_header(member)},
                                   logger=CLIENT_LOG, engineio_logger=ENGINEIO_LOG)
        edit_event = "notes_update" if self.server.is_ecsa else "edit"
        sio.on(edit_event, lambda data, m=member: self._on_edit(m, data))
        sio.on("changed", lambda data, m=member: self._on_changed(m, data))
        sio.on("*", lambda *args: self._on_other())
        sio.on("disconnect", lambda *args: self._on_disconnect())
        member.sio = sio
        async with gate:
            try:
                await sio.connect(self.server.url, headers={"Origin": self.server.url},
                                  auth={"session": member.room.id}, transports=["websocket"], wait_timeout=15)
            except Exception as error:  # counted and reported; the member's deliveries count as drops
                self.connect_errors[f"{type(error).__name__}: {error}"] += 1

    @staticmethod
    def _cookie_header(member: Member) -> dict:
        """The Cookie header of the member's browser (none for the relays)."""
        return {"Cookie": f"ecsa={member.cookie}"} if member.cookie else {}

    def _on_edit(self, member: Member, data) -> None:
        """Route a received edit to the current window."""
        self.last_receipt = time.perf_counter()
        if self.window is not None and isinstance(data, dict):
            self.window.on_edit(member, data.get("update") if self.server.is_ecsa else data.get("payload"))

    def _on_changed(self, member: Member, data) -> None:
        """Route a received `changed` push to the current window once its change is visible:
        at once if the push carries the changed blocks' HTML, else after fetching each block,
        as live.js does (so the figure is what a person waits for, fetches included)."""
        self.last_receipt = time.perf_counter()
        window = self.window
        if window is None:
            return
        mine = isinstance(data, dict) and data.get("indicator") == window.indicator and data.get("blocks")
        if not mine or data.get("html"):
            return window.on_changed(member, data)
        asyncio.get_running_loop().create_task(self._fetch_then_count(window, member, data))

    async def _fetch_then_count(self, window: Window, member: Member, data: dict) -> None:
        """Fetch a change's blocks as a page without them would, then count it as seen."""
        page = f"{self.server.url}/s/{member.room.id}/i/{window.indicator}"
        headers = dict(self._cookie_header(member), **{"HX-Request": "true"})
        try:
            for block in data["blocks"]:
                async with self.http.get(page, params={"block": block}, headers=headers) as answer:
                    await answer.read()
        except aiohttp.ClientError:
            window.counts["fetch errors"] += 1
            return
        self.last_receipt = time.perf_counter()
        window.on_changed(member, data)

    def _on_other(self) -> None:
        """Any other push (presence, follow): only note that traffic is still flowing."""
        self.last_receipt = time.perf_counter()

    def _on_disconnect(self) -> None:
        """Count a client the server (or the network) disconnected."""
        self.disconnects += 1

    async def close(self) -> None:
        """Disconnect every client."""
        await asyncio.gather(*(m.sio.disconnect() for m in self.members if m.sio and m.sio.connected),
                             return_exceptions=True)

    # ---- a measured window ----

    async def run_window(self, rate: float, duration: float, indicator: str, seed: int) -> Window:
        """Send edits (and, for ECSA, votes) for `duration` seconds and collect every receipt."""
        window = Window(self.server, self.n, rate, duration, indicator)
        rng = random.Random(seed)
        plans = [(m, self._plan_edits(window, m, rng, rate, duration)) for m in self.writers]
        votes = [(room, poisson_offsets(rng, self.plan.vote_rate, duration)) for room in self.rooms] \
            if self.server.is_ecsa and self.plan.vote_rate else []
        for member in self.members:
            member.last_seq.clear()
        if self.server.is_ecsa:  # every page shows the window's indicator, as a page would say
            await asyncio.gather(*(m.sio.call("where", {"indicator": indicator}) for m in self.members
                                   if m.sio and m.sio.connected), return_exceptions=True)
        disconnects = self.disconnects
        self.window = window
        window.t0 = time.perf_counter() + LEAD_S
        tasks = [asyncio.create_task(self._write(window, m, plan)) for m, plan in plans]
        tasks += [asyncio.create_task(self._vote(window, room, offsets, rng)) for room, offsets in votes]
        await self._measure(window, tasks)
        self.window, self.last_window = None, window
        window.settled_s = await self.settle()
        window.counts["disconnects"] += self.disconnects - disconnects
        self.window_disconnects += self.disconnects - disconnects
        return window

    def _plan_edits(self, window: Window, member: Member, rng: random.Random, rate: float, duration: float):
        """The writer's (offset, update) list for the window, entered in the side map."""
        offsets = poisson_offsets(rng, rate, duration)
        plan = list(zip(offsets, line_updates(member.name, offsets)))
        for seq, (offset, update) in enumerate(plan):
            window.sent[update] = Sent(len(window.sent), member.room.id, member.name, seq, offset)
        return plan

    async def _measure(self, window: Window, tasks: list) -> None:
        """Sample CPU and loop lag over the sending time, then collect late deliveries.

        The window stays open after the last send until every delivery has arrived, or
        nothing has arrived for QUIET_S, or the drain limit passes: late deliveries are
        latencies, and only what never arrives is a drop.
        """
        await asyncio.sleep(max(0.0, window.t0 - time.perf_counter()))
        gen0, server0, machine0 = time.process_time(), self.server.cpu_seconds(), machine_busy_seconds()
        lag = asyncio.create_task(watch_loop_lag(window.loop_lags))
        await asyncio.sleep(max(0.0, window.t0 + window.duration - time.perf_counter()))
        gen, server = time.process_time() - gen0, self.server.cpu_seconds() - server0
        window.gen_cpu_fraction = gen / window.duration
        window.other_cpu = max(0.0, machine_busy_seconds() - machine0 - gen - server) / window.duration
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._drain(window)
        lag.cancel()
        window.server_cpu_s = self.server.cpu_seconds() - server0
        window.drained_s = time.perf_counter() - window.t0 - window.duration

    async def _drain(self, window: Window) -> None:
        """Wait until all expected deliveries arrived, or the stream went quiet, or the limit."""
        deadline = time.perf_counter() + self.plan.drain_s
        while not window.complete() and time.perf_counter() < deadline:
            if time.perf_counter() - self.last_receipt > QUIET_S:
                break
            await asyncio.sleep(0.05)

    async def settle(self, limit: float = 15.0) -> float:
        """Wait until the server is idle (a backlog must not spill into the next server's window)."""
        start = time.perf_counter()
        while time.perf_counter() - start < limit:
            before = self.server.cpu_seconds()
            await asyncio.sleep(0.25)
            quiet = time.perf_counter() - self.last_receipt > 0.25
            if quiet and self.server.cpu_seconds() - before < 0.25 * IDLE_CPU:
                break
        return time.perf_counter() - start

    async def _write(self, window: Window, member: Member, plan: list[tuple[float, bytes]]) -> None:
        """One writer: send each edit at its scheduled time, never waiting for answers."""
        for offset, update in plan:
            delay = window.t0 + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            window.expected += len(member.room.members) - 1
            # Base64 text, as the browser sends it (one WebSocket frame; binary takes two),
            # to every server alike.
            wire = base64.b64encode(update).decode("ascii")
            message = {"indicator": window.indicator, "update": wire} if self.server.is_ecsa \
                else {"payload": wire}
            try:
                await member.sio.emit("notes_update" if self.server.is_ecsa else "edit", message,
                                      callback=window.on_ack)
            except Exception as error:  # a disconnected client: its edit is lost, and counted
                window.counts["send errors"] += 1
                window.errors[f"{type(error).__name__}: {error}"] += 1

    async def _vote(self, window: Window, room: Room, offsets: list[float], rng: random.Random) -> None:
        """A session's vote stream: POST a rating at each scheduled time, from a free member."""
        posts, voters = [], deque(room.members)
        for offset in offsets:
            delay = window.t0 + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            voter = next((m for m in voters if not m.voting), None)
            if voter is None:
                window.counts["votes skipped (all voters busy)"] += 1
                continue
            voters.remove(voter)
            voters.append(voter)
            posts.append(asyncio.create_task(self._cast(window, voter, window.t0 + offset, rng.randint(1, 5))))
        await asyncio.gather(*posts, return_exceptions=True)

    async def _cast(self, window: Window, voter: Member, scheduled: float, value: int) -> None:
        """POST one vote as the page does (htmx form post) and note when it was answered."""
        voter.voting = True
        queue = window.pending_votes[(voter.room.id, voter.name)]
        queue.append(scheduled)
        url = f"{self.server.url}/s/{voter.room.id}/i/{window.indicator}/vote"
        headers = dict(self._cookie_header(voter), **{"HX-Request": "true", "Origin": self.server.url})
        try:
            async with self.http.post(url, data={"value": str(value)}, headers=headers,
                                      allow_redirects=False) as answer:
                await answer.read()
                ok = answer.status == 200
                if not ok:
                    window.errors[f"vote answered HTTP {answer.status}"] += 1
        except Exception as error:
            ok = False
            window.errors[f"vote failed: {type(error).__name__}: {error}"] += 1
        window.vote_http.append(time.perf_counter() - scheduled)
        if ok:
            window.vote_expected += len(voter.room.members)
        else:
            window.counts["vote errors"] += 1
            if scheduled in queue:
                queue.remove(scheduled)
        voter.voting = False


# ---- the whole latency suite ---------------------------------------------------------------

@dataclass
class SuiteResult:
    """Every window, by server and N, plus the ladder steps and memory per connection."""

    windows: dict[tuple[str, int], list[Window]] = field(default_factory=lambda: defaultdict(list))
    ladder: dict[str, list[Window]] = field(default_factory=lambda: defaultdict(list))
    rss_per_connection: dict[tuple[str, int], float] = field(default_factory=dict)
    connect_errors: Counter = field(default_factory=Counter)
    disconnects_outside_windows: Counter = field(default_factory=Counter)
    repeated: int = 0   # windows measured twice because other work was busy (the quieter one kept)


def indicators() -> list[str]:
    """The in-scope indicators of a scope-1 session; each window types into a fresh one."""
    from ecsa.framework import load_framework
    from .servers import ROOT
    return [i.id for i in load_framework(str(ROOT / "framework.json")).indicators([1])]


def passes(window: Window) -> bool:
    """Whether a ladder step was sustained: p95 within the bar, nothing lost, generator not saturated."""
    from .stats import percentile
    p95 = percentile(window.latencies, 95)
    return (window.valid and window.drops == 0 and window.counts["disconnects"] == 0
            and p95 is not None and p95 * 1000 <= PASS_P95_MS)


async def run_suite(servers: list[Server], plan: Plan, problems: "ProblemCounter", log=print) -> SuiteResult:
    """For each N: connect every server's fleet, measure A/B/A/B windows, then the ladder."""
    result, names = SuiteResult(), indicators()
    repeats_left = Counter({server.key: plan.noisy_repeats for server in servers})
    asyncio.get_running_loop().set_exception_handler(problems.on_task_exception)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:
        for n in plan.sizes:
            fleets = await _open_fleets(servers, http, plan, n, result)
            for index, fleet, rate, duration, is_ladder in _schedule(fleets, plan, n):
                window = await _measure_window(fleet, rate, duration, names, index, log)
                if window.other_cpu > NOISY_OTHER_CPU and repeats_left[fleet.server.key] > 0:
                    repeats_left[fleet.server.key] -= 1
                    result.repeated += 1
                    again = await _measure_window(fleet, rate, duration, names, index + 500, log, "(repeat: noisy)")
                    window = fleet.last_window = min(window, again, key=lambda w: w.other_cpu)
                target = result.ladder[fleet.server.key] if is_ladder else result.windows[(fleet.server.key, n)]
                target.append(window)
            for fleet in fleets:
                result.disconnects_outside_windows[fleet.server.key] += fleet.disconnects - fleet.window_disconnects
                await fleet.close()
    return result


def quiet_heap() -> None:
    """Collect the generator's garbage now, between windows, and freeze what survives.

    Every window keeps its receipts, so the generator's heap grows through a run; by the
    N=60 phase a full collection paused it for 90-130 ms every few seconds, and each
    pause was charged as latency to whichever server was being measured. Frozen objects
    are never scanned again, so collections during a window stay short.
    """
    gc.collect()
    gc.freeze()


async def _measure_window(fleet: Fleet, rate: float, duration: float, names: list[str], index: int,
                          log, note: str = "") -> Window:
    """Run one window on a fresh indicator with a reproducible seed, and log it."""
    seed = zlib.crc32(f"{fleet.server.key}:{fleet.n}:{index}".encode())
    quiet_heap()
    window = await fleet.run_window(rate, duration, names[index % len(names)], seed)
    _log_window(log, window, note)
    return window


async def _open_fleets(servers, http, plan: Plan, n: int, result: SuiteResult) -> list[Fleet]:
    """Connect K x N clients to every server and note the memory each connection took."""
    fleets = []
    for i, server in enumerate(servers):
        fleet = Fleet(server, http, plan, n, first_index=(i + 1) * 1_000_000 + n * 1000)
        await fleet.open()
        result.rss_per_connection[(server.key, n)] = (fleet.rss_after - fleet.rss_before) / len(fleet.members)
        result.connect_errors.update({f"{server.label}: {k}": v for k, v in fleet.connect_errors.items()})
        fleets.append(fleet)
    return fleets


def _schedule(fleets: list[Fleet], plan: Plan, n: int):
    """The windows for one N as (index, fleet, rate, duration, is_ladder), servers alternating.

    First `rounds` rounds at the base rate (A B C A B C ...). Then, at the ladder's N, each
    server steps its edit rate up while it sustains it (or down, if it missed at the base
    rate, until it sustains one). The caller runs each window before asking for the next,
    so `fleet.last_window` is the one just yielded.
    """
    index, sustained = 0, {fleet: True for fleet in fleets}
    for _ in range(plan.rounds):
        for fleet in fleets:
            yield index, fleet, plan.rate, plan.window_s, False
            index += 1
            sustained[fleet] = sustained[fleet] and passes(fleet.last_window)
    if n != plan.ladder_n:
        return
    steps = {f: list(plan.ladder_rates if sustained[f] else plan.ladder_down_rates) for f in fleets}
    while any(steps.values()):
        for fleet in fleets:
            if steps[fleet]:
                yield index, fleet, steps[fleet].pop(0), plan.ladder_window_s, True
                index += 1
                if passes(fleet.last_window) != sustained[fleet]:
                    steps[fleet] = []  # going up: the first miss ends it; going down: the first pass


def _log_window(log, window: Window, note: str = "") -> None:
    """One progress line per window."""
    from .stats import percentile, summary_ms
    s = summary_ms(window.latencies)
    p95 = f"{s['p95']:.1f}" if s["p95"] is not None else "-"
    lag = (percentile(window.loop_lags, 99) or 0) * 1000
    votes = f" votes_p95={summary_ms(window.vote_latencies)['p95'] or 0:.0f}ms" if window.vote_latencies else ""
    odd = {k: v for k, v in window.counts.items() if v}
    log(f"  {window.server.label:<12} N={window.n:<3} rate={window.rate:<4g} deliveries={len(window.seen):<6} "
        f"p95={p95}ms drops={window.drops} gen_cpu={window.gen_cpu_fraction:.0%} loop_lag_p99={lag:.0f}ms "
        f"other_cpu={window.other_cpu:.2f} drained={window.drained_s:.1f}s{votes}" + (f" {odd}" if odd else "")
        + (f" {note}" if note else ""))


class ProblemCounter(logging.Handler):
    """Counts the generator's own warnings and errors (client library logs, task exceptions)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.counts: Counter = Counter()

    # The client logs every close, ours included; closes the server made are counted as
    # disconnects by the clients' disconnect handlers instead.
    BENIGN = ("Server sent close packet",)

    def emit(self, record: logging.LogRecord) -> None:
        """Count one record by its logger and first line."""
        if any(text in record.getMessage() for text in self.BENIGN):
            return
        self.counts[f"{record.name}: {record.getMessage().splitlines()[0][:120]}"] += 1

    def on_task_exception(self, loop, context: dict) -> None:
        """asyncio's handler for exceptions nobody awaited: count them instead of printing."""
        error = context.get("exception")
        what = f"{type(error).__name__}: {error}" if error else context.get("message", "?")
        self.counts[f"unhandled in generator task: {what[:120]}"] += 1
