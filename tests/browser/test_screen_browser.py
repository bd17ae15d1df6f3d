"""The room screen in real browsers: the projector (its own Chromium context, no seat)
follows the facilitator, shows who has rated but no value, then the distribution, counts
down the timer, and fits a 1920x1080 projector and a 360px phone without sideways scrolling."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from test_axe_pages import assert_accessible
from test_html_valid import assert_valid
from test_live import FAST, no_errors, open_indicator, served, start_workshop  # noqa: F401

LEVEL_LABELS = ("Not started", "Emerging", "Developing", "Established", "Embedded")


def open_screen_elsewhere(served, fay, new_person, javascript: bool = True):
    """Fay makes a room screen link on Invite people; the projector's browser opens it."""
    fay.goto(f"{served.base}/s/{served.session_id}/share")
    fay.get_by_role("button", name="Make a link for another screen").click()
    link = fay.get_by_label("Room screen link", exact=True).input_value()
    projector = new_person(width=1920, javascript=javascript)
    projector.set_viewport_size({"width": 1920, "height": 1080})
    projector.goto(link)
    expect(projector).to_have_url(f"{served.base}/s/{served.session_id}/screen")
    return projector


def fits(page, width: int) -> None:
    """At this width nothing makes the page scroll sideways."""
    page.set_viewport_size({"width": width, "height": 1080 if width > 1000 else 800})
    page.wait_for_timeout(100)
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_room_screen_follows_the_facilitator_and_keeps_ratings_hidden_until_the_reveal(served, new_person, tmp_path):
    fay, (pat,) = start_workshop(served, new_person, "Pat")
    projector = open_screen_elsewhere(served, fay, new_person)
    assert_accessible(fay, "Invite people with a room screen link")
    expect(projector.locator("#screen-connection")).to_have_text("This screen updates live.")
    expect(projector.get_by_role("heading", name="Indicator 1a")).to_be_visible()

    open_indicator(served, fay, "1a")
    fay.get_by_role("button", name="Follow me: off").click()
    expect(fay.get_by_role("button", name="Follow me: on")).to_be_visible()
    fay.locator("a[rel=next]").click()
    expect(fay.get_by_role("heading", name="Indicator 1b")).to_be_visible()
    expect(projector.get_by_role("heading", name="Indicator 1b")).to_be_visible(timeout=FAST * 1000)
    expect(projector.locator("#announcer")).to_have_text("Now showing indicator 1b")

    open_indicator(served, pat, "1b")
    pat.get_by_label("4 – Established", exact=True).check()
    pat.get_by_role("button", name="Save my rating").click()
    main = projector.locator("#main")
    expect(main).to_contain_text("1 of 2 has rated", timeout=FAST * 1000)
    expect(main).to_contain_text("Rated: Pat")
    html = main.inner_html()
    assert not any(label in html for label in LEVEL_LABELS), "a rating shows on the screen before the reveal"
    assert_accessible(projector, "the room screen before the reveal")
    before = projector.content()

    fay.get_by_role("button", name="Reveal the ratings").click()
    expect(projector.locator("#screen-round-1")).to_be_visible(timeout=FAST * 1000)
    expect(projector.locator("#screen-round-1")).to_contain_text("4 – Established")
    expect(projector.locator("#screen-round-1")).to_contain_text("Pat")
    assert_accessible(projector, "the room screen after the reveal")
    assert_valid({"screen before the reveal": before, "screen after the reveal": projector.content()}, tmp_path)

    fay.get_by_role("button", name="5 minutes", exact=True).click()
    counting = re.compile(r"^[45]:\d\d left$")  # timer.js counts down in the block swapped in
    expect(projector.locator("#timer [data-timer-left]")).to_have_text(counting, timeout=FAST * 1000)
    fits(projector, 1920)
    fits(projector, 360)
    assert projector.locator("[role=alert], [aria-live=assertive]").count() == 0
    no_errors(fay, pat, projector)


def test_the_facilitator_opens_the_room_screen_in_their_own_browser(served, new_person):
    fay, _ = start_workshop(served, new_person)
    fay.goto(f"{served.base}/s/{served.session_id}/share")
    fay.get_by_role("button", name="Open the room screen").click()
    expect(fay).to_have_url(f"{served.base}/s/{served.session_id}/screen")
    expect(fay.locator("#screen-connection")).to_have_text("This screen updates live.")
    expect(fay.locator(".ecsa-screen__code")).to_be_visible()
    assert fay.locator("#live").count() == 0  # no seat: the participants' live layer is not on it
    no_errors(fay)


def test_without_javascript_the_screen_shows_the_session_and_a_reload_link(served, new_person):
    fay, _ = start_workshop(served, new_person)
    projector = open_screen_elsewhere(served, fay, new_person, javascript=False)
    expect(projector.get_by_role("heading", name="Indicator 1a")).to_be_visible()
    projector.get_by_role("link", name="Reload").click()
    expect(projector.get_by_role("heading", name="Indicator 1a")).to_be_visible()
    fits(projector, 360)
