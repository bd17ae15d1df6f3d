"""The facilitator's timer in real browsers: everyone sees the same countdown, from the server's
clock, through a reload, a pause and Add a minute; without JavaScript the end time; and the
two polite announcements, each said once."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from steps import create_session

from ecsa import timebox

INDICATOR = "1a"
LEFT = re.compile(r"^(\d+):(\d\d) left$")
ONE_MINUTE = "One minute left on the timer for indicator 1a"
TIME_UP = "Time is up for indicator 1a"


@pytest.fixture
def workshop(serving, new_person):
    """Fay's session for section 1: (base URL, the app, Fay's page, the session id, the join code)."""
    base, app = serving
    fay = new_person()
    code = create_session(fay, base, "Timed workshop")
    session_id = fay.url.split("/s/")[1].split("/")[0]
    return base, app, fay, session_id, code


def join(new_person, base: str, code: str, name: str, javascript: bool = True, clock: bool = False):
    """A participant joins from their own phone-sized browser (its clock faked if asked)."""
    page = new_person(width=360, javascript=javascript)
    if clock:
        page.clock.install()  # time flows as usual until the test moves it
    page.goto(f"{base}/join/{code}")
    page.get_by_label("Your name", exact=True).fill(name)
    page.get_by_label("Unpaid carer", exact=True).check()
    page.get_by_role("button", name="Join session").click()
    expect(page.get_by_role("heading", name="Timed workshop")).to_be_visible()
    return page


def open_indicator(page, base: str, session_id: str, live: bool = True) -> None:
    """Go to the indicator's page (and, with JavaScript, wait until it is live)."""
    page.goto(f"{base}/s/{session_id}/i/{INDICATOR}")
    if live:
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")


def seconds_left(page) -> int:
    """What the page's countdown says is left, in seconds."""
    shown = page.locator("#timer [data-timer-left]")
    expect(shown).to_have_text(LEFT)
    minutes, seconds = LEFT.match(shown.inner_text()).groups()
    return int(minutes) * 60 + int(seconds)


def server_seconds_left(app, session_id: str) -> float:
    """What the server's timer has left now, in seconds."""
    timer = app.extensions["ecsa"].get(session_id).worksheet(INDICATOR)["timer"]
    return timebox.remaining_ms(timer, int(time.time() * 1000)) / 1000


def record_announcements(page) -> None:
    """Keep every polite announcement this page makes, in window.said."""
    page.evaluate("""() => {
        window.said = [];
        const announce = window.ECSA.live.announce;
        window.ECSA.live.announce = text => { window.said.push(text); announce(text); };
    }""")


def said(page) -> list[str]:
    return page.evaluate("window.said")


def test_everyone_sees_the_countdown_through_a_reload_add_a_minute_and_pause(workshop, new_person):
    base, app, fay, session_id, code = workshop
    pat = join(new_person, base, code, "Pat")
    for page in (fay, pat):
        open_indicator(page, base, session_id)
    expect(pat.locator("#timer")).to_be_hidden()  # no timer yet
    fay.get_by_role("button", name="2 minutes", exact=True).click()
    expect(pat.locator("#timer [data-timer-left]")).to_have_text(LEFT)
    assert 110 <= seconds_left(pat) <= 120
    expect(pat.locator("#timer")).to_contain_text("2-minute timebox, started by Fay")
    expect(pat.locator("#timer").get_by_role("button")).to_have_count(0)  # the controls are the facilitator's

    pat.reload()
    expect(pat.locator("#timer [data-timer-left]")).to_have_text(LEFT)
    assert abs(seconds_left(pat) - server_seconds_left(app, session_id)) <= 2

    before = seconds_left(pat)
    fay.get_by_role("button", name="Add a minute").click()
    expect(pat.locator("#timer")).to_contain_text("3-minute timebox")
    assert seconds_left(pat) >= before + 55

    fay.get_by_role("button", name="Pause the timer").click()
    for page in (fay, pat):
        expect(page.locator("#timer .ecsa-timer__time")).to_have_text(re.compile(r"^Paused – \d+:\d\d left$"))
    paused = pat.locator("#timer .ecsa-timer__time").inner_text()
    time.sleep(1.5)
    expect(pat.locator("#timer .ecsa-timer__time")).to_have_text(paused)  # the clock has stopped

    fay.get_by_role("button", name="Resume the timer").click()
    expect(pat.locator("#timer [data-timer-left]")).to_have_text(LEFT)
    fay.get_by_role("button", name="Stop the timer").click()
    expect(pat.locator("#timer")).to_be_hidden()
    assert fay.errors == [] and pat.errors == []


def test_without_javascript_the_page_shows_the_end_time(workshop, new_person):
    base, app, fay, session_id, code = workshop
    open_indicator(fay, base, session_id)
    fay.get_by_label("Custom length in minutes").fill("10")
    fay.get_by_role("button", name="Start a timer of this length").click()
    expect(fay.locator("#timer [data-timer-left]")).to_have_text(LEFT)
    pat = join(new_person, base, code, "Pat", javascript=False)
    open_indicator(pat, base, session_id, live=False)
    shown = timebox.view(app.extensions["ecsa"].get(session_id).worksheet(INDICATOR)["timer"], int(time.time() * 1000))
    expect(pat.locator("#timer .ecsa-timer__time")).to_have_text(f"Ends at {shown['ends_hhmm']}")
    expect(pat.locator("#timer")).to_contain_text("10-minute timebox, started by Fay")


def test_a_bad_length_is_refused_beside_the_field(workshop, new_person):
    base, app, fay, session_id, code = workshop
    open_indicator(fay, base, session_id)
    fay.get_by_label("Custom length in minutes").fill("0")
    fay.get_by_label("Custom length in minutes").press("Enter")  # Enter starts this length, not a preset
    expect(fay.locator("#timer-minutes-error")).to_contain_text("Enter a length between 1 and 120 minutes")
    expect(fay.get_by_label("Custom length in minutes")).to_have_value("0")
    assert app.extensions["ecsa"].get(session_id).worksheet(INDICATOR).get("timer") is None


def test_one_minute_left_and_time_is_up_are_each_announced_once(workshop, new_person):
    base, app, fay, session_id, code = workshop
    pat = join(new_person, base, code, "Pat", clock=True)
    for page in (fay, pat):
        open_indicator(page, base, session_id)
    record_announcements(pat)
    fay.get_by_label("Custom length in minutes").fill("1")
    fay.get_by_role("button", name="Start a timer of this length").click()
    # A one-minute timer reaches the one-minute mark at once.
    expect(pat.locator("#announcer")).to_have_text(ONE_MINUTE)
    time.sleep(1.5)  # six more ticks of the countdown
    assert said(pat) == [ONE_MINUTE]

    pat.reload()  # not said again
    expect(pat.locator("#timer [data-timer-left]")).to_have_text(LEFT)
    record_announcements(pat)
    time.sleep(1.5)
    assert said(pat) == []

    pat.clock.set_system_time(time.time() + 61)  # this phone's clock jumps; its page looks again
    expect(pat.locator("#announcer")).to_have_text(TIME_UP)
    expect(pat.locator("#timer [data-timer-left]")).to_have_text("Time is up")
    time.sleep(1)
    assert said(pat) == [TIME_UP]
    assert pat.errors == []
