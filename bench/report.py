"""Turns the measurements into one markdown report: figures, ratios, targets and problems."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .loadgen import GENERATOR_CPU_LIMIT, NOISY_OTHER_CPU, SuiteResult, Window, passes
from .plan import Plan
from .servers import LABELS
from .stats import percentile, ratio, summary_ms

TARGET_P95_N30_MS, TARGET_P95_N60_MS, TARGET_RELAY_FACTOR = 50.0, 100.0, 2.0
TARGET_PAGE_P95_MS, TARGET_WEIGHT_BYTES, TARGET_WRITE_1MB_MS = 15.0, 150_000, 20.0


@dataclass
class Report:
    """Everything one run measured, plus where and with what it ran."""

    plan: Plan
    meta: dict
    servers: list[str]                      # keys of the servers that ran ("ecsa", "py", "node")
    unavailable: dict[str, str]             # key -> why it did not run
    suite: SuiteResult
    idle_rss: dict[str, int]
    http: dict
    weight: dict
    storage: list[dict]
    problems: list[str] = field(default_factory=list)


# ---- aggregation ---------------------------------------------------------------------------

def aggregate(windows: list[Window]) -> dict:
    """Merge the windows of one server at one N into one set of figures."""
    latencies = [x for w in windows for x in w.latencies]
    delivered = sum(len(w.seen) for w in windows)
    counts = sum((w.counts for w in windows), Counter())
    return dict(
        summary_ms(latencies), delivered=delivered, drops=sum(w.drops for w in windows),
        expected=sum(w.expected for w in windows),
        cpu_per_1000=1000 * 1000 * sum(w.server_cpu_s for w in windows) / delivered if delivered else None,
        gen_cpu=max((w.gen_cpu_fraction for w in windows), default=0.0),
        other_cpu=max((w.other_cpu for w in windows), default=0.0),
        loop_lag_p99=(percentile([x for w in windows for x in w.loop_lags], 99) or 0) * 1000,
        valid=all(w.valid for w in windows), counts=counts,
        window_p95s=[summary_ms(w.latencies)["p95"] for w in windows],
        votes=summary_ms([x for w in windows for x in w.vote_latencies]),
        vote_drops=sum(w.vote_drops for w in windows), vote_expected=sum(w.vote_expected for w in windows),
        vote_http=summary_ms([x for w in windows for x in w.vote_http]),
    )


def figures(report: Report) -> dict[tuple[str, int], dict]:
    """(server, N) -> aggregated figures, for every measured pair."""
    return {key: aggregate(windows) for key, windows in report.suite.windows.items() if windows}


def best_sustained(report: Report, key: str) -> tuple[float | None, str]:
    """Highest deliveries/s at the ladder's N with p95 <= 100 ms, and what limited it."""
    steps = report.suite.windows.get((key, report.plan.ladder_n), []) + report.suite.ladder.get(key, [])
    good = [w for w in steps if passes(w)]
    best = max(good, key=lambda w: w.deliveries_per_s, default=None)
    above = sorted((w for w in steps if not passes(w) and (best is None or w.rate > best.rate)),
                   key=lambda w: w.rate)
    if not above:
        limit = "passed every step"
    elif not above[0].valid:
        limit = f"then generator-bound at {above[0].rate:g} edits/s per writer"
    else:
        limit = f"missed at {above[0].rate:g} edits/s per writer"
    return (best.deliveries_per_s if best else None), limit


# ---- formatting ----------------------------------------------------------------------------

def ms(value: float | None) -> str:
    """Milliseconds, or a dash."""
    return "–" if value is None else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def times(value: float | None) -> str:
    """A ratio like 1.8×, or a dash."""
    return "–" if value is None else f"{value:.2f}×"


def kib(value: float | None) -> str:
    """Bytes as KiB (or MiB when large)."""
    if value is None:
        return "–"
    return f"{value / 1048576:.1f} MiB" if value >= 10 * 1048576 else f"{value / 1024:.1f} KiB"


