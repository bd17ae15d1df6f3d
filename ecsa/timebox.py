"""The timebox of one indicator: the facilitator's countdown that every screen shows.

A worksheet's `timer` is None (no timer) or a dict:

    seconds       the length it runs for in all (minutes chosen plus minutes added)
    ends_at_ms    when it ends, epoch milliseconds, while it runs (None while paused)
    remaining_ms  what is left while paused (None while it runs)
    started_ms    when it was started (epoch ms): which timer this is, for the pages
    by, started_at who started it, and when (ISO)

Every time here comes from the server's clock: each event carries the `now_ms` its view
read when it made the event, so applying an event (again, from the log) gives the same
timer. Plain functions, no Flask: `check` refuses an event the timer's state does not
allow, `apply_*` make it happen, `view` says what a page shows.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .events import Event, NotAllowedNow

MINUTES_MIN, MINUTES_MAX = 1, 120  # a timebox is for part of a workshop, never for days
PRESETS = (2, 5, 10, 15)            # minutes, the facilitator's one-click lengths
EXTEND_SECONDS = 60                 # "Add a minute"
LENGTH_MESSAGE = f"Enter a length between {MINUTES_MIN} and {MINUTES_MAX} minutes"


def _london() -> tzinfo | None:
    """The UK's time zone, where the workshops are; None (the machine's own zone) where the
    system has no time zone data (Windows without the tzdata package)."""
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:
        return None


LONDON = _london()


def parse_minutes(raw) -> int | None:
    """A length as typed or chosen, in whole minutes within the limits; None if it is not."""
    text = (raw or "").strip()
    # Not int(text) alone: "²" and "٥" are digits to isdigit(), and 5,000 digits make int() raise.
    if not (0 < len(text) <= 3 and text.isascii() and text.isdigit()):
        return None
    minutes = int(text)
    return minutes if MINUTES_MIN <= minutes <= MINUTES_MAX else None


class TimerRefused(NotAllowedNow):
    """A timer event that the timer's state does not allow (the caller turns it into a Conflict)."""


def remaining_ms(timer: dict | None, now_ms: int) -> int:
    """Milliseconds left on the timer at now_ms (0 once time is up, or with no timer)."""
    if not timer:
        return 0
    if timer["ends_at_ms"] is None:
        return timer["remaining_ms"]
    return max(0, timer["ends_at_ms"] - now_ms)


def state(timer: dict | None, now_ms: int) -> str:
    """Where the timer stands at now_ms: "none", "running", "paused" or "finished" (time is
    up, shown until it is stopped or another one starts)."""
    if not timer:
        return "none"
    if timer["ends_at_ms"] is None:
        return "paused"
    return "running" if timer["ends_at_ms"] > now_ms else "finished"


# --- checks: called by worksheet.authorise --------------------------------------------------

def check(ws: dict, event: Event) -> None:
    """Raise TimerRefused unless the timer's state allows this timer event now."""
    CHECKS[event.type](ws, event)


def check_start(ws: dict, event: Event) -> None:
    """A timer starts with a length within limits, unless one is running or paused."""
    if state(ws.get("timer"), event.data["now_ms"]) in ("running", "paused"):
        raise TimerRefused("A timer is already running on this indicator. Stop it before starting another.")
    seconds = event.data.get("seconds")
    if not isinstance(seconds, int) or not MINUTES_MIN * 60 <= seconds <= MINUTES_MAX * 60:
        raise TimerRefused(LENGTH_MESSAGE + ".")


def check_pause(ws: dict, event: Event) -> None:
    """Only a running timer pauses."""
    if state(ws.get("timer"), event.data["now_ms"]) != "running":
        raise TimerRefused("The timer is not running.")


def check_resume(ws: dict, event: Event) -> None:
    """Only a paused timer resumes."""
    if state(ws.get("timer"), event.data["now_ms"]) != "paused":
        raise TimerRefused("The timer is not paused.")


def check_extend(ws: dict, event: Event) -> None:
    """A minute is added to a timer there is (one whose time is up gets a minute from now),
    as long as what is left stays within the longest length."""
    timer = ws.get("timer")
    if not timer:
        raise TimerRefused("There is no timer to add a minute to. Start one first.")
    if remaining_ms(timer, event.data["now_ms"]) + event.data["seconds"] * 1000 > MINUTES_MAX * 60_000:
        raise TimerRefused(f"A timer cannot have more than {MINUTES_MAX} minutes left.")


def check_stop(ws: dict, event: Event) -> None:
    """Only a timer there is stops."""
    if not ws.get("timer"):
        raise TimerRefused("There is no timer to stop.")


CHECKS = {"timer_started": check_start, "timer_paused": check_pause, "timer_resumed": check_resume,
          "timer_extended": check_extend, "timer_stopped": check_stop}


# --- apply: called by worksheet.apply ----------------------------------------------------------

def apply_start(ws: dict, event: Event) -> None:
    """Start the timer: it ends `seconds` from now."""
    now, seconds = event.data["now_ms"], event.data["seconds"]
    ws["timer"] = {"seconds": seconds, "ends_at_ms": now + seconds * 1000, "remaining_ms": None,
                   "started_ms": now, "by": event.actor_name, "started_at": event.at}


def apply_pause(ws: dict, event: Event) -> None:
    """Stop the clock, keeping what is left."""
    timer = ws["timer"]
    timer.update(remaining_ms=remaining_ms(timer, event.data["now_ms"]), ends_at_ms=None)


def apply_resume(ws: dict, event: Event) -> None:
    """Run again from what was left when paused."""
    timer = ws["timer"]
    timer.update(ends_at_ms=event.data["now_ms"] + timer["remaining_ms"], remaining_ms=None)


def apply_extend(ws: dict, event: Event) -> None:
    """Add time: to what is left, or (time being up) from now."""
    timer, now, added_ms = ws["timer"], event.data["now_ms"], event.data["seconds"] * 1000
    timer["seconds"] += event.data["seconds"]
    if timer["ends_at_ms"] is None:
        timer["remaining_ms"] += added_ms
    else:
        timer["ends_at_ms"] = max(timer["ends_at_ms"], now) + added_ms


def apply_stop(ws: dict, event: Event) -> None:
    """Take the timer away (the audit log keeps that it ran)."""
    ws["timer"] = None


# --- what a page shows ----------------------------------------------------------------------------

def clock(seconds: int) -> str:
    """Seconds as a countdown reads: "4:32", "0:05", "1:02:03"."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def _local(ms: int) -> datetime:
    """An epoch time in the UK's time zone."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone(LONDON)


def view(timer: dict | None, now_ms: int) -> dict:
    """What a page shows of the timer at now_ms: its state, the time left (whole seconds,
    rounded up, so 0:00 means time is up) and when it ends, in ISO and as the room's clock
    reads (HH:MM, UK time); `now_ms` too, which pages count down from."""
    shown = {"state": state(timer, now_ms), "now_ms": now_ms}
    if not timer:
        return shown
    left = math.ceil(remaining_ms(timer, now_ms) / 1000)
    shown.update(seconds=timer["seconds"], minutes=math.ceil(timer["seconds"] / 60), by=timer["by"],
                 started_ms=timer["started_ms"], remaining_s=left, remaining=clock(left),
                 ends_at_ms=timer["ends_at_ms"])
    if timer["ends_at_ms"] is not None:
        ends = _local(timer["ends_at_ms"])
        shown.update(ends_iso=ends.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
                     ends_hhmm=ends.strftime("%H:%M"))
    return shown
