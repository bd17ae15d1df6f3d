"""Server time of ECSA's pages, as a ratio to a bare Flask route in the same process.

Each request is a WSGI call straight into the app (no socket, no client), timed from the
call until the whole body has been produced, so the figure is the server's work alone.
Targets are measured in interleaved rounds, so drift on a busy machine hits all alike.
"""

from __future__ import annotations

import tempfile
import time

from flask import Flask
from werkzeug.test import EnvironBuilder

from .stats import ratio, summary_ms
from .workshop_seed import INDICATOR, seed

ROUNDS = 10
WARMUP = 20


def bare_app() -> Flask:
    """The floor: a Flask app with one route that returns a short string."""
    bare = Flask("bare")
    bare.add_url_rule("/", "bare", lambda: "ok")
    return bare


def targets(app: Flask, session_id: str, cookie: str) -> dict[str, tuple[Flask, str, dict]]:
    """What is timed: name -> (app, path, headers)."""
    auth = {"Cookie": f"ecsa={cookie}"}
    here = f"/s/{session_id}/i/{INDICATOR}"
    return {
        "bare Flask route": (bare_app(), "/", {}),
        "overview page": (app, f"/s/{session_id}/", auth),
        "indicator page": (app, here, auth),
        "fragment (ratings_summary, htmx)": (app, f"{here}?block=ratings_summary", dict(auth, **{"HX-Request": "true"})),
    }


def time_request(app: Flask, path: str, headers: dict) -> tuple[float, int]:
    """One WSGI request: (seconds until the body is complete, status code)."""
    environ = EnvironBuilder(path=path, headers=headers, base_url="http://127.0.0.1:5000").get_environ()
    status = []
    start = time.perf_counter()
    body = app.wsgi_app(environ, lambda s, h, e=None: status.append(s))
    try:
        for _ in body:
            pass
    finally:
        getattr(body, "close", lambda: None)()
    return time.perf_counter() - start, int(status[0].split()[0])


def run(requests: int) -> dict:
    """p50/p95 server time of each target over `requests` requests, and ratios to the bare route."""
    from ecsa import create_app
    with tempfile.TemporaryDirectory() as data:
        app = create_app({"DATA_DIR": data})
        seeded = seed(app)
        plan = targets(app, seeded.session_id, seeded.cookie())
        samples = {name: [] for name in plan}
        statuses = {name: set() for name in plan}
        for name, (target, path, headers) in plan.items():
            for _ in range(WARMUP):
                time_request(target, path, headers)
        per_round = max(1, requests // ROUNDS)
        for _ in range(ROUNDS):
            for name, (target, path, headers) in plan.items():
                for _ in range(per_round):
                    seconds, status = time_request(target, path, headers)
                    samples[name].append(seconds)
                    statuses[name].add(status)
    return summarise(samples, statuses)


def summarise(samples: dict[str, list[float]], statuses: dict[str, set]) -> dict:
    """Per target: p50/p95 in ms, the ratio of each to the bare route's, and the statuses seen."""
    bare = summary_ms(samples["bare Flask route"])
    rows = {}
    for name, values in samples.items():
        s = summary_ms(values)
        rows[name] = dict(s, p50_ratio=ratio(s["p50"], bare["p50"]), p95_ratio=ratio(s["p95"], bare["p95"]),
                          statuses=sorted(statuses[name]))
    return rows
