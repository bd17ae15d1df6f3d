"""The session record: one JSON document, versioned by docs/record.schema.json.

`export` builds it from a workshop; `read_import` checks an uploaded file (size, depth,
schema, framework) and turns it into the history a new session continues from. Tokens,
cookies and roles never enter a record, and roles are never taken from one.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import jsonschema_rs
import orjson

from .events import now_iso
from .forms import is_iso_date
from .framework import Framework
from .review import STATUSES as REVIEW_STATUSES
from . import rounds
from .worksheet import new_worksheet

DOCS = Path(__file__).resolve().parent.parent / "docs"
SCHEMA_PATH = DOCS / "record.schema.json"
# Version 2 added rating rounds (hidden until revealed), anonymous ratings and the agreed
# rating's rationale. A version 1 record still imports: its ratings, which everyone saw as
# they were cast, become one revealed round.
SCHEMA_PATHS = {1: DOCS / "record.schema.v1.json", 2: SCHEMA_PATH}
SCHEMA_ID, SCHEMA_VERSION = "ecsa-record", 2
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 12
# Fields a fresh export regenerates; everything else survives export -> import -> export.
# `baseline` too: a session continued from a record is compared with that record. (So is each
# action's `earlier`: a continued session's actions came from the record, to be reviewed.)
REGENERATED = ("exported_at", "session.id", "session.created_at", "session.continued_from", "baseline")


class RecordError(ValueError):
    """An import file that cannot be used, with a message for the facilitator."""


@lru_cache(maxsize=2)
def schema(version: int = SCHEMA_VERSION) -> dict:
    """The record's JSON Schema (of a given version)."""
    return json.loads(SCHEMA_PATHS[version].read_text(encoding="utf-8"))


@lru_cache(maxsize=2)
def _validator(version: int = SCHEMA_VERSION) -> jsonschema_rs.Draft202012Validator:
    """The schema compiled once. jsonschema-rs checks a 5 MB record in ~10 ms, where the
    pure-Python jsonschema took ~2 s of the import's time, holding the GIL all along."""
    return jsonschema_rs.Draft202012Validator(schema(version))


def export(workshop, viewer, audit: bool = True) -> dict:
    """The whole session as a record, as viewer may have it (without its audit log if audit is
    False: the overview's live summary has no use for thousands of events, and must take
    milliseconds).

    Every rating goes through `rounds.for_record`: a participant's download holds no one
    else's rating of a round not yet revealed (nor, in the audit log, any value they cast in
    it), and an anonymous session's ratings never stand beside a name, for anyone.
    """
    framework, details, sheets = workshop.framework, workshop.details, workshop.worksheets()
    wanted = {i.id for i in framework.indicators(details["scope"])} | set(sheets)
    people = workshop.participants()
    anonymous = bool(details.get("anonymous"))
    indicators = [_indicator(framework, indicator, sheets.get(indicator.id), people, anonymous, viewer)
                  for indicator in framework.indicators() if indicator.id in wanted]
    return {
        "schema": SCHEMA_ID, "schema_version": SCHEMA_VERSION, "exported_at": now_iso(),
        "framework": framework.reference(),
        "session": {key: details[key] for key in
                    ("id", "title", "organisation", "date", "scope", "created_at", "continued_from")}
                   | {"anonymous": anonymous, "auto_reveal": bool(details.get("auto_reveal"))},
        "rating_scale": [{"value": r.value, "label": r.label, "description": r.description}
                         for r in framework.rating_levels],
        "participants": [{k: p[k] for k in ("id", "name", "perspective", "role", "joined_at")} for p in people],
        "indicators": indicators,
        "audit": _audit(workshop, indicators, viewer) if audit else [],
    } | _baseline_part(workshop.baseline())


def _audit(workshop, indicators: list[dict], viewer) -> list[dict]:
    """The audit log as viewer may have it: a rating cast in a round not yet revealed keeps
    who rated and when, but not the value, unless it is the viewer's own."""
    revealed = {(indicator["id"], round_["number"]) for indicator in indicators
                for round_ in indicator["rounds"] if round_["revealed"]}
    entries = []
    for event in workshop.audit():
        entry = event.to_dict()
        if rounds.hidden_value(entry, revealed, viewer):
            entry["data"] = {k: v for k, v in entry["data"].items() if k != "value"} | {"withheld": True}
        entries.append(entry)
    return entries


