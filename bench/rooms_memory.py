"""`python -m bench.rooms_memory`: do rooms give their memory back?

Serves the app in this process (Werkzeug's threaded server with simple-websocket, as
`python app.py` does) and drives it from a second process: N sessions are created over
HTTP, each with a facilitator's page connected over a real WebSocket (python-socketio's
AsyncClient) and showing an indicator; then every page disconnects and the rooms' grace
period passes. Prints this process's resident memory and the live room objects before,
at the peak and after. Target (issue #12): after within 10% of before, zero rooms left.
Memory is read as the server leaves it: what glibc gives back is what the app's
`ecsa.memory` gives back as rooms close. Like `python app.py`, this starts again on the C
library's malloc unless PYTHONMALLOC is set (PYTHONMALLOC=pymalloc measures CPython's own
allocator); MALLOC_ARENA_MAX, if set, is the app's too.

Only the server lives in the measured process. "Before" is taken after a warm-up session
has come and gone, so what the first session loads for good (templates, pycrdt, the
socket machinery) is not counted as a leak.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Seconds an idle room stays open here. The app's default is 60, by when a closed socket's
# threads (Engine.IO's ping loop sleeps up to its 5 s interval) have long ended; so here too,
# or the memory they free would come after the trim that follows a room's close.
GRACE = 10.0
CONNECTING_AT_ONCE = 50
ALLOCATORS = {None: "CPython's own allocator (pymalloc)", "pymalloc": "CPython's own allocator (pymalloc)",
              "malloc": "the C library's malloc, as app.py runs"}


def rss_mib() -> float:
    """This process's resident memory, in MiB, as the server leaves it (no trim of our own:
    what glibc hands back is what the app's `ecsa.memory` hands back)."""
    gc.collect()
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def pymalloc_arenas() -> int | None:
    """How many 1 MiB arenas Python's small-object allocator holds (None: it is off, as with
    PYTHONMALLOC=malloc). An arena goes back to the system only when every object in it is
    freed, so a few long-lived objects made during the peak (a new session's entry in the
    registry, a bounded cache's entries) keep whole arenas resident."""
    read, write = os.pipe()
    saved = os.dup(2)
    os.dup2(write, 2)  # the statistics are written by C to the process's stderr
    try:
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(write)
    with os.fdopen(read) as stats:
        found = re.search(r"# arenas allocated current\s*=\s*([\d,]+)", stats.read())
    return int(found.group(1).replace(",", "")) if found else None


# ---- the client process -----------------------------------------------------------------

