"""Rating rounds, without the web: rate privately, reveal together, rate again; who sees what."""

from __future__ import annotations

import pytest

from ecsa import rounds
from ecsa.events import Actor, Event
from ecsa.framework import RatingLevel
from ecsa.worksheet import Conflict, Forbidden, authorise, new_worksheet, stored
from tests.test_worksheet_rules import FAY, PAT, SAM, do

UNA = Actor("p3", "Una User")
PEOPLE = [{"id": "f1", "name": "Fay Facilitator", "perspective": "staff"},
          {"id": "p1", "name": "Pat Participant", "perspective": "unpaid_carer"},
          {"id": "p2", "name": "Sam Staff", "perspective": "staff"},
          {"id": "p3", "name": "Una User", "perspective": "person_using_services"}]
SCALE = [RatingLevel(value, label, "") for value, label in
         [(1, "Foundation"), (2, "Emerging"), (3, "Developing"), (4, "Embedded"), (5, "Leading")]]
PERSPECTIVES = {"person_using_services": "Person using services", "unpaid_carer": "Unpaid carer", "staff": "Staff"}


def refused(actor: Actor, ws: dict, event_type: str, **data) -> Exception:
    """What authorise raises for this change, checking it changed nothing."""
    before = repr(ws)
    with pytest.raises((Forbidden, Conflict)) as caught:
        authorise(actor, ws, Event.by(actor, event_type, ws["indicator"], **data))
    assert repr(ws) == before
    return caught.value


def rated_sheet() -> dict:
    """Indicator 1a with three ratings two levels apart in round 1, not yet revealed."""
    ws = new_worksheet("1a")
    do(PAT, ws, "vote_cast", value=2)
    do(SAM, ws, "vote_cast", value=4)
    do(UNA, ws, "vote_cast", value=4)
    return ws


def seen(ws: dict, viewer: Actor, anonymous: bool = False, number: int = -1) -> dict:
    """What viewer sees of a round."""
    return rounds.seen_by(ws["rounds"][number], viewer.id, PEOPLE, SCALE, anonymous, PERSPECTIVES)


def test_before_reveal_everyone_sees_who_rated_and_their_own_rating_only():
    ws = rated_sheet()
    for viewer in (FAY, PAT, SAM):
        view = seen(ws, viewer)
        assert view["rated"] == ["Pat Participant", "Sam Staff", "Una User"] and view["count"] == 3
        assert "levels" not in view and "median" not in view and "by_perspective" not in view
    assert (seen(ws, PAT)["mine"], seen(ws, SAM)["mine"], seen(ws, FAY)["mine"]) == (2, 4, None)


def test_reveal_shows_the_distribution_range_median_and_spread():
    ws = rated_sheet()
    do(FAY, ws, "round_revealed")
    view = seen(ws, PAT)
    assert [(level["value"], level["count"], level["names"]) for level in view["levels"]] == [
        (1, 0, []), (2, 1, ["Pat Participant"]), (3, 0, []), (4, 2, ["Sam Staff", "Una User"]), (5, 0, [])]
    assert (view["low"], view["high"], view["median"], view["spread"]) == (2, 4, 4, True)
    assert view["revealed"]["by"] == "Fay Facilitator"


def test_ratings_one_level_apart_are_not_flagged():
    ws = new_worksheet("1a")
    do(PAT, ws, "vote_cast", value=3)
    do(SAM, ws, "vote_cast", value=4)
    do(FAY, ws, "round_revealed")
    assert seen(ws, PAT)["spread"] is False and seen(ws, PAT)["median"] == 3.5


def test_revealed_ratings_split_by_perspective_show_a_gap():
    ws = rated_sheet()
    do(FAY, ws, "round_revealed")
    split = seen(ws, PAT)["by_perspective"]
    assert [(group["label"], group["values"], group["median"]) for group in split] == [
        ("Person using services", [4], 4), ("Unpaid carer", [2], 2), ("Staff", [4], 4)]
    assert rounds.perspective_gap(split) is True


def test_anonymous_rounds_show_counts_without_names_and_no_perspective_split():
    ws = rated_sheet()
    do(FAY, ws, "round_revealed")
    view = seen(ws, FAY, anonymous=True)
    assert [level["count"] for level in view["levels"]] == [0, 1, 0, 2, 0]
    assert all(level["names"] == [] for level in view["levels"]) and view["by_perspective"] == []


def test_only_the_facilitator_reveals_or_starts_a_round():
    ws = rated_sheet()
    for event_type in ("round_revealed", "round_started"):
        assert isinstance(refused(PAT, ws, event_type), Forbidden)


def test_nothing_to_reveal_is_refused_with_a_reason():
    error = refused(FAY, new_worksheet("1a"), "round_revealed")
    assert isinstance(error, Conflict) and "nothing to reveal" in str(error)


def test_a_round_is_revealed_once():
    ws = rated_sheet()
    do(FAY, ws, "round_revealed")
    assert "already revealed" in str(refused(FAY, ws, "round_revealed"))


def test_rating_after_reveal_waits_for_a_new_round():
    ws = rated_sheet()
    do(FAY, ws, "round_revealed")
    assert "start a new round" in str(refused(PAT, ws, "vote_cast", value=5))