def _baseline_part(baseline: dict | None) -> dict:
    """The optional `baseline` field: the earlier assessment compared with, if there is one."""
    return {"baseline": {"source": baseline["source"], "ratings": baseline["ratings"]}} if baseline else {}


def baseline_of(earlier: dict) -> dict:
    """What a session keeps of an earlier record to compare with: where it came from and its
    agreed ratings (checked by `read_import` first)."""
    session = earlier["session"]
    return {"source": {"session_id": session["id"], "title": session["title"], "date": session["date"],
                       "exported_at": earlier["exported_at"]},
            "ratings": {indicator["id"]: indicator["agreed_rating"]["value"]
                        for indicator in earlier["indicators"] if indicator["agreed_rating"]}}


def _indicator(framework: Framework, indicator, ws: dict | None, people: list[dict], anonymous: bool,
               viewer) -> dict:
    """One indicator's statement and worksheet as the record shows it to viewer."""
    ws = ws or new_worksheet(indicator.id)
    agreed = ws["agreed_rating"]
    return {
        "id": indicator.id, "section": indicator.section, "area": indicator.area,
        "statement": indicator.text, "bullets": list(indicator.bullets),
        "state": ws["state"], "notes": ws["notes"], "evidence": ws["evidence"],
        "rounds": [rounds.for_record(round_, people, anonymous, viewer) for round_ in ws["rounds"]],
        "agreed_rating": agreed and dict(agreed, label=framework.rating_label(agreed["value"]),
                                         rationale=agreed.get("rationale")),
        "actions": ws["actions"], "lock": ws["lock"], "lock_history": ws["lock_history"],
    }


def file_name(details: dict) -> str:
    """`ecsa-record-<title-slug>-<date>.json`, safe in any Content-Disposition header."""
    slug = re.sub(r"[^a-z0-9]+", "-", details["title"].lower()).strip("-")[:60] or "session"
    day = re.sub(r"[^0-9-]", "", details["date"])  # an imported date is not to be trusted either
    return f"ecsa-record-{slug}-{day}.json"


def read_import(raw: bytes, framework: Framework) -> dict:
    """Parse and check an uploaded record; raises RecordError saying what is wrong."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise RecordError(f"The file is too big: the limit is {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
    try:
        record = _parse(raw)
    except RecursionError:
        raise RecordError("The file is nested too deeply to be a session record.") from None
    except UnicodeDecodeError:
        raise RecordError("The file is not UTF-8 text, so it is not a session record.") from None
    except ValueError as error:
        raise RecordError(f"The file is not valid JSON ({error}).") from None
    if _depth(record) > MAX_DEPTH:
        raise RecordError("The file is nested too deeply to be a session record.")
    _check_text(record)
    record = _check_schema(record)
    _check_framework(record, framework)
    _check_content(record, framework)
    _check_unique(record)
    return record


def _parse(raw: bytes):
    """The record parsed: by orjson, which is faster and holds the GIL (so every other
    request) for less time; what orjson refuses goes to the standard library, which
    says what is wrong in the words the import page shows."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)


def _refuse_constant(name: str):
    """Refuse NaN and Infinity: not JSON, and every later download would carry them."""
    raise ValueError(f"{name} is not a JSON number")


def _depth(value) -> int:
    """How deeply lists and objects nest in a parsed JSON value, counted level by level and
    only as far as MAX_DEPTH + 1 (a 5 MB record has ~400,000 values: only the lists and
    objects among them are visited, so the other requests wait less for this thread)."""
    depth, level = 0, [value] if isinstance(value, (dict, list)) else []
    while level and depth <= MAX_DEPTH:
        depth += 1
        level = [child for item in level for child in (item.values() if isinstance(item, dict) else item)
                 if isinstance(child, (dict, list))]
    return depth + bool(level)


