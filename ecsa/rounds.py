"""Rating rounds: rate privately, reveal together, discuss the differences, rate again.

Each indicator's worksheet keeps its rounds, oldest first; the last one is the round in
hand. A round's ratings are hidden from everyone (the facilitator too) until it is
revealed: until then a page shows only *who* has rated. What a person may see of a round
is decided here, once, by `seen_by`; pages, pushes, the record and the reports all ask it.

A round as stored: {"number", "started": {by, at} | None, "revealed": {by, at, auto} | None,
"votes": {participant id: {value, name, at}}}, and, for a round continued from an anonymous
record, "ballots" (values whose owners were never recorded) and "ballot_raters" (who cast them).
"""

from __future__ import annotations

import statistics

from .events import Event, NotAllowedNow

SPREAD = 2  # ratings this many levels apart or more are flagged for discussion
MAX_ROUNDS = 100  # per indicator (the record's schema holds no more)
ANONYMOUS_MIN = 3  # ratings an anonymous round needs before a reveal: with fewer, who rated what can be told


def new_round(number: int = 1, started: dict | None = None) -> dict:
    """An open round nobody has rated in yet."""
    return {"number": number, "started": started, "revealed": None, "votes": {}}


def current(ws: dict) -> dict:
    """The round in hand: the last one."""
    return ws["rounds"][-1]


def values(round_: dict) -> list[int]:
    """Every rating of the round, owners or not, lowest first."""
    return sorted([vote["value"] for vote in round_["votes"].values()] + list(round_.get("ballots", ())))


def raters(round_: dict) -> set[str]:
    """The ids of everyone who has rated in the round."""
    return set(round_["votes"]) | set(round_.get("ballot_raters", ()))


def has_ratings(ws: dict) -> bool:
    """Whether any round of this worksheet holds a rating."""
    return any(values(round_) for round_ in ws["rounds"])


NOT_STARTED, RATING, REVEALED, AGREED, LOCKED = "not_started", "rating", "revealed", "agreed", "locked"
PHASE_LABELS = {NOT_STARTED: "Not rated", RATING: "Being rated", REVEALED: "Revealed", AGREED: "Agreed",
                LOCKED: "Locked"}


def phase(ws: dict) -> str:
    """Where the group is with an indicator's rating: not rated yet, rating (someone has
    rated in the round in hand), revealed, agreed or locked."""
    if ws["lock"]:
        return LOCKED
    if ws["agreed_rating"]:
        return AGREED
    round_ = current(ws)
    if round_["revealed"]:
        return REVEALED
    return RATING if raters(round_) else NOT_STARTED


# ---- the rules: what each rating event needs, and what it changes ------------------------

class RoundRefused(NotAllowedNow):
    """A rating event that does not fit the round in hand (the caller turns it into a Conflict)."""


def check(ws: dict, event: Event) -> None:
    """Raise RoundRefused unless the event fits the round in hand."""
    round_ = current(ws)
    if event.type == "vote_cast" and round_["revealed"]:
        raise RoundRefused(f"The ratings of round {round_['number']} have been revealed. To rate again, "
                           "wait for the facilitator to start a new round.")
    if event.type == "vote_cast" and event.actor_id in round_.get("ballot_raters", ()):
        # Continued from an anonymous record, which never said whose rating was whose: a new
        # one could not replace the old, and would count this person twice.
        raise RoundRefused(f"Your rating in round {round_['number']} came with the earlier record, which keeps "
                           "anonymous ratings without names, so it cannot be changed. Rate again in a new round.")
    if event.type == "round_revealed":
        if round_["revealed"]:
            raise RoundRefused(f"The ratings of round {round_['number']} are already revealed.")
        if not values(round_):
            raise RoundRefused(f"Nobody has rated in round {round_['number']} yet, so there is nothing to reveal.")
    if event.type == "round_started" and not round_["revealed"]:
        raise RoundRefused(f"Reveal the ratings of round {round_['number']} before starting a new round.")
    if event.type == "round_started" and len(ws["rounds"]) >= MAX_ROUNDS:
        raise RoundRefused(f"This indicator already has {MAX_ROUNDS} rounds, the most it can keep.")


def check_anonymous_reveal(ws: dict) -> None:
    """In an anonymous session, refuse to reveal fewer than ANONYMOUS_MIN ratings: knowing
    who rated, one or two values would say who gave which."""
    count = len(values(current(ws)))
    if count < ANONYMOUS_MIN:
        raise RoundRefused(f"Ratings are anonymous in this session, so at least {ANONYMOUS_MIN} people must rate "
                           f"before a reveal (so far {count} {'has' if count == 1 else 'have'}): with fewer, "
                           "who gave which rating could be told.")


def vote_cast(ws: dict, event: Event) -> None:
    """Record (or clear, with value None) the actor's own rating in the round in hand."""
    round_ = current(ws)
    event.data["round"] = round_["number"]
    if event.data["value"] is None:
        round_["votes"].pop(event.actor_id, None)
    else:
        round_["votes"][event.actor_id] = {"value": event.data["value"], "name": event.actor_name, "at": event.at}


def round_revealed(ws: dict, event: Event) -> None:
    """Show the round's ratings to everyone."""
    round_ = current(ws)
    event.data["round"] = round_["number"]
    round_["revealed"] = {"by": event.actor_name, "at": event.at, "auto": bool(event.data.get("auto"))}


