"""`python app.py` as a real process: a start-up mistake is one line on stderr and exit
status 2 (never a traceback, never "running at"); one server per data folder; "running at"
is said only once the port is listening."""

from __future__ import annotations

import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import simple_websocket

from ecsa import memory

ROOT = Path(__file__).resolve().parent.parent
REFUSED = "ECSA Workshop cannot start: "


def app_env(data_dir: Path, **settings: str) -> dict:
    """This process's environment without any ECSA_* setting, plus the data folder and these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECSA_")}
    return dict(env, ECSA_DATA_DIR=str(data_dir), **settings)


def run_app(data_dir: Path, *args: str, unprivileged: bool = False, **settings: str):
    """Run `python app.py` expecting it to stop by itself (a refusal): its result."""
    command = [sys.executable, str(ROOT / "app.py"), "--port", "0", *args]
    if unprivileged:
        command = without_root_powers(command)
    return subprocess.run(command, cwd=ROOT, env=app_env(data_dir, **settings), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)


def without_root_powers(command: list[str]) -> list[str]:
    """The command, unable to read or write what file permissions forbid (even as root)."""
    if os.geteuid() != 0:
        return command
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux): cannot take away root's file access")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *command]


def assert_refused(result, *words: str) -> str:
    """Exit status 2, exactly one line on stderr saying why (with these words), nothing on stdout."""
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith(REFUSED), result.stderr  # one line, no traceback
    assert result.stdout == ""  # never "running at"
    for word in words:
        assert word in lines[0]
    return lines[0]


class Server:
    """`python app.py --port 0` started in the background; `port` is the one it printed."""

    def __init__(self, data_dir: Path, log: Path, **settings: str):
        self.log, self.port = log, None
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "app.py"), "--port", "0"], cwd=ROOT, env=app_env(data_dir, **settings),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True)

    def wait_until_running(self, timeout: float = 20) -> None:
        """Wait for the first line on stdout, which must say where it is running."""
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert readable, f"nothing printed in {timeout} s:\n{self.log.read_text()}"
        line = self.process.stdout.readline()
        found = re.search(r"running at http://127\.0\.0\.1:(\d+)/", line)
        assert found, f"{line!r}\n{self.log.read_text()}"
        self.port = int(found[1])

    def kill(self) -> None:
        """SIGKILL, as a crash or kill -9 would."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process.stdout.close()


@pytest.fixture
def servers(tmp_path):
    """Start real servers with servers(data_dir, **settings); all are killed at the end."""
    started: list[Server] = []

    def start(data_dir: Path, **settings: str) -> Server:
        started.append(Server(data_dir, tmp_path / f"server{len(started)}.log", **settings))
        started[-1].wait_until_running()
        return started[-1]

    yield start
    for server in started:
        server.kill()


# Settings

@pytest.mark.parametrize("name, value", [
    ("ECSA_JOIN_ATTEMPTS_PER_MINUTE", "ten"),
    ("ECSA_JOIN_ATTEMPTS_PER_MINUTE", "0"),
    ("ECSA_SECURE_COOKIES", "yes"),
    ("ECSA_PUBLIC_URL", "ecsa.example.nhs.uk"),
    ("ECSA_PUBLIC_URL", "ftp://ecsa.example.nhs.uk"),
    ("ECSA_ALLOWED_ORIGINS", "https://ecsa.example.nhs.uk, ecsa2.example.nhs.uk"),
    ("ECSA_ALLOWED_ORIGINS", "https://ecsa.example.nhs.uk/join"),
    ("ECSA_TRUSTED_PROXIES", "-1"),
    ("ECSA_TRUSTED_PROXIES", "one"),
])
def test_a_setting_that_is_not_valid_is_named_with_what_it_must_be(tmp_path, name, value):
    assert_refused(run_app(tmp_path / "data", **{name: value}), name, "must", repr(value))
    assert not (tmp_path / "data").exists()  # refused before anything was touched


def test_a_port_out_of_range_is_refused_rather_than_wrapped_around(tmp_path):
    assert_refused(run_app(tmp_path / "data", "--port", "70000"), "--port", "1 to 65535", "70000")


# The data folder

def test_a_file_in_place_of_the_data_folder_is_named(tmp_path):
    (tmp_path / "data").write_text("not a folder")
    assert_refused(run_app(tmp_path / "data"), str(tmp_path / "data"), "a file is in its place", "ECSA_DATA_DIR")


