"""The servers under test, each a subprocess on a loopback port: ECSA itself, a minimal
python-socketio relay on uvicorn, and a Node.js socket.io relay (when Node is installed).

Each `Server` can report its own CPU time and resident memory from /proc, so the figures
are the server's alone, not the load generator's.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
NODE_RELAY = BENCH / "node_relay"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

LABELS = {"ecsa": "ECSA", "py": "Python relay", "node": "Node relay"}


@dataclass
class Server:
    """A running server: what it is, where it listens, and its process."""

    key: str                  # "ecsa", "py" or "node"
    url: str
    process: subprocess.Popen
    log: Path

    @property
    def label(self) -> str:
        """The name shown in the report."""
        return LABELS[self.key]

    @property
    def is_ecsa(self) -> bool:
        """Whether this is the real app (sessions, cookies, notes) rather than a relay."""
        return self.key == "ecsa"

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far."""
        return process_cpu_seconds(self.process.pid)

    def rss_bytes(self) -> int:
        """The server's resident memory now."""
        return process_rss_bytes(self.process.pid)

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 5 s)."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_rss_bytes(pid: int) -> int:
    """VmRSS of a process, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    """Return once the port accepts connections; raise if the process dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen on port {port} within {timeout} s; see {log}")


def _spawn(key: str, command: list[str], cwd: Path, env: dict | None = None) -> Server:
    """Start a server command on a free port, logging to bench/out/<key>.log."""
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = OUT / f"{key}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(command + [str(port)], cwd=cwd, stdout=sink, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))
    server = Server(key, f"http://127.0.0.1:{port}", process, log)
    try:
        wait_listening(port, process, log)
    except RuntimeError:
        server.stop()
        raise
    return server


def start_ecsa(data_dir: str) -> Server:
    """The real app, as a workshop runs it: `python app.py --port P` with its own data folder."""
    return _spawn("ecsa", [sys.executable, "app.py", "--port"], ROOT, {"ECSA_DATA_DIR": data_dir})


def start_python_relay() -> Server:
    """The minimal python-socketio ASGI relay on uvicorn (bench/py_relay.py)."""
    return _spawn("py", [sys.executable, "-m", "bench.py_relay", "--port"], ROOT)


def node_version() -> str | None:
    """`node --version`, or None when Node.js is not installed."""
    node = shutil.which("node")
    if node is None:
        return None
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() or None


def ensure_node_modules() -> str | None:
    """Install the relay's locked dependencies if missing; returns why not, or None if ready."""
    if (NODE_RELAY / "node_modules" / "socket.io").is_dir():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    command = [npm, "ci", "--no-audit", "--no-fund"] if (NODE_RELAY / "package-lock.json").exists() \
        else [npm, "install", "--no-audit", "--no-fund"]
    done = subprocess.run(command, cwd=NODE_RELAY, capture_output=True, text=True, timeout=300)
    return None if done.returncode == 0 else f"`{' '.join(command[1:2])}` failed: {done.stderr.strip()[-300:]}"


def start_node_relay() -> tuple[Server | None, str | None]:
    """The socket.io 4.x relay on Node (bench/node_relay/relay.js), or (None, why not)."""
    if node_version() is None:
        return None, "Node.js is not installed"
    problem = ensure_node_modules()
    if problem:
        return None, problem
    return _spawn("node", [shutil.which("node"), "relay.js"], NODE_RELAY), None


def node_socketio_version() -> str | None:
    """The installed socket.io version of the Node relay, if installed."""
    package = NODE_RELAY / "node_modules" / "socket.io" / "package.json"
    if not package.exists():
        return None
    return json.loads(package.read_text())["version"]
