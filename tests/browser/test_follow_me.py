"""Follow-me never strands anyone.

A page with unsaved input is never moved: its follow bar says where the facilitator is,
with a working link there, and following keeps the unsaved text in the "Not saved" box.
"Stay here" survives a reload and a reconnect. The bar is a polite live region, usable by
keyboard, readable (WCAG 2.2 AA contrast) and whole on a 360px phone.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from test_live import no_errors, open_indicator, served, start_workshop  # noqa: F401

HELD = "This page stayed here because it has text you have not saved."

RECORD_MOVES = """() => {
  window.moves = [];
  document.body.addEventListener('htmx:beforeRequest', event => {
    const path = event.detail.pathInfo && event.detail.pathInfo.requestPath || '';
    if (/\\/i\\/[^/?]+$/.test(path)) window.moves.push(path);
  });
}"""

# The contrast ratio (WCAG 2.x) of an element's text with the background behind it.
CONTRAST = """element => {
  const rgb = text => text.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map(v => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let back = element, colour = null;
  while (back) {
    const c = getComputedStyle(back).backgroundColor;
    if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') { colour = c; break; }
    back = back.parentElement;
  }
  const a = luminance(rgb(getComputedStyle(element).color)), b = luminance(rgb(colour || 'rgb(255,255,255)'));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def facilitator_moves_on(fay, to: str) -> None:
    fay.locator("a[rel=next]").click()
    expect(fay.get_by_role("heading", name=f"Indicator {to}")).to_be_visible()


def stayed(page, indicator: str) -> None:
    """The page is still on `indicator` and never started going elsewhere (the bar is
    written after any move would have begun, in the same follow message)."""
    expect(page.get_by_role("heading", name=f"Indicator {indicator}")).to_be_visible()
    assert page.evaluate("window.moves") == []


def bar_fits_and_reads_well(page) -> None:
    """Nothing scrolls sideways at 360px; the bar's text, link and buttons reach 4.5:1."""
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    for part in page.locator("#follow-status, #follow-status a, #follow button:visible").all():
        box = part.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"], box
        assert part.evaluate(CONTRAST) >= 4.5, part.evaluate("e => e.outerHTML")
    for button in page.locator("#follow button:visible").all():
        assert button.bounding_box()["height"] >= 24  # WCAG 2.2 target size (minimum)


def follow_me_on(served, fay, pat, indicator: str = "1a") -> None:
    open_indicator(served, fay, indicator)
    open_indicator(served, pat, indicator)
    fay.get_by_role("button", name="Follow me: off").click()
    expect(fay.get_by_role("button", name="Follow me: on")).to_be_visible()
    expect(pat.locator("#follow-status")).to_have_text("Following the facilitator.")
    pat.evaluate(RECORD_MOVES)


def test_unsaved_text_holds_the_page_and_the_bar_links_to_the_facilitator(served, new_person):
    fay, (pat,) = start_workshop(served, new_person, "Pat")  # Pat on a 360px phone
    follow_me_on(served, fay, pat)
    status = pat.get_by_role("status").and_(pat.locator("#follow-status"))
    expect(status).to_have_count(1)  # a polite live region

    pat.get_by_label("What the evidence is", exact=True).fill("Half-written evidence")
    facilitator_moves_on(fay, "1b")
    expect(status).to_have_text(f"The facilitator is on 1b. {HELD}")
    stayed(pat, "1a")
    link = status.get_by_role("link", name="1b")
    expect(link).to_have_attribute("href", re.compile(r"/i/1b$"))
    expect(pat.get_by_label("What the evidence is", exact=True)).to_have_value("Half-written evidence")
    bar_fits_and_reads_well(pat)

    # "Follow the facilitator" works with unsaved text: the text goes to the Not saved box.
    pat.get_by_role("button", name="Follow the facilitator").click()
    expect(pat.get_by_role("heading", name="Indicator 1b")).to_be_visible()
    expect(status).to_have_text("Following the facilitator.")
    expect(pat.locator("#unsent")).to_be_visible()
    expect(pat.locator("#unsent-text")).to_have_value("What the evidence is: Half-written evidence")
    # The announcement starts with the new page's title.
    expect(pat.locator("#announcer")).to_contain_text("Your unsaved text is in the Not saved box at the top of the page.")
    expect(pat.get_by_label("What the evidence is", exact=True)).to_have_value("")  # not carried into 1b

    # Held again on 1b; the link follows the facilitator as they move, and works by keyboard.
    pat.evaluate(RECORD_MOVES)
    pat.get_by_label("What needs to happen", exact=True).fill("Ask the board")
    facilitator_moves_on(fay, "1c")
    expect(status).to_have_text(f"The facilitator is on 1c. {HELD}")
    facilitator_moves_on(fay, "1d")
    expect(status).to_have_text(f"The facilitator is on 1d. {HELD}")
    stayed(pat, "1b")
    link = status.get_by_role("link", name="1d")
    expect(link).to_have_attribute("href", re.compile(r"/i/1d$"))
    link.focus()
    pat.keyboard.press("Enter")
    expect(pat.get_by_role("heading", name="Indicator 1d")).to_be_visible()
    expect(status).to_have_text("Following the facilitator.")
    expect(pat.locator("#unsent-text")).to_have_value(
        "What the evidence is: Half-written evidence\n\nWhat needs to happen: Ask the board")

    # With nothing unsaved, the page follows again, and the box is still there to copy from.
    facilitator_moves_on(fay, "1e")
    expect(pat.get_by_role("heading", name="Indicator 1e")).to_be_visible()
    expect(pat.locator("#unsent")).to_be_visible()
    pat.get_by_role("button", name="I have copied it – clear this box").click()
    expect(pat.locator("#unsent")).to_be_hidden()
    no_errors(fay, pat)


def test_stay_here_survives_a_reload_and_a_reconnect(served, new_person):
    fay, (pat,) = start_workshop(served, new_person, "Pat")
    follow_me_on(served, fay, pat)
    status = pat.locator("#follow-status")

    pat.get_by_role("button", name="Stay here").click()
    expect(pat.get_by_role("button", name="Follow the facilitator")).to_be_focused()  # focus not lost
    facilitator_moves_on(fay, "1b")
    expect(status).to_have_text("The facilitator is on 1b.")
    stayed(pat, "1a")

    pat.reload()
    expect(pat.locator("#connection")).to_have_attribute("data-state", "connected")
    pat.evaluate(RECORD_MOVES)
    expect(status).to_have_text("The facilitator is on 1b.")
    expect(pat.get_by_role("button", name="Stay here")).to_be_hidden()
    facilitator_moves_on(fay, "1c")
    expect(status).to_have_text("The facilitator is on 1c.")
    stayed(pat, "1a")

    pat.evaluate("() => { const socket = ECSA.live.socket(); socket.disconnect(); socket.connect(); }")
    expect(pat.locator("#connection")).to_have_attribute("data-state", "connected")
    facilitator_moves_on(fay, "1d")
    expect(status).to_have_text("The facilitator is on 1d.")
    stayed(pat, "1a")
    bar_fits_and_reads_well(pat)

    pat.get_by_role("button", name="Follow the facilitator").press("Enter")
    expect(pat.get_by_role("heading", name="Indicator 1d")).to_be_visible()
    expect(status).to_have_text("Following the facilitator.")
    pat.reload()  # following is remembered too: the next move takes the page along
    expect(pat.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(status).to_have_text("Following the facilitator.")
    facilitator_moves_on(fay, "1e")
    expect(pat.get_by_role("heading", name="Indicator 1e")).to_be_visible()

    # Follow-me turned off and on again is a fresh start: the old "Stay here" is forgotten.
    pat.get_by_role("button", name="Stay here").click()
    fay.get_by_role("button", name="Follow me: on").click()
    expect(pat.locator("#follow")).to_be_hidden()
    fay.get_by_role("button", name="Follow me: off").click()
    expect(status).to_have_text("Following the facilitator.")
    no_errors(fay, pat)
