"""What a session produces, computed from a record: progress, heatmap, movements, distribution."""

from __future__ import annotations

import pytest

from ecsa import outputs
from ecsa.framework import load_framework
from ecsa.worksheet import new_worksheet

SCALE = [{"value": v, "label": label, "description": ""}
         for v, label in enumerate(["Not started", "Emerging", "Developing", "Established", "Embedded/Leading"], 1)]


@pytest.fixture(scope="module")
def framework():
    return load_framework()


def indicator(framework, indicator_id: str, state: str = "not_started", agreed: int | None = None,
              locked: bool = False, votes=(), revealed: bool = True, anonymous: bool = False) -> dict:
    """One indicator as a record holds it."""
    found = framework.indicator(indicator_id)
    ws = new_worksheet(indicator_id)
    return dict(ws, id=indicator_id, section=found.section, area=found.area, statement=found.text,
                bullets=list(found.bullets), state=state,
                agreed_rating=agreed and {"value": agreed, "by": "Fay", "at": "2026-12-01T10:00:00Z", "label": "x"},
                lock={"by": "Fay", "at": "2026-12-01T10:00:00Z"} if locked else None,
                rounds=[a_round(votes, revealed, anonymous)])


def a_round(votes=(), revealed: bool = True, anonymous: bool = False) -> dict:
    """Round 1 as a record holds it: named ratings, or bare values when anonymous."""
    named = [{"participant_id": f"p{i}", "name": f"P{i}", "value": v, "at": ""} for i, v in enumerate(votes)]
    return {"number": 1, "started": None, "revealed": {"by": "Fay", "at": "", "auto": False} if revealed else None,
            "raters": [{"participant_id": v["participant_id"], "name": v["name"]} for v in named],
            "votes": [] if anonymous else named, "ballots": sorted(votes) if anonymous else [], "withheld": False}


def a_record(framework, indicators: list[dict], scope=(1,), baseline=None) -> dict:
    """A record of a session in scope, every other indicator in scope untouched."""
    given = {i["id"]: i for i in indicators}
    every = [given.get(i.id) or indicator(framework, i.id) for i in framework.indicators(scope)]
    record = {"session": {"scope": list(scope)}, "rating_scale": SCALE, "indicators": every,
              "participants": [], "framework": {}, "exported_at": ""}
    if baseline is not None:
        record["baseline"] = {"source": {"session_id": "x", "title": "Earlier", "date": "2025-12-01",
                                        "exported_at": ""}, "ratings": baseline}
    return record


def test_progress_counts_each_indicator_once_per_stage(framework):
    record = a_record(framework, [indicator(framework, "1a", "in_discussion"),
                                  indicator(framework, "1b", "in_discussion", agreed=3),
                                  indicator(framework, "1c", "agreed", agreed=4, locked=True)])
    counts = outputs.summary(record, framework)["counts"]
    total = len(framework.indicators([1]))
    assert counts == {"not_started": total - 3, "in_discussion": 1, "agreed": 1, "locked": 1, "total": total}


def test_heatmap_groups_by_section_and_area_with_the_median(framework):
    record = a_record(framework, [indicator(framework, "1a", agreed=2), indicator(framework, "1b", agreed=5)],
                      scope=(1, 2))
    summary = outputs.summary(record, framework)
    assert [s["number"] for s in summary["sections"]] == [1, 2]
    area1 = summary["sections"][0]["areas"][0]
    assert area1["number"] == 1 and area1["median"] == 3.5
    assert [c["id"] for c in area1["cells"]][:2] == ["1a", "1b"]
    assert area1["cells"][0]["step"] == 2 and area1["cells"][1]["step"] == 5
    assert area1["cells"][2]["value"] is None and area1["cells"][2]["step"] == 0  # not yet agreed
    assert summary["sections"][0]["areas"][1]["median"] is None


def test_heat_steps_spread_any_scale_over_the_colours():
    assert [outputs.heat_step(v, [1, 2, 3]) for v in (1, 2, 3)] == [1, 3, 5]
    assert outputs.heat_step(None, [1, 2, 3]) == 0
    assert outputs.heat_step(7, [1, 2, 3]) == 0


def test_movement_since_the_earlier_assessment(framework):
    record = a_record(framework, [indicator(framework, i, agreed=v) for i, v in
                                  (("1a", 3), ("1b", 2), ("1c", 4), ("1d", 1))] + [indicator(framework, "1e")],
                      baseline={"1a": 2, "1b": 4, "1c": 4, "1e": 3})
    moves = {c["id"]: c["movement"] for c in outputs.summary(record, framework)["sections"][0]["areas"][0]["cells"]}
    assert moves["1a"] == "up" and moves["1b"] == "down" and moves["1c"] == "same" and moves["1d"] == "new"
    assert moves["1e"] is None  # not agreed yet this time
    assert outputs.movements(record) == {"up": 1, "down": 1, "same": 1, "new": 1}


def test_no_movement_without_an_earlier_assessment(framework):
    record = a_record(framework, [indicator(framework, "1a", agreed=3)])
    assert outputs.movement(record, record["indicators"][0]) is None


def test_distribution_counts_every_level(framework):
    rated = indicator(framework, "1a", votes=(3, 3, 5))
    levels = outputs.distribution(rated, SCALE)
    assert [level["count"] for level in levels] == [0, 0, 2, 0, 1]
    assert levels[2]["names"] == ["P0", "P1"]


def test_distribution_of_anonymous_ratings_counts_without_names(framework):
    levels = outputs.distribution(indicator(framework, "1a", votes=(3, 3, 5), anonymous=True), SCALE)
    assert [level["count"] for level in levels] == [0, 0, 2, 0, 1]
    assert all(level["names"] == [] for level in levels)


def test_distribution_never_shows_a_round_not_yet_revealed(framework):
    levels = outputs.distribution(indicator(framework, "1a", votes=(3, 3, 5), revealed=False), SCALE)
    assert [level["count"] for level in levels] == [0] * 5


def test_printable_keeps_words_and_replaces_what_xml_cannot_hold():
    assert outputs.printable("Tab\tline\nbreak") == "Tab\tline\nbreak"
    assert outputs.printable("bell\x07 nul\x00") == "bell\ufffd nul\ufffd"
    assert outputs.printable(None) == ""


def test_outputs_module_imports_no_flask():
    import ast
    import inspect

    from ecsa import docx_report, xlsx_plan
    for module in (outputs, docx_report, xlsx_plan):
        tree = ast.parse(inspect.getsource(module))
        names = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                 for alias in node.names} | {node.module for node in ast.walk(tree)
                                             if isinstance(node, ast.ImportFrom) and node.module}
        assert not any(name and name.split(".")[0] == "flask" for name in names), module.__name__
