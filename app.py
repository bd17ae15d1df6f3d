"""Run ECSA Workshop: `python app.py` (add `--host 0.0.0.0 --port 8000` for a LAN workshop)."""

import argparse
import errno
import gc
import socket
import sys

from werkzeug.serving import LISTEN_QUEUE, BaseWSGIServer, make_server, select_address_family

from ecsa import compile_templates, config, create_app, datalock, memory
from ecsa.config import StartupError
from ecsa.framework import FrameworkError
from ecsa.placement import PlacementUnavailable, redact
from ecsa.serving import RequestHandler


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line (no usage block), exit 2."""

    def error(self, message: str):
        """Say what is wrong with the command line in one line, and stop (status 2)."""
        self.exit(2, f"ECSA Workshop cannot start: {message} (see python app.py --help)\n")


def port_number(text: str) -> int:
    """--port: a TCP port (0 lets the system pick a free one, which is then printed)."""
    port = int(text) if text.strip().isdigit() else -1
    if not 0 <= port <= 65535:  # a bigger number would silently wrap around (70000 is 4464)
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, not {text!r}")
    return port


def lan_address() -> str:
    """This computer's address as its own name resolves (no traffic is sent)."""
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        address = "127.0.0.1"
    # Many machines resolve their own name to loopback, which no one else can reach.
    return "<this computer's address>" if address.startswith("127.") else address


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, start (or say in one line why not) and serve until interrupted."""
    parser = ArgumentParser(description="Serve ECSA Workshop.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for a LAN)")
    parser.add_argument("--port", type=port_number, default=5000, help="port to listen on (0 picks a free one)")
    args = parser.parse_args(argv)
    memory.limit_arenas()  # before the server starts any thread (MALLOC_ARENA_MAX overrides it)
    for warning in config.unknown_settings():
        print(f"WARNING: {warning}", file=sys.stderr)
    try:
        app, server, held = start(args.host, args.port)
    except StartupError as error:
        print(f"ECSA Workshop cannot start: {' '.join(str(error).splitlines())}", file=sys.stderr)
        return 2
    announce(app, server, args.host)
    server.serve_forever()  # the data folder stays locked (held) until the process ends
    return 0


def start(host: str, port: int):
    """Everything that may refuse to start, each failure a StartupError: the ECSA_* settings,
    the data folder (locked for this process), the app, then the port. (app, server, lock)"""
    settings = config.from_environment()
    # More than one process serves one data folder only with ECSA_REDIS_URL, where each
    # session's lease keeps its file to one writer; otherwise one server per folder.
    held = datalock.hold(settings["DATA_DIR"]) if not settings["REDIS_URL"] else None
    try:
        app = build_app(settings["FRAMEWORK_PATH"])
        return app, serve_on(app, host, port), held
    except BaseException:
        if held is not None:
            held.release()
        raise


def build_app(framework_path: str):
    """create_app(), its templates compiled and its start-up objects frozen."""
    try:
        app = create_app()
    except FrameworkError as error:
        raise StartupError(f"{framework_problem(framework_path, error)}; fix it, "
                           "or set ECSA_FRAMEWORK to another framework file") from None
    except PlacementUnavailable:
        raise StartupError(f"cannot reach Redis at {redact(config.from_environment()['REDIS_URL'])} "
                           "(ECSA_REDIS_URL): start it, or fix the address") from None
    except OSError as error:  # e.g. the sessions folder or secret key cannot be written
        raise StartupError(f"cannot use {error.filename} ({error.strerror}): check the data folder "
                           "(ECSA_DATA_DIR) and the disk") from None
    compile_templates(app)
    # What start-up built (framework, templates, modules: ~65,000 objects) lives as long
    # as the process; frozen, full garbage collections stop rescanning it (~17 ms each).
    gc.freeze()
    return app


def framework_problem(path: str, error: FrameworkError) -> str:
    """What is wrong with the framework file, naming the file once."""
    if error.path == path:  # the file itself: cannot be read, or not JSON
        return f"the framework file {path} {str(error)[len(path) + 2:]}"
    return f"the framework file {path} is not valid: {error}"


def serve_on(app, host: str, port: int) -> BaseWSGIServer:
    """Werkzeug's threaded server (as Flask-SocketIO's run() makes it) on a socket bound here,
    so that a port in use is one clear line, and the port is listening before we say so."""
    listener = bind(host, port)
    try:
        # Werkzeug takes the bound socket (a copy of it) instead of binding its own.
        return make_server(host, port, app, threaded=True, request_handler=RequestHandler, fd=listener.fileno())
    finally:
        listener.close()


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, set up as Werkzeug would, or a StartupError."""
    family = select_address_family(host, port)
    try:
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
    except (socket.gaierror, UnicodeError):
        raise StartupError(not_this_computer(host)) from None
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
        listener.bind(address)
        listener.listen(LISTEN_QUEUE)
    except OSError as error:
        listener.close()
        raise StartupError(bind_problem(host, port, error)) from None
    return listener


def bind_problem(host: str, port: int, error: OSError) -> str:
    """Why the port cannot be listened on, and what to do."""
    if error.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is already in use (another ECSA Workshop, or another program): "
                "stop it, or choose another port with --port")
    if error.errno == errno.EACCES:
        return f"this user may not listen on port {port} (below 1024 needs root): choose another, e.g. --port 8000"
    if error.errno == errno.EADDRNOTAVAIL:
        return not_this_computer(host)
    return f"cannot listen on {host} port {port} ({error.strerror})"


def not_this_computer(host: str) -> str:
    """--host names no address of this computer (a typo, or another machine's address)."""
    return (f"--host {host} is not an address this computer has: use 127.0.0.1 (this computer only) "
            "or 0.0.0.0 (the local network)")


def announce(app, server: BaseWSGIServer, host: str) -> None:
    """Say what start-up found, then where the (already listening) server is."""
    for warning in app.extensions["ecsa.startup_warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    # Damaged sessions were logged by the registry as it found them, one line each.
    shown = f"[{host}]" if ":" in host else host
    print(f"ECSA Workshop is running at http://{shown}:{server.port}/ (data in {app.config['DATA_DIR']}); "
          "Ctrl+C stops it", flush=True)
    if host in ("0.0.0.0", "::"):
        print(f"On this network people join at http://{lan_address()}:{server.port}/join "
              "(set ECSA_PUBLIC_URL if that is not the address they can reach)", flush=True)


if __name__ == "__main__":
    memory.use_system_allocator()  # may start again at once, on glibc's malloc: ecsa/memory.py
    sys.exit(main())
