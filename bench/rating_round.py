"""`python -m bench.rating_round`: a rating round where everyone rates within 10 seconds.

Starts `python app.py` on a free loopback port (a fresh data folder) and, from this
process, runs K sessions of N people (default 4 x 60), every page on the same indicator
over a real WebSocket, as a page says with `where`. Then, in each session, every person
posts a rating (`POST /s/<sid>/i/1a/vote`, as the page's form does) at a random moment
within the round (default 10 s): 24 votes a second across the server. For every vote and
every page of its session, the time from sending the POST to that page receiving the
change with its blocks (the push carries them, rendered for that page) is measured.
Target (issue #12): p95 <= 50 ms.

Then the facilitator of each session reveals the round (all sessions at once), and for
every page the time from sending `POST /s/<sid>/i/1a/reveal` to that page receiving the
distribution (the pushed ratings block) is measured. Target (issue #9): within 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parent.parent
FORM = {"title": "Rating round", "organisation": "Bench Trust", "date": "2026-12-01", "scope": ["1"],
        "name": "Fay Facilitator", "perspective": "staff"}
INDICATOR = "1a"


def start_server() -> tuple[subprocess.Popen, str]:
    """python app.py on a free port; returns the process and its base URL."""
    env = dict(os.environ, ECSA_DATA_DIR=tempfile.mkdtemp(prefix="ecsa-round-") + "/data")
    server = subprocess.Popen([sys.executable, "app.py", "--port", "0"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    return server, line.split("running at ")[1].split("/ ")[0]


async def session(http: aiohttp.ClientSession, base: str, people: int) -> tuple[str, list[tuple[str, str]], str]:
    """A new session and `people` participants in it: (session id, [(name, cookie)], the
    facilitator's cookie)."""
    async with http.post(f"{base}/sessions", data=FORM, allow_redirects=False) as created:
        session_id = created.headers["Location"].split("/")[2]
        cookie = created.cookies["ecsa"].value
    async with http.get(f"{base}/s/{session_id}/share", headers={"Cookie": f"ecsa={cookie}"}) as share:
        code = (await share.text()).split("/join/")[1][:6]
    joined = []
    for n in range(people):
        name = f"Person {n:02d}"
        async with http.post(f"{base}/join/{code}", data={"name": name, "perspective": "staff"},
                             allow_redirects=False) as answer:
            joined.append((name, answer.cookies["ecsa"].value))
    return session_id, joined, cookie


async def main_async(args) -> None:
    """Open the sessions, run the round, print the figures."""
    server, base = start_server()
    sent: dict[tuple[str, str], float] = {}   # (session, voter) -> when the POST was sent
    latencies, missing_blocks = [], 0
    revealed_at: dict[str, float] = {}  # session -> when its reveal POST was sent
    reveals, reveals_without_distribution = [], 0
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            rooms = [await session(http, base, args.people) for _ in range(args.sessions)]
            pages = []

            def on_changed(session_id: str, change: dict) -> None:
                nonlocal missing_blocks, reveals_without_distribution
                if change.get("type") == "round_revealed" and session_id in revealed_at:
                    reveals.append(time.perf_counter() - revealed_at[session_id])
                    reveals_without_distribution += "ecsa-distribution" not in change.get("html", {}).get("ratings", "")
                if change.get("type") != "vote_cast":
                    return
                voter = change["message"].rsplit(" rated ", 1)[0]
                if (session_id, voter) in sent:
                    latencies.append(time.perf_counter() - sent[(session_id, voter)])
                    missing_blocks += not change.get("html")

            for session_id, people, _ in rooms:
                for _, cookie in people:
                    page = socketio.AsyncClient(reconnection=False)
                    page.on("changed", lambda change, s=session_id: on_changed(s, change))
                    await page.connect(base, headers={"Cookie": f"ecsa={cookie}"}, auth={"session": session_id},
                                       transports=["websocket"])
                    await page.call("where", {"indicator": INDICATOR})
                    pages.append(page)
            await asyncio.sleep(1)
            rng, start = random.Random(args.seed), time.perf_counter() + 0.5

            async def vote(session_id: str, name: str, cookie: str) -> None:
                await asyncio.sleep(max(0.0, start + rng.uniform(0, args.seconds) - time.perf_counter()))
                sent[(session_id, name)] = time.perf_counter()
                async with http.post(f"{base}/s/{session_id}/i/{INDICATOR}/vote", data={"value": str(rng.randint(1, 5))},
                                     headers={"Cookie": f"ecsa={cookie}", "HX-Request": "true"}) as answer:
                    assert answer.status == 200, answer.status
            await asyncio.gather(*(vote(sid, name, cookie) for sid, people, _ in rooms for name, cookie in people))
            await asyncio.sleep(3)

            async def reveal(session_id: str, cookie: str) -> None:
                revealed_at[session_id] = time.perf_counter()
                async with http.post(f"{base}/s/{session_id}/i/{INDICATOR}/reveal",
                                     headers={"Cookie": f"ecsa={cookie}", "HX-Request": "true"}) as answer:
                    assert answer.status == 200, answer.status
            await asyncio.gather(*(reveal(sid, fay) for sid, _, fay in rooms))
            await asyncio.sleep(3)
            await asyncio.gather(*(page.disconnect() for page in pages))
    finally:
        server.terminate()
        server.wait(10)
    expected = args.sessions * args.people * args.people
    ms = sorted(x * 1000 for x in latencies)
    print(f"{args.sessions} sessions x {args.people} people, every one rating within {args.seconds:g} s "
          f"({args.sessions * args.people / args.seconds:.0f} votes/s)")
    print(f"vote -> its change on each page of the session: {len(ms):,} of {expected:,} received, "
          f"p50 {statistics.median(ms):.1f} ms, p95 {ms[int(len(ms) * 0.95)]:.1f} ms, "
          f"p99 {ms[int(len(ms) * 0.99)]:.1f} ms, max {ms[-1]:.1f} ms; without blocks: {missing_blocks}")
    shown = sorted(x * 1000 for x in reveals)
    print(f"reveal (all {args.sessions} sessions at once) -> the distribution on each page: {len(shown):,} of "
          f"{args.sessions * args.people:,} received, p50 {statistics.median(shown):.1f} ms, "
          f"p95 {shown[int(len(shown) * 0.95)]:.1f} ms, max {shown[-1]:.1f} ms; "
          f"without the distribution: {reveals_without_distribution}")


def main() -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.rating_round")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