def at_most(value: float | None, limit: float) -> bool | None:
    """value <= limit, or None when there is no value."""
    return None if value is None else value <= limit


def noisy_mark(f: dict) -> str:
    """A dagger when other work used more than NOISY_OTHER_CPU cores during these windows."""
    return " †" if f.get("other_cpu", 0) > NOISY_OTHER_CPU else ""


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def column(report: Report, key: str) -> bool:
    """Whether the server ran (else its columns say 'not available')."""
    return key in report.servers


# ---- sections ------------------------------------------------------------------------------

def header(report: Report) -> str:
    """Title, when, where and with which versions."""
    m, p = report.meta, report.plan
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    missing = "".join(f"\n- **{LABELS[k]}: not available** ({why})" for k, why in report.unavailable.items())
    return f"""# ECSA Workshop benchmark ({p.name} run)

- Date: {m['date']} · took {m['elapsed_s']:.0f} s · command: `{m['command']}`
- Machine: {m['cores']} cores ({m['cpu']}), {m['memory']}, Python {m['python']}, Node {m['node'] or 'not installed'}
- Versions: {versions}
- Load: K = {p.sessions} sessions × N clients, W = min(N, {p.max_writers}) writers each sending Poisson edits at {p.rate:g}/s
  (real pycrdt updates of ~100 B), {p.rounds} round(s) of {p.window_s:g} s per server and N, alternating servers;
  ECSA sessions also take {p.vote_rate:g} votes/s each over HTTP. Loopback only, one generator process,
  which collects its garbage and freezes its heap before each window (so its own GC pauses are not charged to a server).
- Load average at start / end: {m['load_start']} / {m['load_end']}. **Other work shares this 2-core machine, so
  figures are noisy**: "other CPU" is what the rest of the machine used during a window (in cores, of 2).
  A window where it passed {NOISY_OTHER_CPU:g} cores was measured again (up to {p.noisy_repeats} times per server
  and run), keeping the quieter of the two: {report.suite.repeated} window(s) were. A † marks figures from
  windows that stayed noisy.{missing}
"""


def latency_section(report: Report, fig: dict) -> str:
    """Edits: latency, drops and costs per server and N."""
    rows = []
    for n in report.plan.sizes:
        for key in ("ecsa", "py", "node"):
            f = fig.get((key, n))
            if not column(report, key) or f is None:
                rows.append([n, LABELS[key], "not available"] + [""] * 9)
                continue
            flag = "" if f["valid"] else " ⚠ invalid (> 70 %)"
            rows.append([n, LABELS[key], ms(f["p50"]), ms(f["p95"]), ms(f["p99"]),
                         " / ".join(ms(p) for p in f["window_p95s"]), f["delivered"], f["drops"],
                         ms(f["cpu_per_1000"]), f"{f['gen_cpu']:.0%}{flag}", f"{f['loop_lag_p99']:.0f}",
                         f"{f['other_cpu']:.2f}{noisy_mark(f)}"])
    return "## Live notes edits: latency from scheduled send to receipt (ms)\n\n" + table(
        ["N", "server", "p50", "p95", "p99", "p95 of each window", "deliveries", "drops",
         "server CPU-ms / 1k deliveries",
         "generator CPU (max)", "generator loop lag p99 (ms)", "other CPU (cores, max)"], rows)


def ratio_section(report: Report, fig: dict) -> str:
    """ECSA's latency as a multiple of each reference's, window by window of the same run."""
    rows = []
    for n in report.plan.sizes:
        ours = fig.get(("ecsa", n), {})
        row = [n]
        for key in ("py", "node"):
            ref = fig.get((key, n)) if column(report, key) else None
            mark = noisy_mark(ours) or noisy_mark(ref or {})
            row += [times(ratio(ours.get(q), ref.get(q))) + mark if ref else "not available"
                    for q in ("p50", "p95", "p99")]
        rows.append(row)
    return "## ECSA ÷ reference, same run\n\n" + table(
        ["N", "p50 ÷ Python relay", "p95 ÷ Python relay", "p99 ÷ Python relay",
         "p50 ÷ Node relay", "p95 ÷ Node relay", "p99 ÷ Node relay"], rows)


