"""The facilitator's timebox on an indicator: its rules, its forms, its push to every page, its audit."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from conftest import HX
from ecsa import timebox, worksheet
from ecsa.events import FACILITATOR, Actor, Event
from ecsa.realtime import handlers, socketio
from ecsa.views import timer as timer_views

INDICATOR = "1a"
FAY = Actor("f1", "Fay", FACILITATOR)
PAT = Actor("p1", "Pat")
T0 = 1_796_120_000_000  # 2026-12-01 10:13:20 UTC, a winter morning: London is on UTC
MINUTE = 60_000


def event(kind: str, now: int, actor: Actor = FAY, **data) -> Event:
    """A timer event made at `now` (epoch ms), as the view makes it."""
    return Event.by(actor, f"timer_{kind}", INDICATOR, now_ms=now, **data)


def run(ws: dict, kind: str, now: int, **data) -> dict:
    """Authorise and apply one timer event as the facilitator; returns the worksheet."""
    made = event(kind, now, **data)
    worksheet.authorise(FAY, ws, made)
    worksheet.apply(ws, made)
    return ws


def holds(shown: dict, **expected) -> bool:
    """Whether a view shows (at least) these values."""
    return shown.items() >= expected.items()


def started(minutes: int = 5, now: int = T0) -> dict:
    """A worksheet whose timer was started at `now`."""
    return run(worksheet.new_worksheet(INDICATOR), "started", now, seconds=minutes * 60)


# --- the rules ---------------------------------------------------------------------------------

def test_a_started_timer_runs_to_its_end_and_then_time_is_up():
    ws = started(5)
    assert holds(timebox.view(ws["timer"], T0 + 28_000), state="running", remaining_s=272, remaining="4:32",
                 ends_hhmm="10:18", ends_iso="2026-12-01T10:18:20Z", by="Fay", minutes=5)
    assert timebox.view(ws["timer"], T0 + 5 * MINUTE)["state"] == "finished"
    assert timebox.view(ws["timer"], T0 + 5 * MINUTE - 1)["remaining"] == "0:01"  # rounded up: 0:00 is the end


def test_the_end_time_is_shown_in_uk_time():
    summer = 1_780_000_000_000  # 2026-05-28 20:26:40 UTC: British Summer Time
    ws = started(2, summer)
    assert timebox.view(ws["timer"], summer)["ends_hhmm"] == "21:28"


def test_pause_keeps_what_is_left_and_resume_runs_on_from_there():
    ws = run(started(5), "paused", T0 + 110_000)
    paused = timebox.view(ws["timer"], T0 + 10 * MINUTE)  # time passes while paused
    assert paused["state"] == "paused" and paused["remaining"] == "3:10" and "ends_hhmm" not in paused
    run(ws, "resumed", T0 + 20 * MINUTE)
    assert timebox.view(ws["timer"], T0 + 20 * MINUTE)["remaining"] == "3:10"
    assert ws["timer"]["ends_at_ms"] == T0 + 20 * MINUTE + 190_000


def test_add_a_minute_adds_to_what_is_left_running_paused_or_after_time_is_up():
    running = run(started(5), "extended", T0 + MINUTE, seconds=60)
    assert timebox.view(running["timer"], T0 + MINUTE)["remaining"] == "5:00"
    assert running["timer"]["seconds"] == 360
    paused = run(run(started(5), "paused", T0 + MINUTE), "extended", T0 + 2 * MINUTE, seconds=60)
    assert timebox.view(paused["timer"], T0 + 3 * MINUTE)["remaining"] == "5:00"
    late = run(started(2), "extended", T0 + 10 * MINUTE, seconds=60)  # time was up 8 minutes ago
    assert holds(timebox.view(late["timer"], T0 + 10 * MINUTE), state="running", remaining="1:00")


def test_stop_takes_the_timer_away_and_a_new_one_can_start():
    ws = run(started(5), "stopped", T0 + MINUTE)
    assert ws["timer"] is None and timebox.view(None, T0)["state"] == "none"
    run(ws, "started", T0 + 2 * MINUTE, seconds=120)
    assert timebox.view(ws["timer"], T0 + 2 * MINUTE)["remaining"] == "2:00"


def test_a_finished_timer_can_be_replaced_by_a_new_one():
    ws = run(started(2), "started", T0 + 3 * MINUTE, seconds=600)
    assert timebox.view(ws["timer"], T0 + 3 * MINUTE)["remaining"] == "10:00"


@pytest.mark.parametrize("ws_of, kind, data, message", [
    (lambda: worksheet.new_worksheet(INDICATOR), "paused", {}, "The timer is not running."),
    (lambda: started(5), "resumed", {}, "The timer is not paused."),
    (lambda: run(started(5), "paused", T0), "paused", {}, "The timer is not running."),
    (lambda: started(1), "paused", {}, "The timer is not running."),  # time is up at T0 + 1 minute
    (lambda: started(5), "started", {"seconds": 120}, "A timer is already running"),
    (lambda: worksheet.new_worksheet(INDICATOR), "stopped", {}, "There is no timer to stop."),
    (lambda: worksheet.new_worksheet(INDICATOR), "extended", {"seconds": 60}, "There is no timer"),
    (lambda: run(started(120), "extended", T0 + MINUTE, seconds=60), "extended", {"seconds": 60},
     "more than 120 minutes left"),
    (lambda: worksheet.new_worksheet(INDICATOR), "started", {"seconds": 0}, timebox.LENGTH_MESSAGE),
    (lambda: worksheet.new_worksheet(INDICATOR), "started", {"seconds": 121 * 60}, timebox.LENGTH_MESSAGE),
])
def test_what_the_timers_state_does_not_allow_is_a_conflict(ws_of, kind, data, message):
    ws = ws_of()
    before = repr(ws)
    with pytest.raises(worksheet.Conflict, match=re.escape(message)):
        worksheet.authorise(FAY, ws, event(kind, T0 + MINUTE, **data))
    assert repr(ws) == before


@pytest.mark.parametrize("kind", ["started", "paused", "resumed", "extended", "stopped"])
def test_only_the_facilitator_runs_the_timer(kind):
    with pytest.raises(worksheet.Forbidden):
        worksheet.authorise(PAT, started(5), event(kind, T0, actor=PAT, seconds=60))


def test_the_timer_runs_on_a_locked_indicator_and_does_not_start_the_discussion():
    ws = dict(worksheet.new_worksheet(INDICATOR), lock={"by": "Fay", "at": "2026-12-01T10:00:00Z"})
    run(ws, "started", T0, seconds=120)
    fresh = started(5)
    assert ws["timer"] and fresh["state"] == worksheet.NOT_STARTED


@pytest.mark.parametrize("typed, minutes", [("5", 5), (" 120 ", 120), ("1", 1), ("0", None), ("-3", None),
                                            ("121", None), ("2.5", None), ("five", None), ("", None),
                                            ("٥", None), ("9" * 5000, None)])
def test_a_length_is_whole_minutes_from_1_to_120(typed, minutes):
    assert timebox.parse_minutes(typed) == minutes


# --- over HTTP ------------------------------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch):
    """The server's clock, set by the test (epoch ms in a one-item list)."""
    now = [T0]
    monkeypatch.setattr(timer_views, "now_ms", lambda: now[0])
    return now


