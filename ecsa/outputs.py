"""What a session produces, computed from its record: progress, heatmap, movements, report.

Every output (the overview's summary and heatmap, the HTML and Word reports, the action
plans) starts from `record.export(workshop)`, so none can disagree with the record. The
framework is asked only for the titles of sections and areas, which a record does not
carry (it names the framework, by hash, that they come from).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter

from .forms import PERSPECTIVES
from .framework import Framework

NOT_STARTED, IN_DISCUSSION, AGREED, LOCKED = "not_started", "in_discussion", "agreed", "locked"
PROGRESS_LABELS = {NOT_STARTED: "Not started", IN_DISCUSSION: "In discussion", AGREED: "Agreed", LOCKED: "Locked"}
MOVEMENT_LABELS = {"up": "Up", "down": "Down", "same": "Same", "new": "New"}
MOVEMENT_SIGNS = {"up": "▲", "down": "▼", "same": "=", "new": "+"}
HEAT_STEPS = 5  # colours in the scale (static/css/app.css .ecsa-heat--1 … --5)
# The same colours for Word (fill, text): viridis in five steps, text contrast 15.2, 7.6, 5.1,
# 6.9 and 11.4 to 1; 0 is "not yet agreed".
HEAT_COLOURS = {1: ("440154", "FFFFFF"), 2: ("3B528B", "FFFFFF"), 3: ("1F7A76", "FFFFFF"),
                4: ("5EC962", "212B32"), 5: ("FDE725", "212B32"), 0: ("FFFFFF", "212B32")}

# Characters XML 1.0 cannot hold (Word and Excel files are XML): control codes and lone
# surrogates. A record may carry them (typed, pasted or imported); files show U+FFFD instead.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def printable(text) -> str:
    """Text as a Word or Excel file can hold it (None as empty)."""
    return NOT_XML.sub("\ufffd", "" if text is None else str(text))


def in_scope(record: dict) -> list[dict]:
    """The record's indicators in the session's scope, in framework order."""
    scope = set(record["session"]["scope"])
    return [indicator for indicator in record["indicators"] if indicator["section"] in scope]


def progress_of(indicator: dict) -> str:
    """Where an indicator stands: not started, in discussion, agreed (not locked) or locked."""
    if indicator["lock"]:
        return LOCKED
    if indicator["agreed_rating"]:
        return AGREED
    return NOT_STARTED if indicator["state"] == NOT_STARTED else IN_DISCUSSION


def agreed_value(indicator: dict) -> int | None:
    """The agreed rating's value, or None when not yet agreed."""
    return (indicator["agreed_rating"] or {}).get("value")


def earlier_value(record: dict, indicator_id: str) -> int | None:
    """The agreed rating of the earlier assessment compared with, if any."""
    return ((record.get("baseline") or {}).get("ratings") or {}).get(indicator_id)


def movement(record: dict, indicator: dict) -> str | None:
    """Up, down, same or new since the earlier assessment; None without one or while not agreed."""
    return compare(record.get("baseline"), indicator["id"], agreed_value(indicator))["movement"]


def compare(baseline: dict | None, indicator_id: str, now: int | None) -> dict:
    """An indicator's earlier agreed rating and its movement since (both None without a baseline)."""
    before = (baseline or {}).get("ratings", {}).get(indicator_id)
    found = {"earlier": before, "movement": None, "source": (baseline or {}).get("source")}
    if baseline and now is not None:
        found["movement"] = "new" if before is None else "up" if now > before else "down" if now < before else "same"
    return found


def heat_step(value: int | None, levels: list[int]) -> int:
    """The colour step (1…HEAT_STEPS) of a rating on the scale; 0 for not yet agreed."""
    if value is None or value not in levels:
        return 0
    position = sorted(levels).index(value)
    return 1 + round(position * (HEAT_STEPS - 1) / max(len(levels) - 1, 1))


def counts(indicators: list[dict]) -> dict:
    """How many indicators are at each stage of progress, and in all."""
    tally = Counter(progress_of(indicator) for indicator in indicators)
    return dict({stage: tally[stage] for stage in PROGRESS_LABELS}, total=len(indicators))


def summary(record: dict, framework: Framework) -> dict:
    """Progress per section and in all, and the heatmap of agreed ratings by section and area."""
    indicators = in_scope(record)
    levels = [level["value"] for level in record["rating_scale"]]
    sections = []
    for section in framework.sections:
        mine = [i for i in indicators if i["section"] == section.number]
        if not mine:
            continue
        areas = [_area(record, framework, number, [i for i in mine if i["area"] == number], levels)
                 for number in dict.fromkeys(i["area"] for i in mine)]
        sections.append({"number": section.number, "title": section.title, "counts": counts(mine),
                         "areas": areas})
    return {"sections": sections, "counts": counts(indicators), "baseline": record.get("baseline"),
            "scale": record["rating_scale"], "movements": movements(record),
            "steps": {level: heat_step(level, levels) for level in levels}}