def _check_text(record) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate such as "\\ud800" is valid JSON
    but cannot be written as UTF-8): stored, it would make every later save of the session fail."""
    try:
        orjson.dumps(record)
    except TypeError:
        raise RecordError(f"The file holds text that is not valid Unicode, at {_bad_text_at(record)}. "
                          "It may have been damaged; export the record again.") from None


def _bad_text_at(value, where: str = "") -> str:
    """The path of the first string (key or value) that is not valid Unicode."""
    stack = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str) and not _encodable(item):
            return path or "the top level"
        children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in children:
            if isinstance(key, str) and not _encodable(key):
                return f"{path}/{key.encode('utf-8', 'replace').decode()}"
            stack.append((child, f"{path}/{key}"))
    return "the top level"


def _encodable(text: str) -> bool:
    """Whether text can be written as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_schema(record) -> dict:
    """The record in this version's shape; raises RecordError naming the first place it
    breaks the schema of the version it says it is."""
    said = record.get("schema_version") if isinstance(record, dict) else None
    version = said if type(said) is int and said in SCHEMA_PATHS else None
    if version is None and isinstance(record, dict) and record.get("schema") == SCHEMA_ID:
        raise RecordError(f"The record is of version {str(said)[:20]}; this server reads versions "
                          f"{', '.join(map(str, SCHEMA_PATHS))}. Update ECSA Workshop to import it.")
    error = next(_validator(version or SCHEMA_VERSION).iter_errors(record), None)
    if error is not None:
        where = "/".join(str(part) for part in error.instance_path) or "the top level"
        raise RecordError(f"The file is not a valid session record: at {where}: {error.message[:200]}")
    return _from_version_1(record) if version == 1 else record


def _from_version_1(record: dict) -> dict:
    """A version 1 record in version 2's shape: its ratings, which everyone saw as they were
    cast, become one revealed round; it had no anonymous ratings and no rationales."""
    record = dict(record, schema_version=SCHEMA_VERSION,
                  session=dict(record["session"], anonymous=False, auto_reveal=False))
    record["indicators"] = [_indicator_from_version_1(indicator) for indicator in record["indicators"]]
    return record


def _indicator_from_version_1(indicator: dict) -> dict:
    """One indicator of a version 1 record in version 2's shape."""
    votes = indicator["votes"]
    revealed = {"by": "", "at": max(vote["at"] for vote in votes), "auto": True} if votes else None
    round_ = {"number": 1, "started": None, "revealed": revealed, "votes": votes, "ballots": [], "withheld": False,
              "raters": [{"participant_id": v["participant_id"], "name": v["name"]} for v in votes]}
    agreed = indicator["agreed_rating"]
    upgraded = {key: value for key, value in indicator.items() if key != "votes"}
    return upgraded | {"rounds": [round_], "agreed_rating": agreed and dict(agreed, rationale=None)}


def _check_unique(record: dict) -> None:
    """Refuse two entries with one id: a page would show the first and the export the second."""
    _refuse_repeats((p["id"] for p in record["participants"]), "participant {} twice")
    _refuse_repeats((i["id"] for i in record["indicators"]), "indicator {} twice")
    for indicator in record["indicators"]:
        where = f" (indicator {indicator['id']})"
        _refuse_repeats((e["id"] for e in indicator["evidence"]), "evidence item {} twice" + where)
        _refuse_repeats((a["id"] for a in indicator["actions"]), "action {} twice" + where)
        for round_ in indicator["rounds"]:
            _refuse_repeats((v["participant_id"] for v in round_["votes"]),
                            "two ratings by participant {}" + where + f" in round {round_['number']}")
        _refuse_repeats((round_["number"] for round_ in indicator["rounds"]), "round {} twice" + where)


def _refuse_repeats(ids, what: str) -> None:
    """Raise RecordError ("The record lists <what>") at the first id seen twice."""
    seen = set()
    for item_id in ids:
        if item_id in seen:
            raise RecordError("The record lists " + what.format(repr(item_id)) + ".")
        seen.add(item_id)


def _check_framework(record: dict, framework: Framework) -> None:
    """Refuse a record made with another framework (or another version of it)."""
    theirs, ours = record["framework"], framework.reference()
    if theirs != ours:
        raise RecordError(
            f"The record was made with framework {theirs['id']} version {theirs['version']} "
            f"(SHA-256 {theirs['sha256'][:12]}…); this server uses {ours['id']} version "
            f"{ours['version']} (SHA-256 {ours['sha256'][:12]}…).")