def summary_section(report: Report, fig: dict) -> str:
    """The headline figures per server, with ECSA's ratio to each reference."""
    values = {key: server_figures(report, fig, key) for key in ("ecsa", "py", "node") if column(report, key)}
    names = list(next(iter(values.values())).keys()) if values else []
    rows = []
    for name in names:
        ours = values.get("ecsa", {}).get(name, (None, ""))
        row = [name] + [values[k][name][1] if k in values else "not available" for k in ("ecsa", "py", "node")]
        row += [times(ratio(ours[0], values[k][name][0])) if k in values else "not available" for k in ("py", "node")]
        rows.append(row)
    return "## Headline figures\n\n" + table(
        ["figure", "ECSA", "Python relay", "Node relay", "ECSA ÷ Python relay", "ECSA ÷ Node relay"], rows)


def server_figures(report: Report, fig: dict, key: str) -> dict[str, tuple[float | None, str]]:
    """name -> (value for ratios, text) of one server's headline figures."""
    plan, out = report.plan, {}
    growth = plan.growth_sizes
    if growth:
        small, large = fig.get((key, growth[0]), {}), fig.get((key, growth[1]), {})
        value = ratio(large.get("p95"), small.get("p95"))
        out[f"p95 growth, N={growth[1]} ÷ N={growth[0]}"] = (value, times(value))
    else:
        out["p95 growth, N=60 ÷ N=5"] = (None, "not measured (quick run)")
    best, ended = best_sustained(report, key)
    out[f"highest sustained deliveries/s at N={plan.ladder_n} (p95 ≤ 100 ms)"] = (
        best, f"{best:,.0f} ({ended})" if best else f"none ({ended})")
    at = fig.get((key, plan.ladder_n), {})
    out[f"server CPU-ms per 1,000 deliveries at N={plan.ladder_n}"] = (at.get("cpu_per_1000"), ms(at.get("cpu_per_1000")))
    out["idle RSS"] = (report.idle_rss.get(key), kib(report.idle_rss.get(key)))
    top = max(plan.sizes)
    per = report.suite.rss_per_connection.get((key, top))
    out[f"RSS per connection (N={top}, K={plan.sessions})"] = (per, kib(per))
    drops = sum(f["drops"] for (k, _), f in fig.items() if k == key)
    out["drops, all windows"] = (None, str(drops))
    return out


def ladder_section(report: Report) -> str:
    """Every step of the edit-rate ladder at the ladder's N."""
    rows = []
    for key in ("ecsa", "py", "node"):
        base = report.suite.windows.get((key, report.plan.ladder_n), [])
        for w in base + report.suite.ladder.get(key, []):
            s = summary_ms(w.latencies)
            rows.append([LABELS[key], f"{w.rate:g}", f"{w.deliveries_per_s:,.0f}", ms(s["p95"]), w.drops,
                         f"{w.gen_cpu_fraction:.0%}", f"{w.other_cpu:.2f}", "yes" if passes(w) else "no"])
    return (f"## Edit-rate ladder at N = {report.plan.ladder_n} (sustained = p95 ≤ 100 ms, no drops, "
            f"generator ≤ {GENERATOR_CPU_LIMIT:.0%} of a core)\n\n") + table(
        ["server", "edits/s per writer", "deliveries/s", "p95 (ms)", "drops", "generator CPU", "other CPU",
         "sustained"], rows)