def _area(record: dict, framework: Framework, number: int, indicators: list[dict], levels: list[int]) -> dict:
    """One area of the heatmap: its cells and the median of its agreed ratings."""
    agreed = [agreed_value(i) for i in indicators if agreed_value(i) is not None]
    area = framework.area(number)
    return {"number": number, "title": area.title if area else f"Area {number}",
            "median": statistics.median(agreed) if agreed else None,
            "cells": [_cell(record, indicator, levels) for indicator in indicators]}


def _cell(record: dict, indicator: dict, levels: list[int]) -> dict:
    """One indicator's cell: id, agreed rating, its colour step, earlier rating and movement."""
    value = agreed_value(indicator)
    return {"id": indicator["id"], "value": value, "label": (indicator["agreed_rating"] or {}).get("label"),
            "step": heat_step(value, levels), "progress": progress_of(indicator),
            "earlier": earlier_value(record, indicator["id"]), "movement": movement(record, indicator)}


def movements(record: dict) -> dict:
    """How many indicators went up, down, stayed the same or are newly rated (with a baseline)."""
    tally = Counter(movement(record, indicator) for indicator in in_scope(record))
    return {kind: tally[kind] for kind in MOVEMENT_LABELS}


def distribution(indicator: dict, scale: list[dict]) -> list[dict]:
    """How the group rated an indicator, in its last revealed round: per level, how many and
    (unless the session was anonymous) who.

    The one place that reads individual ratings for an output. It reads the record, which
    already holds only what its reader may see (`rounds.for_record`): an unrevealed round is
    never shown, and an anonymous one has values without names.
    """
    shown = last_revealed(indicator)
    votes = shown["votes"] if shown else []
    ballots = shown["ballots"] if shown else []
    return [{"value": level["value"], "label": level["label"],
             "count": sum(v["value"] == level["value"] for v in votes) + ballots.count(level["value"]),
             "names": sorted(vote["name"] for vote in votes if vote["value"] == level["value"])}
            for level in scale]


def last_revealed(indicator: dict) -> dict | None:
    """The latest round of a record's indicator whose ratings were revealed, if any."""
    return next((round_ for round_ in reversed(indicator["rounds"]) if round_["revealed"]), None)


def people_by_perspective(record: dict) -> list[tuple[str, list[str]]]:
    """Who took part, grouped by perspective in the form's order."""
    grouped = {key: [] for key in PERSPECTIVES}
    for person in record["participants"]:
        grouped.setdefault(person["perspective"], []).append(person["name"])
    return [(PERSPECTIVES.get(key, key), names) for key, names in grouped.items() if names]


def report(record: dict, framework: Framework) -> dict:
    """Everything the board report shows, for the HTML page and the Word file alike."""
    overview = summary(record, framework)
    by_id = {indicator["id"]: indicator for indicator in in_scope(record)}
    for section in overview["sections"]:
        for area in section["areas"]:
            area["indicators"] = [_reported(record, by_id[cell["id"]], cell) for cell in area["cells"]]
    return {"session": record["session"], "framework": record["framework"], "exported_at": record["exported_at"],
            "people": people_by_perspective(record), "summary": overview,
            "scope": [(s.number, s.title) for s in framework.sections if s.number in record["session"]["scope"]],
            "actions": action_rows(record),
            "not_agreed": [i["id"] for i in in_scope(record) if agreed_value(i) is None],
            "not_locked": [i["id"] for i in in_scope(record) if progress_of(i) == AGREED]}


def _reported(record: dict, indicator: dict, cell: dict) -> dict:
    """One indicator as the report shows it."""
    agreed = indicator["agreed_rating"] or {}
    shown = distribution(indicator, record["rating_scale"])
    return dict(indicator, cell=cell, rationale=agreed.get("rationale"), distribution=shown,
                voters=sum(level["count"] for level in shown), round=(last_revealed(indicator) or {}).get("number"),
                rounds=len(indicator["rounds"]), anonymous=record["session"]["anonymous"])


def action_rows(record: dict) -> list[dict]:
    """Every action of the record, with where it belongs."""
    return [dict(action, indicator=indicator["id"], section=indicator["section"], area=indicator["area"])
            for indicator in record["indicators"] for action in indicator["actions"]]


def movement_words(cell: dict) -> str:
    """A cell's movement in words: "up from 2", "same as before", "new: no earlier rating"."""
    kind = cell["movement"]
    if kind in ("up", "down"):
        return f"{kind} from {cell['earlier']}"
    return "same as before" if kind == "same" else "new: no earlier rating" if kind == "new" else ""


def median_text(value) -> str:
    """A median as people write it: 3, or 3.5."""
    return "" if value is None else f"{value:g}"


TEMPLATE_GLOBALS = {"PROGRESS_LABELS": PROGRESS_LABELS, "MOVEMENT_LABELS": MOVEMENT_LABELS,
                    "MOVEMENT_SIGNS": MOVEMENT_SIGNS, "movement_words": movement_words,
                    "median_text": median_text}
