"""A real multi-process deployment on loopback: redis-server, N `python app.py` processes on
one data folder, and nginx running deploy/nginx-ecsa.conf in front of them.

Used by the tests beside this file and by bench/multiprocess.py. Every process is started
here and stopped by `stop()`, killed if it does not stop; nothing leaves loopback.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx-ecsa.conf"
REDIS_SERVER, NGINX = shutil.which("redis-server"), shutil.which("nginx") or "/usr/sbin/nginx"


def missing_tools() -> list[str]:
    """The Debian packages this needs that are not installed."""
    return [name for name, path in (("redis-server", REDIS_SERVER), ("nginx", NGINX))
            if not (path and os.access(path, os.X_OK))]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, what: str, log: Path, seconds: float = 90) -> None:
    """Wait until something accepts connections on the port (or say why not)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on {port}:\n{tail(log)}")


def tail(path: Path, size: int = 3000) -> str:
    """The end of a log file."""
    return path.read_text(errors="replace")[-size:] if path.exists() else "(no log)"


def site_config(listen: int, app_ports: list[int]) -> str:
    """deploy/nginx-ecsa.conf with this run's ports: what is tested is the shipped file."""
    site = SITE.read_text()
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in app_ports)
    site, count = re.subn(r"(?m)^    server 127\.0\.0\.1:\d+ [^\n]*\n", "", site)
    assert count, "deploy/nginx-ecsa.conf: no `server 127.0.0.1:PORT ...;` lines in its upstream"
    site = site.replace("    keepalive 32;\n", servers + "    keepalive 32;\n")
    return site.replace("listen 80;", f"listen 127.0.0.1:{listen};")


class Cluster:
    """redis-server, `processes` app processes and nginx, all in `folder`."""

    def __init__(self, folder: Path, processes: int = 3, lease_seconds: int = 5):
        self.folder, self.lease_seconds = Path(folder), lease_seconds
        self.data_dir = self.folder / "data"
        self.redis_port, self.nginx_port = free_port(), free_port()
        self.app_ports = [free_port() for _ in range(processes)]
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.base = f"http://127.0.0.1:{self.nginx_port}"
        self.redis: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None
        self.apps: dict[str, subprocess.Popen] = {}

    def name(self, index: int) -> str:
        """The process name of app process `index` (what X-ECSA-Process says)."""
        return f"app{index + 1}"

    def start(self) -> Cluster:
        """Start Redis, the app processes and nginx (all stopped again if one cannot start)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self.start_redis()
            for index in range(len(self.app_ports)):
                self.start_app(index)  # one after another: the first makes the secret key
            self.start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def start_redis(self) -> None:
        log = self.folder / "redis.log"
        with open(log, "ab") as out:
            self.redis = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.folder)], stdout=out, stderr=subprocess.STDOUT)
        wait_listening(self.redis_port, self.redis, "redis-server", log)

    def stop_redis(self) -> None:
        stop(self.redis)

    def start_app(self, index: int) -> None:
        name, port = self.name(index), self.app_ports[index]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECSA_")}
        env.update(ECSA_DATA_DIR=str(self.data_dir), ECSA_REDIS_URL=self.redis_url, ECSA_PROCESS_NAME=name,
                   ECSA_LEASE_SECONDS=str(self.lease_seconds), ECSA_TRUSTED_PROXIES="1", PYTHONUNBUFFERED="1")
        log = self.folder / f"{name}.log"
        with open(log, "ab") as out:
            self.apps[name] = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)],
                                               cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_listening(port, self.apps[name], name, log)

    def start_nginx(self) -> None:
        temp = self.folder / "nginx"
        temp.mkdir(exist_ok=True)
        (temp / "site.conf").write_text(site_config(self.nginx_port, self.app_ports))
        (temp / "nginx.conf").write_text(
            # As root, workers would run as nobody, who cannot enter pytest's 0700 folders
            # where nginx keeps the temporary files of large responses.
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"daemon off;\nworker_processes 1;\npid {temp}/nginx.pid;\nerror_log {temp}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n  access_log {temp}/access.log;\n"
            + "".join(f"  {kind}_temp_path {temp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi",
                                                                          "uwsgi", "scgi"))
            + f"  include {temp}/site.conf;\n}}\n")
        log = temp / "stderr.log"
        with open(log, "ab") as out:
            self.nginx = subprocess.Popen([NGINX, "-c", str(temp / "nginx.conf"), "-p", str(temp)],
                                          stdout=out, stderr=subprocess.STDOUT)
        wait_listening(self.nginx_port, self.nginx, "nginx", temp / "error.log")

    def kill(self, name: str) -> None:
        """SIGKILL one app process: no clean shutdown, its leases left to expire."""
        process = self.apps[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def logs(self) -> str:
        """The end of every log, for a failing test's message."""
        names = [f"{name}.log" for name in self.apps] + ["redis.log", "nginx/error.log"]
        return "\n".join(f"--- {name}\n{tail(self.folder / name, 1500)}" for name in names)

    def stop(self) -> None:
        """Stop everything this started (nginx first, so no request meets a stopped app)."""
        for process in [self.nginx, *self.apps.values(), self.redis]:
            stop(process)

    def get(self, path: str):
        """GET through nginx: (status, X-ECSA-Process, body)."""
        from urllib.error import HTTPError
        try:
            with urlopen(self.base + path, timeout=10) as response:
                return response.status, response.headers.get("X-ECSA-Process"), response.read().decode()
        except HTTPError as error:
            return error.code, error.headers.get("X-ECSA-Process"), error.read().decode()


def stop(process: subprocess.Popen | None) -> None:
    """Ask a process to stop, and kill it if it has not within 5 s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