def votes_section(report: Report, fig: dict) -> str:
    """The structured change: a vote POSTed as the page does, until every client has `changed`."""
    rows = []
    for n in report.plan.sizes:
        f = fig.get(("ecsa", n))
        if f is None:
            continue
        v, h = f["votes"], f["vote_http"]
        errors = f["counts"].get("vote errors", 0)
        rows.append([n, ms(v["p50"]), ms(v["p95"]), ms(v["p99"]), v["n"], f["vote_drops"], ms(h["p50"]),
                     ms(h["p95"]), errors])
    return ("## Structured change (ECSA): vote POST → the change visible on every client (ms)\n\n"
            "Timed from the POST's scheduled time to when each client shows the change: its `changed` "
            "push carries the changed blocks rendered for it, or, without them, once the client has "
            "fetched each block as live.js does. Every client shows the indicator voted on. A receipt is "
            "matched to its vote by the voter's name in the message and the event id "
            "(each voter has one vote in flight at a time).\n\n") + table(
        ["N", "p50", "p95", "p99", "receipts", "drops", "POST answered p50", "POST answered p95", "vote errors"], rows)


def http_section(report: Report) -> str:
    """Server time of pages against a bare Flask route in the same process."""
    rows = [[name, ms(r["p50"]), ms(r["p95"]), times(r["p50_ratio"]), times(r["p95_ratio"]), r["n"],
             ",".join(map(str, r["statuses"]))] for name, r in report.http.items()]
    return ("## HTTP: server time per request (ms), WSGI call to last body byte, one process\n\n"
            + table(["request", "p50", "p95", "p50 ÷ bare", "p95 ÷ bare", "requests", "status"], rows))


def weight_section(report: Report) -> str:
    """The indicator page and its assets, raw and gzipped."""
    rows = [[r["name"], r["kind"], f"{r['raw']:,}", f"{r['gzip']:,}"] for r in report.weight["rows"]]
    rows.append(["**total**", "", f"**{report.weight['raw']:,}**", f"**{report.weight['gzip']:,}**"])
    return ("## Page weight: indicator page + every asset it loads (bytes; gzip level 6; CSS url() "
            "images counted in full)\n\n") + table(["file", "kind", "raw", "gzip"], rows)


def storage_section(report: Report) -> str:
    """One durable write (a vote through Workshop.change) as the record grows."""
    rows = [[f"{r['size_bytes'] / 1024:,.0f} KiB", ms(r["p50"]), ms(r["p95"]), ms(r["max"]), ms(r["encode_p50"]),
             r["n"]] for r in report.storage]
    return ("## Storage: one durable write (a vote: fold, apply, audit, atomic fsynced file replace) (ms)\n\n"
            + table(["record size", "p50", "p95", "max", "of which JSON encode p50", "writes"], rows))


def targets_section(report: Report, fig: dict) -> str:
    """Each target of the issue, what was measured, and whether it was met."""
    n30, n60 = fig.get(("ecsa", 30)), fig.get(("ecsa", 60))
    py30 = fig.get(("py", 30))
    write_1mb = next((r for r in report.storage if r["target_kb"] == 1000), None)
    page = report.http.get("indicator page")

    def row(name, value, ok, extra=""):
        return [name, value, "n/a" if ok is None else ("met" if ok else "**not met**") + extra]

    def get(f, name):
        return f.get(name) if f else None

    def invalid(f):
        if f is None:
            return ""
        return ("" if f["valid"] else " (generator-bound: invalid)") + (" († noisy)" if noisy_mark(f) else "")
    relay_ratio = ratio(get(n30, "p95"), get(py30, "p95"))
    rows = [
        row("N=30: p95 ≤ 50 ms", ms(get(n30, "p95")), at_most(get(n30, "p95"), TARGET_P95_N30_MS), invalid(n30)),
        row("N=30: zero drops", get(n30, "drops"), at_most(get(n30, "drops"), 0), invalid(n30)),
        row("N=30: p95 ≤ 2× Python relay's", times(relay_ratio), at_most(relay_ratio, TARGET_RELAY_FACTOR),
            invalid(n30) or invalid(py30)),
        row("N=60: p95 ≤ 100 ms", ms(get(n60, "p95")), at_most(get(n60, "p95"), TARGET_P95_N60_MS), invalid(n60)),
        row("indicator page server time p95 ≤ 15 ms", ms(get(page, "p95")),
            at_most(get(page, "p95"), TARGET_PAGE_P95_MS)),
        row("page weight ≤ 150 KB gzip (150,000 B)", f"{report.weight['gzip']:,} B",
            at_most(report.weight["gzip"], TARGET_WEIGHT_BYTES)),
        row("durable write of a 1 MB record ≤ 20 ms (p95)", ms(get(write_1mb, "p95")),
            at_most(get(write_1mb, "p95"), TARGET_WRITE_1MB_MS)),
    ]
    return "## Targets (reported, never enforced)\n\n" + table(["target", "measured", "result"], rows)