async def clients(base: str, count: int, known: str) -> None:
    """Open count sessions with a connected page each; close them all when told. Sessions
    listed in the file `known` (id and cookie a line) are opened again; otherwise new ones are
    made and listed there."""
    import aiohttp
    import socketio

    from bench.loadgen import SESSION_FORM
    pages, gate = [], asyncio.Semaphore(CONNECTING_AT_ONCE)
    listed = [tuple(line.split()) for line in Path(known).read_text().splitlines()] if Path(known).exists() else []
    made = []

    async def one(http, reopen: tuple[str, str] | None) -> None:
        async with gate:
            if reopen:
                session_id, cookie = reopen
            else:
                async with http.post(f"{base}/sessions", data=SESSION_FORM, allow_redirects=False) as created:
                    session_id = created.headers["Location"].split("/")[2]
                    cookie = created.cookies["ecsa"].value
                made.append(f"{session_id} {cookie}")
            page = socketio.AsyncClient(reconnection=False)
            await page.connect(base, headers={"Cookie": f"ecsa={cookie}"}, auth={"session": session_id},
                               transports=["websocket"], wait_timeout=30)
            await page.call("where", {"indicator": "1a"})
            pages.append(page)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        await asyncio.gather(*(one(http, listed[n] if n < len(listed) else None) for n in range(count)))
    if made:
        Path(known).write_text("\n".join(made) + "\n")
    print(f"open {len(pages)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.gather(*(page.disconnect() for page in pages))
    print("closed", flush=True)


# ---- the server process (measured) -------------------------------------------------------

def serve():
    """The app on a free loopback port in background threads: (app, base URL, server)."""
    from werkzeug.serving import make_server

    from ecsa import compile_templates, create_app, memory
    from ecsa.serving import RequestHandler
    memory.limit_arenas()  # as app.py does, before the server's threads
    app = create_app({"DATA_DIR": tempfile.mkdtemp(prefix="ecsa-rooms-bench-") + "/data"})
    compile_templates(app)
    app.extensions["ecsa"].rooms.grace = GRACE
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, f"http://127.0.0.1:{server.server_port}", server


def drive(base: str, count: int, rooms, known: str) -> tuple[float, int, float]:
    """Run the client process for count sessions (those listed in the file `known`, else new
    ones): (RSS at the peak, rooms at the peak, seconds to open)."""
    from ecsa import memory
    from ecsa.realtime import socketio
    started, before = time.monotonic(), set(threading.enumerate())
    child = subprocess.Popen([sys.executable, "-m", "bench.rooms_memory", "--clients", base, str(count), known],
                             cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    opened = child.stdout.readline().split()
    assert opened == ["open", str(count)], f"the client process said {opened}"
    took, peak, alive = time.monotonic() - started, rss_mib(), rooms.alive()
    child.stdin.write("close\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "closed"
    child.wait(60)
    # Each socket's threads (Engine.IO's ping loop sleeps up to the 5 s ping interval) end,
    # and Engine.IO forgets the socket, a few seconds after it closes; the rooms close after
    # their grace period. Until all that is done, what they hold is still in use.
    engine, deadline = socketio.server.eio, time.monotonic() + 180
    while (rooms.open_ids() or engine.sockets or socket_threads(before) or not memory.TRIMMER.settled()) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    return peak, alive, took


def socket_threads(before: set) -> list[threading.Thread]:
    """Threads started since `before` that are still running, but for Socket.IO's service
    thread: the first connection starts it and it lasts as long as the server."""
    return [thread for thread in threading.enumerate()
            if thread not in before and "_service_task" not in thread.name]


def main() -> None:
    """Measure and print (or, with --clients, be the client process)."""
    parser = argparse.ArgumentParser(prog="python -m bench.rooms_memory")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--clients", nargs=3, metavar=("BASE", "N", "KNOWN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients:
        return asyncio.run(clients(args.clients[0], int(args.clients[1]), args.clients[2]))
    from ecsa import memory
    memory.use_system_allocator()  # as app.py does: this process may start again at once
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app, base, server = serve()
    rooms = app.extensions["ecsa"].rooms
    known = tempfile.mkdtemp(prefix="ecsa-rooms-bench-") + "/sessions.txt"
    drive(base, 1, rooms, known + ".warm-up")  # warm-up
    before, alive_before, objects_before = rss_mib(), rooms.alive(), len(gc.get_objects())
    arenas_before = pymalloc_arenas()
    peak, alive_peak, took = drive(base, args.sessions, rooms, known)
    after, alive_after, objects_after = rss_mib(), rooms.alive(), len(gc.get_objects())
    arenas_after = pymalloc_arenas()
    # The same sessions' rooms opened and closed again: what rooms give back, apart from what
    # making 1,000 sessions adds for good (each one's entries in the registry and folder index).
    again_peak, again_alive, _ = drive(base, args.sessions, rooms, known)
    again, again_after = rss_mib(), rooms.alive()
    server.shutdown()
    print(f"{args.sessions} sessions, each with a page on a real WebSocket, opened in {took:.1f} s; "
          f"objects on {ALLOCATORS.get(os.environ.get('PYTHONMALLOC'), os.environ.get('PYTHONMALLOC'))}")
    print(f"server RSS before {before:.1f} MiB, peak {peak:.1f} MiB, after {after:.1f} MiB "
          f"({(after - before) / before * 100:+.1f}% of before; target within 10%)")
    print(f"live rooms: before {alive_before}, peak {alive_peak}, after {alive_after} (target 0)")
    print(f"Python objects the collector tracks: before {objects_before:,}, after {objects_after:,} "
          f"({objects_after - objects_before:+,})")
    if arenas_before is not None and arenas_after is not None:
        print(f"Python's small-object arenas (1 MiB each): before {arenas_before}, after {arenas_after} "
              f"({arenas_after - arenas_before:+})")
    print(f"the same {args.sessions} sessions' rooms opened and closed again: RSS before {after:.1f} MiB, "
          f"peak {again_peak:.1f} MiB, after {again:.1f} MiB ({(again - after) / after * 100:+.1f}%); "
          f"live rooms at the peak {again_alive}, after {again_after}")


if __name__ == "__main__":
    main()