def test_a_data_folder_this_user_cannot_write_is_named(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir(mode=0o500)
    try:
        result = run_app(folder, unprivileged=True)
    finally:
        folder.chmod(0o700)
    assert_refused(result, f"cannot write to the data folder {folder}", "Permission denied", "ECSA_DATA_DIR")


def test_a_second_server_on_the_same_data_folder_refuses_naming_the_first(tmp_path, servers):
    first = servers(tmp_path / "data")
    line = assert_refused(run_app(tmp_path / "data"), str(tmp_path / "data"), "in use by another ECSA Workshop",
                          f"pid {first.process.pid} ", "started ")
    assert "stop that one first, or set ECSA_DATA_DIR" in line
    assert first.process.poll() is None  # the first one carries on
    first.kill()  # the operating system drops its lock with the process, even on kill -9
    servers(tmp_path / "data")


def test_servers_on_different_data_folders_run_side_by_side(tmp_path, servers):
    servers(tmp_path / "one")
    servers(tmp_path / "two")


# The port

def test_a_port_in_use_is_named_before_anything_says_running(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_app(tmp_path / "data", "--port", str(port))
    assert_refused(result, f"port {port} on 127.0.0.1 is already in use", "--port")


def test_running_at_is_said_once_the_port_is_listening(tmp_path, servers):
    server = servers(tmp_path / "data")
    # No retry: the line is the signal that people can connect now.
    with socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass


def test_the_live_socket_upgrades_to_a_websocket_on_the_real_server(tmp_path, servers):
    server = servers(tmp_path / "data")
    ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket")
    try:
        assert ws.receive(timeout=5).startswith('0{"sid":')  # Engine.IO's open packet, over the WebSocket
    finally:
        ws.close()


# The framework file and the secret key

def test_a_framework_file_that_is_not_valid_is_named(tmp_path):
    framework = tmp_path / "framework.json"
    framework.write_text('{"id": "x"}')
    assert_refused(run_app(tmp_path / "data", ECSA_FRAMEWORK=str(framework)),
                   f"the framework file {framework} is not valid", "ECSA_FRAMEWORK")


def test_a_secret_key_too_short_to_be_safe_is_refused_and_kept(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").write_text("my-own-key\n")
    assert_refused(run_app(tmp_path / "data"), str(tmp_path / "data" / "secret_key"), "too short", "delete")
    assert (tmp_path / "data" / "secret_key").read_text() == "my-own-key\n"


@pytest.mark.parametrize("damage", ["no permission", "not text"])
def test_a_secret_key_file_that_cannot_be_read_is_refused_and_kept(tmp_path, damage):
    key = tmp_path / "data" / "secret_key"
    key.parent.mkdir()
    key.write_bytes(b"\xff\xfe" * 32 if damage == "not text" else b"k" * 64)
    key.chmod(0o000 if damage == "no permission" else 0o600)
    try:
        result = run_app(tmp_path / "data", unprivileged=damage == "no permission")
    finally:
        key.chmod(0o600)
    assert_refused(result, f"the secret key file {key} cannot be read", "delete it")
    assert len(key.read_bytes()) == 64


@pytest.mark.parametrize("content", ["", " \n"])
def test_an_empty_secret_key_file_is_replaced_with_a_warning_and_people_can_create(tmp_path, servers, content):
    key = tmp_path / "data" / "secret_key"
    key.parent.mkdir()
    key.write_text(content)
    server = servers(tmp_path / "data")
    assert re.fullmatch(r"[0-9a-f]{64}", key.read_text()) and key.stat().st_mode & 0o777 == 0o600
    assert f"WARNING: the secret key file {key} was empty, so a new key was made" in server.log.read_text()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", "/sessions", body="title=T&organisation=O&date=2026-12-01&scope=1&name=Fay&perspective=staff",
                       headers={"Content-Type": "application/x-www-form-urlencoded",
                                "Origin": f"http://127.0.0.1:{server.port}"})
    # Was 500: nothing can be signed with an empty key.
    assert connection.getresponse().status == 303
    connection.close()


# The allocator (ecsa/memory.py: what rooms free can then be handed back page by page)

def started_environment(server: Server) -> list[bytes]:
    """The environment the server's process was last exec'd with."""
    return Path(f"/proc/{server.process.pid}/environ").read_bytes().split(b"\0")


@pytest.mark.skipif(memory.GLIBC is None, reason="only under glibc does the app choose its allocator")
def test_the_server_runs_on_the_c_librarys_malloc_as_the_process_it_was_started_as(tmp_path, servers):
    server = servers(tmp_path / "data")  # the same process id: started again with execv, not forked
    assert b"PYTHONMALLOC=malloc" in started_environment(server)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/")
    assert connection.getresponse().status == 200


@pytest.mark.skipif(memory.GLIBC is None, reason="only under glibc does the app choose its allocator")
def test_an_allocator_the_operator_chose_is_kept(tmp_path, servers):
    server = servers(tmp_path / "data", PYTHONMALLOC="pymalloc")
    environment = started_environment(server)
    assert b"PYTHONMALLOC=pymalloc" in environment and b"PYTHONMALLOC=malloc" not in environment