def stored_timer(app, person) -> dict | None:
    """The indicator's timer as the server holds it."""
    return app.extensions["ecsa"].get(person.session_id).worksheet(INDICATOR).get("timer")


def timer_events(app, person) -> list[Event]:
    """The audit log's timer events."""
    return [e for e in app.extensions["ecsa"].get(person.session_id).audit() if e.type.startswith("timer_")]


def section(html: str) -> str:
    """The timer block in a page or fragment."""
    return re.search(r'<section id="timer".*?</section>', html, re.S)[0]


def test_the_facilitator_starts_pauses_resumes_extends_and_stops_the_timer(app, facilitator, clock):
    started_answer = facilitator.post(f"/i/{INDICATOR}/timer", {"do": "start", "minutes": "5"}, htmx=True)
    assert started_answer.status_code == 200
    block = started_answer.get_data(as_text=True)
    assert block.lstrip().startswith('<section id="timer"') and "Ends at" in block and "10:18" in block
    assert f'data-now-ms="{T0}"' in block and f'data-ends-at-ms="{T0 + 5 * MINUTE}"' in block
    clock[0] += 110_000
    assert "Paused – 3:10 left" in facilitator.post(f"/i/{INDICATOR}/timer", {"do": "pause"}, htmx=True).get_data(
        as_text=True)
    assert "Paused – 4:10 left" in facilitator.post(f"/i/{INDICATOR}/timer", {"do": "extend"}, htmx=True).get_data(
        as_text=True)
    resumed = facilitator.post(f"/i/{INDICATOR}/timer", {"do": "resume"})
    assert resumed.status_code == 303 and resumed.headers["Location"].endswith(f"/i/{INDICATOR}#timer")
    assert stored_timer(app, facilitator)["ends_at_ms"] == clock[0] + 250_000
    assert facilitator.post(f"/i/{INDICATOR}/timer", {"do": "stop"}).status_code == 303
    assert stored_timer(app, facilitator) is None
    assert [e.type for e in timer_events(app, facilitator)] == [
        "timer_started", "timer_paused", "timer_extended", "timer_resumed", "timer_stopped"]


