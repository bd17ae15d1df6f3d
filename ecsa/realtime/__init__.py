"""The live layer: one Socket.IO room per session, presence, live notes and change pushes.

The server never sends its own rendering of a change down the socket: it says *what*
changed (which blocks of which indicator) and each page fetches those blocks with htmx,
rendered for that viewer by the same templates as the page. Notes are the exception:
they travel as Yjs updates, which merge without conflicts.
"""

from __future__ import annotations

import socketio as socketio_library
from flask import Flask, current_app
from flask_socketio import SocketIO

from .. import origins, placement
from ..storage import FileRetired
from . import transport

socketio = SocketIO()

# Engine.IO's ping: a device that vanishes (lid closed, Wi-Fi gone) is dropped within
# ping_interval + ping_timeout seconds, so presence stays honest.
PING_INTERVAL, PING_TIMEOUT = 5, 5
MAX_MESSAGE_BYTES = 256 * 1024


def allowed_origin(origin: str | None, environ: dict) -> bool:
    """Same-origin, or an origin named in ECSA_PUBLIC_URL / ECSA_ALLOWED_ORIGINS; never '*'."""
    if origin is None:
        return True  # not a browser: the connect handler still demands the session cookie
    scheme, host = environ.get("wsgi.url_scheme", "http"), environ.get("HTTP_HOST", "")
    extra = current_app.config.get("ALLOWED_ORIGINS", ()) if current_app else ()
    return origins.allowed(origin, f"{scheme}://{host}", extra)


def init_app(app: Flask) -> None:
    """Bind Socket.IO to the app (threading mode: one process, no eventlet) and its handlers."""
    app.config["ALLOWED_ORIGINS"] = origins.configured(app.config.get("PUBLIC_URL"),
                                                      app.config.get("ALLOWED_ORIGINS_LIST"))
    # Imported before init_app: the first import registers the handlers on the singleton,
    # and init_app copies them onto each app's new server (imported after, only the first
    # app's server would have them, and a second app would accept any connection).
    from . import broadcast, handlers  # noqa: F401  (registers the socket handlers)
    # async_handlers=False: a socket's messages are handled in order on its own thread,
    # so one person's edits reach the others in the order they were typed. The client
    # manager hands each message to a socket in one piece (transport.WholeMessages).
    socketio.init_app(app, async_mode="threading", cors_allowed_origins=_origin_check(app),
                      ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT,
                      max_http_buffer_size=MAX_MESSAGE_BYTES, manage_session=False,
                      async_handlers=False, client_manager=_client_manager(app))
    transport.allow_batched_polls()
    fast = app.config.get("FAST_TRANSPORT", True)  # ECSA_FAST_TRANSPORT
    app.extensions["ecsa.fast_transport"] = transport.install(socketio.server, fast)
    app.wsgi_app = _refuse_oversized_posts(app.wsgi_app)
    broadcast.init_app(app)
    app.jinja_env.globals["live_people"] = broadcast.people
    if app.config.get("REDIS_URL"):
        _share_rooms(app)


def _client_manager(app: Flask):
    """One process: transport.WholeMessages. More than one (ECSA_REDIS_URL): Flask-SocketIO's
    Redis message queue, so an emit that starts outside a room's process still reaches
    its sockets (the app sends only text, so no message needs WholeMessages' lock)."""
    url = app.config.get("REDIS_URL")
    return socketio_library.RedisManager(url, channel="flask-socketio") if url else transport.WholeMessages()


def _share_rooms(app: Flask) -> None:
    """More than one process (README "More than one process"): open rooms only under a lease
    in Redis, answer a session served elsewhere with 503 and Retry-After (pages and socket
    handshakes), and drop the sockets of a room whose lease was lost."""
    from ..views.common import room_elsewhere

    registry = app.extensions["ecsa"]
    shared = placement.placement_for(app.config["REDIS_URL"], app.config["LEASE_SECONDS"], app.config["PROCESS_NAME"])
    registry.share_through(shared)
    registry.lost_listeners.append(lambda room, sockets: [socketio.server.disconnect(sid) for sid in sockets])
    app.register_error_handler(placement.RoomElsewhere, room_elsewhere)
    app.register_error_handler(FileRetired, room_elsewhere)
    app.wsgi_app = placement.placed(app.wsgi_app, registry.get, shared.owner)


def _refuse_oversized_posts(wsgi_app):
    """Answer 413 to a long-polling POST over the message limit before Engine.IO sees it.

    Engine.IO (threading mode) closes the socket on such a POST and then waits for the
    client to poll its close packet, which it never does: the request thread would hang
    for good, and the handshake needs no cookie, so anyone could pile such threads up.
    """
    def guarded(environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "").startswith("/socket.io/"):
            length = environ.get("CONTENT_LENGTH") or "0"
            if not length.isdigit() or int(length) > MAX_MESSAGE_BYTES:
                start_response("413 Request Entity Too Large", [("Content-Type", "text/plain")])
                return [b"Message too large."]
        return wsgi_app(environ, start_response)
    return guarded


def _origin_check(app: Flask):
    """The origin check bound to this app's configuration (it runs outside app context)."""
    def check(origin: str | None, environ: dict) -> bool:
        with app.app_context():
            return allowed_origin(origin, environ)
    return check

