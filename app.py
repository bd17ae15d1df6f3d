"""Run ECSA Workshop: `python app.py` (add `--host 0.0.0.0 --port 8000` for a LAN workshop)."""

import argparse
import gc
import socket
import sys

from ecsa import compile_templates, create_app
from ecsa.framework import FrameworkError
from ecsa.realtime import socketio
from ecsa.serving import RequestHandler


def lan_address() -> str:
    """This computer's address as its own name resolves (no traffic is sent)."""
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        address = "127.0.0.1"
    # Many machines resolve their own name to loopback, which no one else can reach.
    return "<this computer's address>" if address.startswith("127.") else address


def main() -> int:
    """Parse the command line, build the app and serve it until interrupted."""
    parser = argparse.ArgumentParser(description="Serve ECSA Workshop.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for a LAN)")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    try:
        app = create_app()
    except FrameworkError as error:
        print(f"ECSA Workshop cannot start: the framework file is not valid.\n  {error}", file=sys.stderr)
        return 1
    compile_templates(app)
    # What start-up built (framework, templates, modules: ~65,000 objects) lives as long
    # as the process; frozen, full garbage collections stop rescanning it (~17 ms each).
    gc.freeze()
    for problem in app.extensions["ecsa"].problems:
        print(f"WARNING: {problem}", file=sys.stderr)
    print(f"ECSA Workshop is running at http://{args.host}:{args.port}/ (data in {app.config['DATA_DIR']})")
    if args.host in ("0.0.0.0", "::"):
        print(f"On this network people join at http://{lan_address()}:{args.port}/join "
              "(set ECSA_PUBLIC_URL if that is not the address they can reach)")
    # Werkzeug's threaded server with simple-websocket serves one workshop well; the
    # flag acknowledges that it is not a multi-process production server.
    socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True, request_handler=RequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