def test_the_audit_log_keeps_who_ran_the_timer_and_the_servers_time(app, facilitator, clock):
    facilitator.post(f"/i/{INDICATOR}/timer", {"do": "start", "minutes": "10"})
    (started_event,) = timer_events(app, facilitator)
    assert started_event.actor_name == "Fay Facilitator" and started_event.indicator == INDICATOR
    assert started_event.data == {"now_ms": T0, "seconds": 600}


def test_every_page_shows_the_timer_from_the_servers_clock(app, facilitator, participant, clock):
    facilitator.post(f"/i/{INDICATOR}/timer", {"do": "start", "minutes": "2"})
    clock[0] += 30_000
    page = participant.get(f"/i/{INDICATOR}").get_data(as_text=True)
    block = section(page)
    assert "Ends at" in block and f'data-now-ms="{T0 + 30_000}"' in block
    assert "Pause" not in block and "Add a minute" not in block and "Custom length" not in block
    assert 'aria-live' not in block and 'role="status"' not in block  # the countdown is no live region
    clock[0] += 2 * MINUTE
    assert "Time is up" in section(participant.get(f"/i/{INDICATOR}").get_data(as_text=True))


def test_when_time_is_up_the_facilitator_can_add_a_minute_stop_or_start_a_new_timer(facilitator, clock):
    facilitator.post(f"/i/{INDICATOR}/timer", {"do": "start", "minutes": "2"})
    clock[0] += 3 * MINUTE
    block = section(facilitator.get(f"/i/{INDICATOR}").get_data(as_text=True))
    assert "Time is up" in block and "ended at <time" in block and "Start a new timer" in block
    assert 'value="extend"' in block and 'value="stop"' in block and 'value="pause"' not in block


def test_a_participant_sees_no_timer_until_one_runs_and_the_facilitator_sees_the_controls(facilitator, participant):
    assert re.search(r'<section id="timer"[^>]* hidden>', participant.get(f"/i/{INDICATOR}").get_data(as_text=True))
    mine = section(facilitator.get(f"/i/{INDICATOR}").get_data(as_text=True))
    assert "hidden>" not in mine.split("\n", 3)[2] and "Custom length in minutes" in mine
    assert all(f'name="minutes" value="{m}">{m} minutes' in mine for m in (2, 5, 10, 15))


@pytest.mark.parametrize("form", [{"do": "start", "minutes": "5"}, {"do": "pause"}, {"do": "resume"},
                                  {"do": "extend"}, {"do": "stop"}, {"do": "explode"}])
def test_a_participant_cannot_run_the_timer(app, facilitator, participant, clock, form):
    facilitator.post(f"/i/{INDICATOR}/timer", {"do": "start", "minutes": "5"})
    before, audit = stored_timer(app, facilitator), len(timer_events(app, facilitator))
    refused = participant.post(f"/i/{INDICATOR}/timer", form, htmx=True)
    assert refused.status_code == 403 and "Only the facilitator can do that." in refused.get_data(as_text=True)
    assert stored_timer(app, facilitator) == before and len(timer_events(app, facilitator)) == audit


@pytest.mark.parametrize("minutes", ["0", "-5", "five", "2.5", "121", "10080", ""])
def test_a_bad_length_is_refused_beside_the_field_keeping_what_was_typed(app, facilitator, minutes):
    refused = facilitator.post(f"/i/{INDICATOR}/timer", {"do": "start", "minutes": minutes}, htmx=True)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert re.search(r'id="timer-minutes-error">.*Enter a length between 1 and 120 minutes', body)
    assert f'id="timer-minutes" name="minutes" type="text"\n      value="{minutes}"' in body
    assert stored_timer(app, facilitator) is None and timer_events(app, facilitator) == []