def test_a_new_round_follows_a_revealed_one_and_keeps_every_round():
    ws = rated_sheet()
    assert "Reveal the ratings of round 1" in str(refused(FAY, ws, "round_started"))
    do(FAY, ws, "round_revealed")
    started = do(FAY, ws, "round_started")
    do(PAT, ws, "vote_cast", value=3)
    assert [r["number"] for r in ws["rounds"]] == [1, 2] and started.data["round"] == 2
    assert ws["rounds"][1]["started"]["by"] == "Fay Facilitator"
    assert rounds.values(ws["rounds"][0]) == [2, 4, 4] and rounds.values(ws["rounds"][1]) == [3]
    assert seen(ws, SAM)["mine"] is None and seen(ws, PAT)["mine"] == 3  # round 2's ratings


@pytest.mark.parametrize(("steps", "phase"), [
    ([], rounds.NOT_STARTED),
    ([(PAT, "vote_cast", {"value": 2})], rounds.RATING),
    ([(PAT, "vote_cast", {"value": 2}), (FAY, "round_revealed", {})], rounds.REVEALED),
    ([(FAY, "agreed_rating_set", {"value": 2, "rationale": "Why"})], rounds.AGREED),
    ([(FAY, "agreed_rating_set", {"value": 2, "rationale": "Why"}), (FAY, "indicator_locked", {})], rounds.LOCKED),
])
def test_phase_says_where_the_group_is(steps, phase):
    ws = new_worksheet("1a")
    for actor, event_type, data in steps:
        do(actor, ws, event_type, **data)
    assert rounds.phase(ws) == phase


def test_everyone_rated_counts_only_the_people_present():
    ws = rated_sheet()
    assert rounds.everyone_rated(ws, {"p1", "p2"}) and rounds.everyone_rated(ws, {"p1", "p2", "p3"})
    assert not rounds.everyone_rated(ws, {"p1", "f1"})
    assert not rounds.everyone_rated(ws, set())  # nobody here: nothing is revealed on its own
    do(FAY, ws, "round_revealed")
    assert not rounds.everyone_rated(ws, {"p1"})  # already revealed


def test_a_participants_record_withholds_others_unrevealed_ratings():
    ws = rated_sheet()
    mine = rounds.for_record(ws["rounds"][0], PEOPLE, False, PAT)
    assert mine["withheld"] and [(v["name"], v["value"]) for v in mine["votes"]] == [("Pat Participant", 2)]
    assert [r["name"] for r in mine["raters"]] == ["Pat Participant", "Sam Staff", "Una User"]
    everything = rounds.for_record(ws["rounds"][0], PEOPLE, False, FAY)
    assert not everything["withheld"] and len(everything["votes"]) == 3


def test_an_anonymous_record_has_bare_values_for_everyone_and_continues():
    ws = rated_sheet()
    kept = rounds.for_record(ws["rounds"][0], PEOPLE, True, FAY)
    assert kept["votes"] == [] and kept["ballots"] == [2, 4, 4]
    assert rounds.for_record(ws["rounds"][0], PEOPLE, True, PAT)["ballots"] == []  # not revealed yet
    again = rounds.from_record(kept)
    assert rounds.values(again) == [2, 4, 4] and rounds.raters(again) == {"p1", "p2", "p3"}


def test_a_rating_carried_anonymously_from_a_record_cannot_be_cast_twice():
    ws = rated_sheet()
    ws["rounds"] = [rounds.from_record(rounds.for_record(ws["rounds"][0], PEOPLE, True, FAY))]
    assert "came with the earlier record" in str(refused(PAT, ws, "vote_cast", value=5))
    do(FAY, ws, "vote_cast", value=3)  # who had not rated still can
    assert rounds.values(rounds.current(ws)) == [2, 3, 4, 4]


def test_the_audit_value_of_an_unrevealed_rating_is_hidden_from_others():
    entry = Event.by(SAM, "vote_cast", "1a", value=4, round=1).to_dict()
    assert rounds.hidden_value(entry, set(), PAT)
    assert not rounds.hidden_value(entry, {("1a", 1)}, PAT)  # revealed
    assert not rounds.hidden_value(entry, set(), SAM) and not rounds.hidden_value(entry, set(), FAY)


def test_a_worksheet_stored_before_rounds_has_its_ratings_as_one_revealed_round():
    old = {"indicator": "1a", "state": "in_discussion", "notes": "", "evidence": [], "actions": [],
           "agreed_rating": None, "lock": None, "lock_history": [],
           "votes": {"p1": {"value": 3, "name": "Pat Participant", "at": "2026-11-01T10:00:00Z"}}}
    ws = stored(old, "1a")
    assert rounds.values(rounds.current(ws)) == [3] and rounds.current(ws)["revealed"]["at"] == "2026-11-01T10:00:00Z"
    assert "votes" not in ws and "votes" in old  # the stored document is not changed in place


def test_an_indicator_keeps_at_most_a_hundred_rounds():
    ws = new_worksheet("1a")
    for _ in range(rounds.MAX_ROUNDS - 1):
        do(PAT, ws, "vote_cast", value=3)
        do(FAY, ws, "round_revealed")
        do(FAY, ws, "round_started")
    do(PAT, ws, "vote_cast", value=3)
    do(FAY, ws, "round_revealed")
    assert "already has 100 rounds" in str(refused(FAY, ws, "round_started"))
