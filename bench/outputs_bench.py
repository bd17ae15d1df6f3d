"""`python -m bench.outputs_bench`: how long each output of a full session takes to make.

Builds a full session — all 86 indicators in scope, each with 2 KB of notes, 10 evidence
items, 5 actions, 8 ratings and an agreed rating — and times, in this process through
the app's own routes (the Flask test client: server time, no network), the Word report,
the HTML report, the Excel action plan and the overview with its progress summary and
heatmap (and the progress block alone, as live refreshes fetch it). Targets (issue #10):
Word ≤ 1 s, HTML report ≤ 100 ms, XLSX ≤ 500 ms, heatmap overview p95 ≤ 15 ms.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ecsa import compile_templates, create_app  # noqa: E402
from ecsa.events import now_iso  # noqa: E402
from ecsa.rounds import new_round  # noqa: E402
from ecsa.worksheet import new_worksheet  # noqa: E402

PEOPLE, EVIDENCE, ACTIONS, NOTES_BYTES = 8, 10, 5, 2048
RUNS = {"Word report": 10, "HTML report": 30, "XLSX action plan": 20, "overview": 100, "progress block": 100}
TARGETS = {"Word report": 1000, "HTML report": 100, "XLSX action plan": 500, "overview": 15, "progress block": 15}


def full_history(framework) -> dict:
    """What a long workshop leaves on every indicator, as a session's history."""
    at = now_iso()
    people = [{"id": f"p{n}", "name": f"Person {n}", "perspective": "staff", "joined_at": at} for n in range(PEOPLE)]
    sentence = "The group discussed how people who use services shape the strategy. "
    notes = (sentence * (NOTES_BYTES // len(sentence) + 1))[:NOTES_BYTES]
    sheets = []
    for number, indicator in enumerate(framework.indicators()):
        ws = new_worksheet(indicator.id)
        ws.update(state="agreed", notes=notes, agreed_rating={"value": number % 5 + 1, "by": "Fay", "at": at,
                                                              "rationale": "Signed off by the board."},
                  lock={"by": "Fay", "at": at},
                  lock_history=[{"action": "locked", "by": "Fay", "at": at, "reason": None}],
                  rounds=[dict(new_round(), revealed={"by": "Fay", "at": at, "auto": False},
                               votes={p["id"]: {"value": (number + n) % 5 + 1, "name": p["name"], "at": at}
                                      for n, p in enumerate(people)})],
                  evidence=[_item(n, at, text=f"Evidence {n}: survey of {indicator.id}",
                                  source=f"https://example.org/{n}") for n in range(EVIDENCE)],
                  actions=[_item(n, at, what=f"Action {n} for {indicator.id}: share the findings", owner="Sam",
                                 due="2027-03-31", status="open") for n in range(ACTIONS)])
        sheets.append(ws)
    return {"participants": people, "worksheets": sheets, "audit": []}


def _item(number: int, at: str, **fields) -> dict:
    """An evidence item or action as stored."""
    return dict(fields, id=f"{number:012x}", author_id="p0", author_name="Person 0", at=at, rev=1)


def timed(client, url: str, runs: int, headers=None) -> list[float]:
    """Milliseconds per GET of url, after one warm-up."""
    assert client.get(url, headers=headers).status_code == 200
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.get(url, headers=headers)
        answer.get_data()
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    return times


def main() -> None:
    """Build the session, time each output, print a table."""
    app = create_app({"DATA_DIR": tempfile.mkdtemp(prefix="ecsa-outputs-bench-") + "/data"})
    compile_templates(app)
    registry = app.extensions["ecsa"]
    details = {"title": "Full assessment", "organisation": "Example NHS Trust", "date": "2026-12-01",
               "scope": [s.number for s in registry.framework.sections]}
    workshop, facilitator, token = registry.create(details, "Fay Facilitator", "staff",
                                                   history=full_history(registry.framework))
    client = app.test_client()
    assert client.get(f"/s/{workshop.id}/facilitator/{token}").status_code in (302, 303)
    base = f"/s/{workshop.id}"
    urls = {"Word report": (f"{base}/report.docx", None), "HTML report": (f"{base}/report", None),
            "XLSX action plan": (f"{base}/action-plan.xlsx", None), "overview": (f"{base}/", None),
            "progress block": (f"{base}/?block=progress", {"HX-Request": "true"})}
    print(f"Full session: {len(registry.framework.indicators())} indicators, each {NOTES_BYTES} B of notes, "
          f"{EVIDENCE} evidence items, {ACTIONS} actions, {PEOPLE} ratings\n")
    print(f"{'output':<18} {'median':>9} {'p95':>9} {'target':>9}  size")
    for name, (url, headers) in urls.items():
        times = timed(client, url, RUNS[name], headers)
        size = len(client.get(url, headers=headers).data)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 20 else max(times)
        print(f"{name:<18} {statistics.median(times):>7.1f}ms {p95:>7.1f}ms {TARGETS[name]:>7}ms  {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