def test_a_bad_length_without_javascript_gets_the_whole_page_with_the_message(facilitator):
    refused = facilitator.post(f"/i/{INDICATOR}/timer", {"do": "start", "minutes": "0"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "<html" in page and "Enter a length between 1 and 120 minutes" in page


def test_an_unknown_doing_is_refused_and_changes_nothing(app, facilitator):
    refused = facilitator.post(f"/i/{INDICATOR}/timer", {"do": "explode"}, htmx=True)
    assert refused.status_code == 422 and "This form could not be read" in refused.get_data(as_text=True)
    assert stored_timer(app, facilitator) is None and timer_events(app, facilitator) == []


def test_what_the_timer_cannot_do_now_is_said_in_its_block(app, facilitator, clock):
    refused = facilitator.post(f"/i/{INDICATOR}/timer", {"do": "pause"}, htmx=True)
    assert refused.status_code == 409 and "The timer is not running." in refused.get_data(as_text=True)
    assert timer_events(app, facilitator) == []


class TimerForms(HTMLParser):
    """The timer's forms on a page as a browser sees them: each one's fields, and its buttons."""

    def __init__(self, html: str):
        super().__init__()
        self.forms, self._open = [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("action", "").endswith("/timer"):
            self._open = {"action": a["action"], "fields": {}, "buttons": []}
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None:
            self._open["fields"][a["name"]] = a.get("value") or ""
        elif tag == "button" and self._open is not None:
            self._open["buttons"].append((a.get("name"), a.get("value")))

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def press(person, button: tuple, typed: dict | None = None):
    """Press a button of the timer's forms on the indicator page, as a browser sends it."""
    forms = TimerForms(person.get(f"/i/{INDICATOR}").get_data(as_text=True)).forms
    form = next(f for f in forms if button in f["buttons"])
    data = dict(form["fields"], **(typed or {}))
    if button[0]:
        data[button[0]] = button[1]
    return person.client.post(form["action"], data=data)


def test_every_timer_button_is_accepted_as_a_browser_sends_it(app, facilitator, clock):
    assert press(facilitator, ("minutes", "5")).status_code == 303
    assert stored_timer(app, facilitator)["seconds"] == 300
    for doing in ("pause", "resume", "extend", "stop"):
        assert press(facilitator, ("do", doing)).status_code == 303, doing
    assert stored_timer(app, facilitator) is None
    assert press(facilitator, (None, None), typed={"minutes": "3"}).status_code == 303
    assert stored_timer(app, facilitator)["seconds"] == 180
    assert [e.type for e in timer_events(app, facilitator)] == [
        "timer_started", "timer_paused", "timer_resumed", "timer_extended", "timer_stopped", "timer_started"]


def test_the_timer_block_is_fetched_alone(facilitator):
    assert facilitator.get(f"/i/{INDICATOR}?block=timer", htmx=True).get_data(as_text=True).lstrip().startswith(
        '<section id="timer"')


# --- live ----------------------------------------------------------------------------------------

def test_a_timer_change_is_pushed_to_every_page_on_the_indicator(app, facilitator, participant, monkeypatch, clock):
    monkeypatch.setattr(handlers, "schedule_fold", lambda workshop: None)
    pages = []
    for person in (participant, facilitator):
        page = socketio.test_client(app, flask_test_client=person.client, auth={"session": person.session_id})
        assert page.emit("where", {"indicator": INDICATOR}, callback=True) == {"ok": True}
        page.get_received()
        pages.append(page)
    assert facilitator.post(f"/i/{INDICATOR}/timer", {"do": "start", "minutes": "2"}).status_code == 303
    to_pat, to_fay = ([m["args"][0] for m in page.get_received() if m["name"] == "changed"] for page in pages)
    assert [c["blocks"] for c in to_pat] == [["timer"]] and to_pat[0]["message"] == ""
    assert "Ends at" in to_pat[0]["html"]["timer"] and "Pause" not in to_pat[0]["html"]["timer"]
    assert "Pause" in to_fay[0]["html"]["timer"]