def round_started(ws: dict, event: Event) -> None:
    """Open a new round for rating again after discussion; the earlier ones are kept."""
    number = current(ws)["number"] + 1
    event.data["round"] = number
    ws["rounds"].append(new_round(number, {"by": event.actor_name, "at": event.at}))


def everyone_rated(ws: dict, present: set[str]) -> bool:
    """Whether everyone present has rated in the round in hand (and it is not yet revealed)."""
    round_ = current(ws)
    return bool(present) and not round_["revealed"] and present <= raters(round_)


# ---- what a person sees of a round -------------------------------------------------------

def seen_by(round_: dict, viewer_id: str | None, people: list[dict], scale: list, anonymous: bool,
            perspectives: dict[str, str]) -> dict:
    """What one person may see of a round: who has rated always; the values only once revealed
    (names beside them unless the session is anonymous); their own rating always.

    people: the session's participants (id, name, perspective); scale: the rating levels
    (value, label); perspectives: perspective key -> label, in the order to show them.
    """
    names = {person["id"]: person["name"] for person in people}
    rated = raters(round_)
    mine = round_["votes"].get(viewer_id, {}).get("value") if viewer_id else None
    seen = {"number": round_["number"], "started": round_["started"], "revealed": round_["revealed"],
            "rated": [person["name"] for person in people if person["id"] in rated],
            "count": len(rated), "mine": mine, "anonymous": anonymous}
    if round_["revealed"]:
        seen.update(_distribution(round_, scale, names, anonymous))
        seen["by_perspective"] = [] if anonymous else _by_perspective(round_, people, perspectives)
    return seen


def _distribution(round_: dict, scale: list, names: dict[str, str], anonymous: bool) -> dict:
    """Per level, how many (and who, unless anonymous); the range, median and spread flag."""
    all_values = values(round_)
    levels = []
    for level in scale:
        voters = [pid for pid, vote in round_["votes"].items() if vote["value"] == level.value]
        count = all_values.count(level.value)
        levels.append({"value": level.value, "label": level.label, "count": count,
                       "share": round(100 * count / len(all_values)) if all_values else 0,
                       "names": [] if anonymous else sorted(names.get(pid, round_["votes"][pid]["name"])
                                                            for pid in voters)})
    low, high = (all_values[0], all_values[-1]) if all_values else (None, None)
    return {"levels": levels, "total": len(all_values), "low": low, "high": high,
            "median": statistics.median(all_values) if all_values else None,
            "spread": high is not None and high - low >= SPREAD}


def _by_perspective(round_: dict, people: list[dict], perspectives: dict[str, str]) -> list[dict]:
    """The revealed ratings split by the raters' perspectives: a gap between people using
    services and staff is itself a finding."""
    perspective_of = {person["id"]: person["perspective"] for person in people}
    grouped: dict[str, list[int]] = {}
    for pid, vote in round_["votes"].items():
        grouped.setdefault(perspective_of.get(pid, "other"), []).append(vote["value"])
    order = list(perspectives) + sorted(set(grouped) - set(perspectives))
    return [{"perspective": key, "label": perspectives.get(key, key), "values": sorted(grouped[key]),
             "median": statistics.median(grouped[key])} for key in order if key in grouped]


def perspective_gap(split: list[dict]) -> bool:
    """Whether two perspectives' medians are SPREAD or more levels apart."""
    medians = [group["median"] for group in split]
    return len(medians) > 1 and max(medians) - min(medians) >= SPREAD


# ---- the record's view of a round ----------------------------------------------------------

def for_record(round_: dict, people: list[dict], anonymous: bool, viewer) -> dict:
    """A round as a record downloaded by viewer carries it.

    Named ratings go with their owners; anonymous ones as bare values, lowest first, never
    beside a name or a time. A facilitator's download carries every rating (a session continued
    from it loses nothing); a participant's carries an unrevealed round's ratings only as far
    as they are their own, and says the rest was withheld.
    """
    names = {person["id"]: person["name"] for person in people}
    withheld = not round_["revealed"] and not viewer.is_facilitator
    rated = sorted(raters(round_), key=lambda pid: names.get(pid, ""))
    votes = [] if anonymous else [
        {"participant_id": pid, "name": vote["name"], "value": vote["value"], "at": vote["at"]}
        for pid, vote in round_["votes"].items() if not withheld or pid == viewer.id]
    return {"number": round_["number"], "started": round_["started"], "revealed": round_["revealed"],
            "raters": [{"participant_id": pid, "name": names.get(pid, "")} for pid in rated],
            "votes": votes, "ballots": values(round_) if anonymous and not withheld else [],
            "withheld": withheld}


def from_record(raw: dict) -> dict:
    """A stored round rebuilt from a record's round (see `for_record`)."""
    round_ = new_round(raw["number"], raw["started"])
    round_["revealed"] = raw["revealed"]
    round_["votes"] = {vote["participant_id"]: {k: vote[k] for k in ("value", "name", "at")} for vote in raw["votes"]}
    if raw["ballots"]:
        round_["ballots"] = list(raw["ballots"])
        round_["ballot_raters"] = [r["participant_id"] for r in raw["raters"] if r["participant_id"] not in round_["votes"]]
    return round_


def hidden_value(event: dict, revealed: set[tuple[str, int]], viewer) -> bool:
    """Whether an audit entry carries a rating this viewer may not see yet: another person's
    rating in a round not yet revealed (a facilitator's download carries them all)."""
    return (event["type"] == "vote_cast" and not viewer.is_facilitator and event["actor_id"] != viewer.id
            and (event["indicator"], (event.get("data") or {}).get("round", 1)) not in revealed)
