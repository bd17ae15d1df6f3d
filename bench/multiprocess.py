"""One process vs three behind nginx, same load: `python -m bench.multiprocess [--quick]`.

Needs redis-server and nginx (Debian packages) and bench/requirements.txt (aiohttp, for the
clients' WebSocket transport). Three set-ups, each started fresh on loopback by
tests/multiprocess/cluster.py (the same harness the multi-process tests use):

  1 direct  one `python app.py` with ECSA_REDIS_URL, clients straight to its port
  1 nginx   the same behind nginx running deploy/nginx-ecsa.conf: the proxy hop's cost
  3 nginx   three app processes behind nginx, sessions spread by id

Load: K sessions x N clients, all python-socketio AsyncClients on WebSocket in this
process. In each session W writers send live notes edits (real pycrdt updates) open-loop
at a fixed rate each, stepped up window by window; every other client of the session
receives. Latency = receipt - *scheduled* send time, so falling behind cannot hide.
Capacity = the highest deliveries/s whose window had p95 <= 100 ms and nothing lost.
Server CPU is read from /proc for the app processes (and nginx) during each window.

It prints figures and never fails; on a 2-core machine the load generator shares the
cores with the servers, so read the capacity as a lower bound (see bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import socketio
from pycrdt import Doc, Text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "multiprocess"))  # the harness: cluster.py, people.py

from cluster import Cluster, missing_tools  # noqa: E402

from .report import MULTIPROCESS_HEADING  # noqa: E402
from people import create_session, join  # noqa: E402

PASS_P95_MS = 100.0
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    """How big one run is."""

    sessions: int = 6          # K
    clients: int = 10          # N per session
    writers: int = 5           # W per session
    # Edits/s per writer, one window each: up to where a set-up fails (6 x 5 x 9 = 270
    # deliveries/s per edit/s), or the one load generator, on the same cores, gives out.
    rates: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0)
    window_s: float = 5.0
    drain_s: float = 2.0


FULL, QUICK = Load(), Load(sessions=4, rates=(2.0, 6.0), window_s=3.0)


@dataclass
class Window:
    """What one window measured."""

    rate: float
    sent: int = 0
    expected: int = 0
    latencies: list[float] = field(default_factory=list)
    disconnects: int = 0
    cpu_s: float = 0.0
    generator_cpu_s: float = 0.0  # this process's own CPU in the window: near 1.0 per second, it is the limit
    seconds: float = 0.0

    def percentile(self, p: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    @property
    def drops(self) -> int:
        return self.expected - len(self.latencies)

    @property
    def deliveries_per_s(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def sustained(self) -> bool:
        p95 = self.percentile(95)
        return self.drops == 0 and not self.disconnects and p95 is not None and p95 <= PASS_P95_MS


class Session:
    """One session's clients; the writers' documents; which update was sent when."""

    def __init__(self, session_id: str, cookies: list[str], writers: int):
        self.session_id, self.cookies, self.writer_count = session_id, cookies, writers
        self.clients: list[socketio.AsyncClient] = []
        self.docs = [Doc() for _ in range(writers)]
        self.sent_at: dict[str, float] = {}
        self.window: Window | None = None

    async def connect(self, base: str) -> None:
        for index, cookie in enumerate(self.cookies):
            client = socketio.AsyncClient(reconnection=False)
            client.on("notes_update", self._receiver(index))
            await client.connect(f"{base}/?session={self.session_id}", headers={"Cookie": cookie, "Origin": base},
                                 auth={"session": self.session_id}, transports=["websocket"], wait_timeout=30)
            self.clients.append(client)

    def _receiver(self, index: int):
        async def received(message):
            at = self.sent_at.get(message.get("update"))
            if at is not None and self.window is not None:
                self.window.latencies.append(time.monotonic() - at)
        return received

    def edit(self, writer: int, seq: int) -> str:
        """The next edit of one writer: its line typed at the start of the notes."""
        doc = self.docs[writer]
        before = doc.get_state()
        doc.get("notes", type=Text).insert(0, f"w{writer}:{seq}|")
        return base64.b64encode(doc.get_update(before)).decode()

    async def write(self, writer: int, rate: float, until: float, indicator: str) -> None:
        """Send edits at `rate` per second until `until`, open-loop: each on its schedule."""
        loop, gap, seq = asyncio.get_running_loop(), 1 / rate, 0
        due = loop.time() + gap * writer / self.writer_count  # writers spread over one gap
        while due < until:
            await asyncio.sleep(max(0.0, due - loop.time()))
            update = self.edit(writer, seq)
            self.sent_at[update] = time.monotonic() - max(0.0, loop.time() - due)
            self.window.sent += 1
            self.window.expected += len(self.clients) - 1
            try:
                await self.clients[writer].emit("notes_update", {"indicator": indicator, "update": update})
            except socketio.exceptions.BadNamespaceError:  # dropped by the server (ping timeout)
                self.window.disconnects += 1
                return
            seq, due = seq + 1, due + gap

    async def close(self) -> None:
        for client in self.clients:
            try:
                await client.disconnect()
            except Exception:  # already gone
                pass


def indicators() -> list[str]:
    """The indicators of section 1 (the sessions' scope): each window types into its own."""
    from ecsa.framework import load_framework
    return [indicator.id for indicator in load_framework(str(ROOT / "framework.json")).indicators([1])]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def open_sessions(cluster_base: str, load: Load) -> list[tuple[str, list[str]]]:
    """Create K sessions with N people each (over HTTP, through whatever `cluster_base` is)."""
    made = []
    for number in range(load.sessions):
        fay, session_id, code = create_session(cluster_base)
        people = [fay] + [join(cluster_base, code, f"Person {number}.{i}") for i in range(1, load.clients)]
        made.append((session_id, [person.cookie() for person in people]))
    return made


async def measure(base: str, made, load: Load, pids: list[int]) -> list[Window]:
    """Every client of every session connected, one window per rate; all closed at the end."""
    sessions = [Session(session_id, cookies, load.writers) for session_id, cookies in made]
    try:
        return await run_windows(sessions, base, load, pids)
    finally:
        for session in sessions:
            await session.close()


async def run_windows(sessions: list[Session], base: str, load: Load, pids: list[int]) -> list[Window]:
    """Connect every client, then one window per rate, stepping up until the server is lost."""
    for session in sessions:
        await session.connect(base)
    windows, names = [], indicators()
    for index, rate in enumerate(load.rates):
        window, indicator = Window(rate), names[index % len(names)]
        for session in sessions:
            # A fresh indicator and fresh documents: an update building on another
            # indicator's items would be refused (the server would ask for a resync).
            session.window, session.sent_at = window, {}
            session.docs = [Doc() for _ in range(load.writers)]
        cpu, own, started = cpu_seconds(pids), time.process_time(), time.monotonic()
        until = asyncio.get_running_loop().time() + load.window_s
        await asyncio.gather(*(session.write(w, rate, until, indicator)
                               for session in sessions for w in range(load.writers)))
        await asyncio.sleep(load.drain_s)
        window.seconds, window.cpu_s = time.monotonic() - started - load.drain_s, cpu_seconds(pids) - cpu
        window.generator_cpu_s = time.process_time() - own
        windows.append(window)
        print(f"  {rate:>4} edits/s/writer: {window.deliveries_per_s:7.0f} deliveries/s, p95 "
              f"{window.percentile(95) or 0:6.1f} ms, p99 {window.percentile(99) or 0:6.1f} ms, "
              f"drops {window.drops}, disconnects {window.disconnects}, generator CPU "
              f"{window.generator_cpu_s / (window.seconds + load.drain_s):.0%} of a core", file=sys.stderr)
        if window.disconnects:
            break  # a client was dropped: the rates above this one are out of reach
    return windows


def run_setup(label: str, processes: int, through_nginx: bool, load: Load, folder: Path) -> list[Window]:
    """Start a fresh cluster, load it, stop it."""
    print(f"{label}:", file=sys.stderr)
    cluster = Cluster(folder / label.replace(" ", "-"), processes=processes).start()
    try:
        base = cluster.base if through_nginx else f"http://127.0.0.1:{cluster.app_ports[0]}"
        made = open_sessions(base, load)
        pids = [p.pid for p in cluster.apps.values()] + ([cluster.nginx.pid] if through_nginx else [])
        return asyncio.run(measure(base, made, load, pids))
    finally:
        cluster.stop()


def report(results: dict[str, list[Window]], load: Load) -> str:
    """The figures side by side, as markdown."""
    lines = [f"K = {load.sessions} sessions x N = {load.clients} clients, W = {load.writers} writers each, "
             f"{load.window_s:.0f} s windows, WebSocket, loopback, {os.cpu_count()} cores "
             "(the load generator shares them).", "",
             "| set-up | edits/s per writer | deliveries/s | p50 ms | p95 ms | p99 ms | drops | dropped clients | "
             "server CPU per 1,000 deliveries |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, windows in results.items():
        for w in windows:
            lines.append(f"| {label} | {w.rate:g} | {w.deliveries_per_s:.0f} | {w.percentile(50) or 0:.1f} | "
                         f"{w.percentile(95) or 0:.1f} | {w.percentile(99) or 0:.1f} | {w.drops} | {w.disconnects} | "
                         f"{cpu_per_thousand(w):.0f} ms |")
    lines += ["", "| set-up | capacity: highest deliveries/s at p95 <= 100 ms, none lost |", "| --- | --- |"]
    for label, windows in results.items():
        lines.append(f"| {label} | {capacity_words(windows)} |")
    return "\n".join(lines)


SETUPS = (("1 direct", 1, False), ("1 nginx", 1, True), ("3 nginx", 3, True))


def unavailable() -> str | None:
    """Why this cannot run here (redis-server or nginx missing), or None."""
    missing = missing_tools()
    return f"needs {' and '.join(missing)} (apt-get install redis-server nginx)" if missing else None


def run(load: Load) -> dict[str, list[Window]]:
    """The three set-ups, one after the other, each on a fresh cluster."""
    with tempfile.TemporaryDirectory(prefix="ecsa-bench-mp-") as folder:
        return {label: run_setup(label, processes, proxied, load, Path(folder))
                for label, processes, proxied in SETUPS}


def capacity(windows: list[Window]) -> float | None:
    """The highest deliveries/s of a sustained window, or None."""
    held = [w.deliveries_per_s for w in windows if w.sustained]
    return max(held) if held else None


def capacity_words(windows: list[Window]) -> str:
    """The capacity as the report says it: a load that held at every rate only bounds it."""
    held = capacity(windows)
    if held is None:
        return "none of the rates"
    return f"≥ {held:.0f} (every rate held: not reached)" if all(w.sustained for w in windows) else f"{held:.0f}"


def cpu_per_thousand(window: Window) -> float:
    """Server CPU (ms) per 1,000 deliveries in a window."""
    return window.cpu_s / len(window.latencies) * 1000 * 1000 if window.latencies else 0.0


def findings(results: dict[str, list[Window]], load: Load) -> list[str]:
    """What the figures say: the proxy hop's cost, and what three processes bought here."""
    direct, proxied, three = (results.get(label) for label, _, _ in SETUPS)
    lines = []
    if direct and proxied and direct[0].latencies and proxied[0].latencies:
        lines.append(f"- The proxy hop, at the lowest rate ({direct[0].rate:g} edits/s per writer): p50 "
                     f"{proxied[0].percentile(50) - direct[0].percentile(50):+.1f} ms, p95 "
                     f"{proxied[0].percentile(95) - direct[0].percentile(95):+.1f} ms, server CPU (nginx's "
                     f"included) {cpu_per_thousand(proxied[0]) - cpu_per_thousand(direct[0]):+.0f} ms per 1,000 "
                     "deliveries.")
    one, many = capacity(proxied or []), capacity(three or [])
    if one and many and not all(w.sustained for w in proxied + three):
        bound = "at least " if all(w.sustained for w in three) else ""
        lines.append(f"- 3 processes ÷ 1, both behind nginx: {bound}{many / one:.2f}× the capacity.")
    elif one and many:
        lines.append("- 1 and 3 processes behind nginx both held every rate tried: this load does not "
                     "reach either's capacity (the full load, without --quick, steps higher).")
    windows = [w for runs in results.values() for w in runs]
    busiest = max((w.generator_cpu_s / (w.seconds + load.drain_s) for w in windows), default=0)
    lines.append(f"- The load generator, on the same cores, took at most {busiest:.0%} of a core in a window.")
    return lines


PREDICTION = (
    "What grows with what: a session's deliveries per second are W × rate × (N − 1), so the load "
    "grows linearly with sessions and with the square of the people in a session when they all "
    "type. All of one session's fan-out runs in the one process holding its lease, so more "
    "processes carry more sessions, never a bigger session: one session is bounded by one core. "
    "Every emit also goes once through Redis and is read back by every process (each keeps what "
    "is for its own sockets), a cost that grows with all sessions' emits times the processes. "
    "On this 2-core machine the three processes, nginx, Redis and the load generator share two "
    "cores, so three processes can at best double one's capacity here; on a machine with C spare "
    "cores, C processes should carry about C times the sessions of one, until that Redis "
    "read-back or nginx (the hop's CPU above, per delivery) is the limit.")


def section(results: dict[str, list[Window]], load: Load, when: str, load_average: str) -> str:
    """The markdown section `python -m bench --multiprocess` writes into bench/RESULTS.md."""
    return "\n".join([f"{MULTIPROCESS_HEADING} (`python -m bench --multiprocess`)", "",
                      f"Measured {when}, load average at the start {load_average}.", "",
                      report(results, load), "", *findings(results, load), "", PREDICTION])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two rates, four sessions (about a minute)")
    args = parser.parse_args(argv)
    why_not = unavailable()
    if why_not:
        print(f"bench.multiprocess {why_not}", file=sys.stderr)
        return 0
    load = QUICK if args.quick else FULL
    results = run(load)
    print(report(results, load))
    print("\n".join(findings(results, load)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
