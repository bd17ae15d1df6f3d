"""Reference server: the least a Python Socket.IO server can do for a live edit.

A python-socketio ASGI app on uvicorn. A client joins the room named in its handshake
auth ({"session": ...}); each `edit` it sends is acknowledged and forwarded to the rest
of that room. Nothing is parsed, stored or rendered.

Run: python -m bench.py_relay --port 5101
"""

from __future__ import annotations

import argparse

import socketio
import uvicorn

# Same ping and message limits as the ECSA server, so the comparison is like for like.
sio = socketio.AsyncServer(async_mode="asgi", ping_interval=5, ping_timeout=5,
                           max_http_buffer_size=256 * 1024)
app = socketio.ASGIApp(sio)
rooms: dict[str, str] = {}


@sio.event
async def connect(sid, environ, auth):
    """Join the room the client names."""
    room = str((auth or {}).get("session", "lobby"))
    rooms[sid] = room
    await sio.enter_room(sid, room)


@sio.event
async def disconnect(sid, reason=None):
    """Forget the client's room."""
    rooms.pop(sid, None)


@sio.on("edit")
async def edit(sid, data):
    """Forward an edit to everyone else in the sender's room, and acknowledge it."""
    await sio.emit("edit", data, room=rooms.get(sid), skip_sid=sid)
    return {"ok": True}


def main() -> None:
    """Serve the relay on loopback until killed."""
    parser = argparse.ArgumentParser(description="Minimal python-socketio relay (benchmark reference).")
    parser.add_argument("--port", type=int, default=5101)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", ws="websockets", loop="asyncio")


if __name__ == "__main__":
    main()