def problems_section(report: Report, fig: dict) -> str:
    """Errors, refusals, disconnects and oddities seen during the run."""
    lines = list(report.problems)
    for (key, n), f in sorted(fig.items()):
        odd = {k: v for k, v in f["counts"].items() if v}
        if odd:
            lines.append(f"{LABELS[key]} at N={n}: {dict(odd)}")
        if not f["valid"]:
            lines.append(f"{LABELS[key]} at N={n}: generator used {f['gen_cpu']:.0%} of a core: window invalid")
        if f["other_cpu"] > NOISY_OTHER_CPU:
            lines.append(f"{LABELS[key]} at N={n}: other work used up to {f['other_cpu']:.2f} cores meanwhile: noisy")
    for what, count in report.suite.connect_errors.items():
        lines.append(f"connect error ×{count}: {what}")
    for key, count in report.suite.disconnects_outside_windows.items():
        if count:
            lines.append(f"{LABELS[key]}: {count} client(s) disconnected between windows")
    body = "\n".join(f"- {line}" for line in lines) or "- none"
    return ("## Problems seen\n\n" + body + "\n\n(reordered = a client received a writer's edit after a later one "
            "from the same writer; refused = the server's acknowledgement said no)")


def render(report: Report) -> str:
    """The whole report as markdown."""
    fig = figures(report)
    sections = [header(report), targets_section(report, fig), summary_section(report, fig),
                latency_section(report, fig), ratio_section(report, fig), ladder_section(report),
                votes_section(report, fig), http_section(report), weight_section(report),
                storage_section(report), problems_section(report, fig)]
    return "\n\n".join(sections) + "\n"


# ---- the multi-process section (`python -m bench --multiprocess`) -----------------------------

HAND_KEPT = "## Single-question scripts"  # the part of RESULTS.md kept by hand, always last
MULTIPROCESS_HEADING = "## More than one process: 1 process vs 3 behind nginx"


def sections_of(text: str, heading: str) -> tuple[str, str, str]:
    """A report split around the section whose heading starts with `heading`:
    (before, the section, after); the section is "" if there is none."""
    start = text.find("\n" + heading)
    if start < 0:
        return text, "", ""
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end
    return text[:start + 1], text[start + 1:end], text[end:]


def put_section(text: str, heading: str, section: str) -> str:
    """The report with its section under `heading` replaced by `section`, or, if it has none,
    with `section` added before the hand-kept part (or at the end)."""
    before, old, after = sections_of(text, heading)
    if not old:
        before, kept, rest = sections_of(text, HAND_KEPT)
        after = kept + rest
    head = before.rstrip("\n")
    return ((head + "\n\n" if head else "") + section.strip("\n") + "\n"
            + ("\n" + after.lstrip("\n") if after.strip() else ""))


def carry_section(old_text: str, new_text: str, heading: str) -> str:
    """A full run's new report, keeping the section under `heading` from the old one (it is
    measured by a separate command, `python -m bench --multiprocess`)."""
    _, kept, _ = sections_of(old_text, heading)
    return put_section(new_text, heading, kept) if kept else new_text