def _check_content(record: dict, framework: Framework) -> None:
    """Refuse indicators, sections or ratings that the framework does not define."""
    levels = framework.rating_values()
    # The schema's pattern lets "2026-02-30" and a trailing newline through.
    if not is_iso_date(record["session"]["date"]):
        raise RecordError(f"The record's session date {record['session']['date']!r} is not a real date.")
    for number in record["session"]["scope"]:
        if framework.section(number) is None:
            raise RecordError(f"The record's scope names section {number}, which the framework does not have.")
    for indicator in record["indicators"]:
        if framework.indicator(indicator["id"]) is None:
            raise RecordError(f"The record has indicator {indicator['id']}, which the framework does not have.")
        ratings = [v["value"] for round_ in indicator["rounds"] for v in round_["votes"]] + [
            value for round_ in indicator["rounds"] for value in round_["ballots"]] + [
            (indicator["agreed_rating"] or {}).get("value")]
        if any(value is not None and value not in levels for value in ratings):
            raise RecordError(f"Indicator {indicator['id']} has a rating outside the framework's scale.")
        if any(action["due"] is not None and not is_iso_date(action["due"]) for action in indicator["actions"]):
            raise RecordError(f"Indicator {indicator['id']} has an action whose due date is not a real date.")
    for indicator_id, value in (record.get("baseline") or {}).get("ratings", {}).items():
        if framework.indicator(indicator_id) is None or value not in levels:
            raise RecordError(f"The record's earlier assessment rates {indicator_id!r} in a way "
                              "the framework does not allow.")


def history(record: dict) -> dict:
    """What a new session takes from an imported record: people, worksheets, audit log."""
    return {
        "participants": [{k: p[k] for k in ("id", "name", "perspective", "joined_at")}
                         for p in record["participants"]],
        "worksheets": [_worksheet(indicator, _earlier(record)) for indicator in record["indicators"]],
        "audit": record["audit"],
        "baseline": baseline_of(record),
    }


def _earlier(record: dict) -> dict:
    """Where the actions of an imported record come from: the session that agreed them."""
    session = record["session"]
    return {key: session[key] for key in ("title", "date")} | {"session_id": session["id"]}


def _carried_action(action: dict, earlier: dict) -> dict:
    """An action of the earlier session, to be reviewed in this one: its status then is
    kept beside the review that is to come (an earlier review belongs to the earlier record)."""
    kept = {key: value for key, value in action.items() if key not in ("earlier", "review")}
    return kept | {"earlier": earlier | {"status": action["status"]}}


def _worksheet(indicator: dict, earlier: dict) -> dict:
    """A stored worksheet rebuilt from a record's indicator."""
    agreed = indicator["agreed_rating"]
    return dict(
        new_worksheet(indicator["id"]), state=indicator["state"], notes=indicator["notes"],
        evidence=indicator["evidence"], actions=[_carried_action(a, earlier) for a in indicator["actions"]],
        lock=indicator["lock"],
        lock_history=indicator["lock_history"],
        rounds=[rounds.from_record(round_) for round_ in indicator["rounds"]] or [rounds.new_round()],
        agreed_rating=agreed and {k: agreed[k] for k in ("value", "by", "at", "rationale")})


def continued_details(record: dict) -> dict:
    """The new session's details: the record's own, with where it continues from."""
    session = record["session"]
    return {
        "title": session["title"], "organisation": session["organisation"], "date": session["date"],
        "scope": session["scope"], "anonymous": session["anonymous"], "auto_reveal": session["auto_reveal"],
        "continued_from": session["continued_from"] + [
            {"session_id": session["id"], "exported_at": record["exported_at"]}],
    }


# Spreadsheet programs run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The last three are for an action carried over from an earlier record (ecsa/review.py).
ACTION_PLAN_COLUMNS = ("Indicator", "Section", "Area", "Action", "Owner", "Due", "Status", "Added by",
                       "Status last time", "Review", "Review note")


def action_plan(record_data: dict) -> list[list[str]]:
    """Every action of a record as spreadsheet rows, header first (safe to open in Excel)."""
    statuses = {"open": "Open", "in_progress": "In progress", "done": "Done"}
    rows = [list(ACTION_PLAN_COLUMNS)]
    for indicator in record_data["indicators"]:
        for action in indicator["actions"]:
            earlier, review = action.get("earlier") or {}, action.get("review") or {}
            rows.append([indicator["id"], str(indicator["section"]), str(indicator["area"]), action["what"],
                         action["owner"] or "", action["due"] or "", statuses[action["status"]],
                         action["author_name"], statuses.get(earlier.get("status"), ""),
                         REVIEW_STATUSES.get(review.get("status"), ""), review.get("note") or ""])
    return [[_cell(value) for value in row] for row in rows]


def _cell(value: str) -> str:
    """A cell value that a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
