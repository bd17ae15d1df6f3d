"""`python -m bench`: run every benchmark, print the markdown report and save it.

    python -m bench            # full run, under 5 minutes; writes bench/RESULTS.md
    python -m bench --quick    # about a minute; writes bench/out/RESULTS-quick.md
    python -m bench --multiprocess [--quick]
                               # only 1 process vs 3 behind nginx (needs redis-server and
                               # nginx): its section of the same file, the rest left as it is

Progress goes to stderr, the report to stdout. Nothing here ever fails a test: targets
are reported as met or not met.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import http_bench, page_weight, report, servers, storage_bench
from .loadgen import ProblemCounter, run_suite
from .plan import FULL, QUICK, Plan

PACKAGES = ("Flask", "Werkzeug", "Flask-SocketIO", "python-socketio", "python-engineio", "simple-websocket",
            "pycrdt", "tinydb", "uvicorn", "websockets", "aiohttp")
SERVER_LOG_PROBLEMS = ("Traceback", "Error", "ERROR", "Exception", "WARNING")
REQUEST_LINE = re.compile(r'HTTP/[\d.]+" (\d{3}) ')
SERVER_LOG_BENIGN = ("development server", "production deployment", "production web server")
# What the client library's errors mean, for the report.
EXPLAINED = {"invalid literal for int() with base 10: b'":
             " (a binary attachment arrived where a packet header was due: the packets of two binary "
             "events were interleaved on one socket, so both events were lost or corrupted)"}


def log(message: str) -> None:
    """Progress, on stderr so the report on stdout stays clean."""
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark ECSA Workshop.")
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run (fewer N, shorter windows)")
    parser.add_argument("--no-node", action="store_true", help="skip the Node.js socket.io relay")
    parser.add_argument("--multiprocess", action="store_true",
                        help="only 1 process vs 3 behind nginx (bench/multiprocess.py), written as its section")
    parser.add_argument("--out", help="where to write the report (default: bench/RESULTS.md, "
                                      "or bench/out/RESULTS-quick.md with --quick)")
    return parser.parse_args(argv)


def configure_logging(problems: ProblemCounter) -> None:
    """Client-library warnings go to bench/out/generator.log and are counted for the report."""
    servers.OUT.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=servers.OUT / "generator.log", filemode="w", level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger().addHandler(problems)


def machine() -> dict:
    """Cores, CPU model, memory, Python and Node versions, package versions."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    memory = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    versions["socket.io (Node)"] = servers.node_socketio_version() or "not installed"
    return {"cores": os.cpu_count(), "cpu": cpu, "memory": f"{memory / 1048576:.0f} GiB RAM",
            "python": platform.python_version(), "node": servers.node_version(), "versions": versions}


def load_average() -> str:
    """The 1-minute load average."""
    return f"{os.getloadavg()[0]:.2f}"


def start_servers(data_dir: str, want_node: bool) -> tuple[list[servers.Server], dict[str, str]]:
    """ECSA, the Python relay and (if possible) the Node relay; returns them and what could not start."""
    running, unavailable = [servers.start_ecsa(data_dir), servers.start_python_relay()], {}
    if not want_node:
        unavailable["node"] = "skipped with --no-node"
        return running, unavailable
    node, why = servers.start_node_relay()
    if node is None:
        unavailable["node"] = why
    else:
        running.append(node)
    return running, unavailable


def is_problem(line: str) -> bool:
    """A log line worth reporting: an error or warning, or a request answered 4xx/5xx."""
    if any(benign in line for benign in SERVER_LOG_BENIGN):
        return False
    request = REQUEST_LINE.search(line)
    if request:
        return int(request[1]) >= 400
    return any(word in line for word in SERVER_LOG_PROBLEMS)


def server_log_problems(running: list[servers.Server]) -> list[str]:
    """Distinct problem lines from each server's log, most frequent first."""
    found = []
    for server in running:
        lines = [line.strip() for line in server.log.read_text(errors="replace").splitlines() if is_problem(line)]
        for line, count in _distinct(lines)[:8]:
            found.append(f"{server.label} log ({server.log.name}) ×{count}: `{line[:160]}`")
    return found


def _distinct(lines: list[str]) -> list[tuple[str, int]]:
    """Lines with their counts, most frequent first."""
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])


def run_live(plan: Plan, problems: ProblemCounter, want_node: bool):
    """Start the servers, run the Socket.IO suite against them, stop them."""
    data_dir = tempfile.mkdtemp(prefix="ecsa-data-", dir=servers.OUT)
    running, unavailable = start_servers(data_dir, want_node)
    try:
        time.sleep(1.0)
        idle_rss = {s.key: s.rss_bytes() for s in running}
        for s in running:
            log(f"{s.label}: {s.url} (pid {s.process.pid}, idle RSS {idle_rss[s.key] / 1048576:.1f} MiB)")
        suite = asyncio.run(run_suite(running, plan, problems, log=log))
        dead = [f"{s.label} exited during the run (code {s.process.returncode})" for s in running if not s.alive()]
    finally:
        for s in running:
            s.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return suite, [s.key for s in running], unavailable, idle_rss, dead + server_log_problems(running)


def run_multiprocess(quick: bool, out: Path) -> int:
    """1 process vs 3 behind nginx, written into `out` as its own section (the rest of the
    file kept); skipped, saying why, without redis-server and nginx."""
    from . import multiprocess

    why_not = multiprocess.unavailable()
    if why_not:
        log(f"python -m bench --multiprocess {why_not}: nothing measured")
        return 0
    load = multiprocess.QUICK if quick else multiprocess.FULL
    when, load_start = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), load_average()
    log(f"ECSA benchmark, more than one process ({'quick' if quick else 'full'} load)")
    section = multiprocess.section(multiprocess.run(load), load, when, load_start)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.put_section(out.read_text() if out.exists() else "", report.MULTIPROCESS_HEADING,
                                       section))
    print(section)
    log(f"written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run everything and write the report."""
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    out = Path(args.out) if args.out else (servers.OUT / "RESULTS-quick.md" if args.quick
                                           else servers.BENCH / "RESULTS.md")
    if args.multiprocess:
        return run_multiprocess(args.quick, out)
    started, load_start = time.monotonic(), load_average()
    problems = ProblemCounter()
    configure_logging(problems)
    log(f"ECSA benchmark, {plan.name} run")
    suite, ran, unavailable, idle_rss, server_problems = run_live(plan, problems, not args.no_node)
    log("HTTP server time ...")
    http = http_bench.run(plan.http_requests)
    log("page weight ...")
    weight = page_weight.run()
    log("storage ...")
    storage = storage_bench.run(plan.storage_sizes_kb, plan.storage_repeats)
    meta = dict(machine(), date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                elapsed_s=time.monotonic() - started, load_start=load_start, load_end=load_average(),
                command="python -m bench" + (" --quick" if args.quick else ""))
    generator = [f"generator ×{n}: {what}" + next((why for key, why in EXPLAINED.items() if key in what), "")
                 for what, n in problems.counts.most_common(10)]
    text = report.render(report.Report(plan, meta, ran, unavailable, suite, idle_rss, http, weight, storage,
                                       server_problems + generator))
    out.parent.mkdir(parents=True, exist_ok=True)
    # Measured by --multiprocess on its own: kept across full runs.
    text = report.carry_section(out.read_text() if out.exists() else "", text, report.MULTIPROCESS_HEADING)
    out.write_text(text)
    print(text)
    log(f"written to {out} in {meta['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
