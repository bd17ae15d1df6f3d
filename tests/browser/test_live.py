"""The live layer in real browsers: several people (each its own Chromium context) at once.

Each participant is a page from `new_person`; several pages open together are how we
test several participants. Sync Playwright is single-threaded, so "at the same time"
means short chunks of typing alternated across pages while every page's socket keeps
receiving in the browser meanwhile.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect
from steps import create_session


NOTES = "Notes from the group's discussion"
FAST = 2.0  # seconds: the most a live update may take to show on another page


@dataclass
class Served:
    """The app served on loopback, and the app itself (to check what the server holds)."""

    base: str
    app: object
    session_id: str = ""

    def notes(self, indicator: str) -> str:
        """The indicator's notes as the server holds them now."""
        return self.app.extensions["ecsa"].get(self.session_id).worksheet(indicator)["notes"]


@pytest.fixture
def served(serving):
    """Like `live_server`, but the test can also see the app it serves."""
    return Served(*serving)


def start_workshop(served: Served, new_person, *names: str):
    """Fay creates a session for section 1; each name joins from its own browser.

    Returns the facilitator's page and the participants' pages, none yet on an indicator."""
    fay = new_person()
    code = create_session(fay, served.base, "Live workshop")
    served.session_id = fay.url.split("/s/")[1].split("/")[0]
    people = []
    for name in names:
        page = new_person(width=360)
        page.goto(f"{served.base}/join/{code}")
        page.get_by_label("Your name", exact=True).fill(name)
        page.get_by_label("Unpaid carer", exact=True).check()
        page.get_by_role("button", name="Join session").click()
        expect(page.get_by_role("heading", name="Live workshop")).to_be_visible()
        people.append(page)
    return fay, people


def open_indicator(served: Served, page, indicator: str) -> None:
    """Go to an indicator's page and wait until it is live (connected, notes synced)."""
    page.goto(f"{served.base}/s/{served.session_id}/i/{indicator}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    notes = page.locator("#notes-text[data-live-notes]")
    if notes.count():
        expect(notes).to_be_editable()


def watch_for(page, text: str) -> None:
    """Record (page clock, ms) when `text` first shows in the page's main content."""
    page.evaluate("""text => {
        window.seen = window.seen || {};
        const look = () => {
          const main = document.getElementById('maincontent');
          if (!(text in window.seen) && main && main.innerText.includes(text)) window.seen[text] = Date.now();
        };
        new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
        look();
    }""", text)


def watch_value(page, selector: str, value: str) -> None:
    """Record (page clock, ms) when the field's value first equals `value` (checked every 5 ms:
    a value set by script fires no event)."""
    page.evaluate("""([selector, value]) => {
        window.seen = window.seen || {};
        const timer = setInterval(() => {
          const field = document.querySelector(selector);
          if (field && field.value === value) { window.seen[value] = Date.now(); clearInterval(timer); }
        }, 5);
    }""", [selector, value])


def seen_after(page, text: str, started_ms: float) -> float:
    """Seconds from started_ms (wall clock) until `text` showed on page (fails after 5 s)."""
    page.wait_for_function("text => window.seen && text in window.seen", arg=text, timeout=5_000)
    return (page.evaluate("text => window.seen[text]", text) - started_ms) / 1000


def now_ms() -> float:
    return time.time() * 1000


def no_errors(*pages) -> None:
    for page in pages:
        assert page.errors == [], page.errors


def settled_notes(served: Served, pages, indicator: str, timeout: float = 5.0) -> str:
    """Wait until every page's notes and the server's agree; return that text."""
    deadline = time.monotonic() + timeout
    while True:
        values = [p.locator("#notes-text").input_value() for p in pages]
        server = served.notes(indicator)
        if all(v == server for v in values):
            return server
        if time.monotonic() > deadline:
            raise AssertionError(f"notes did not converge: pages {values!r}, server {server!r}")
        time.sleep(0.1)


# 1. Three people type into the same notes at once ------------------------------------

SENTENCES = {
    "Fay": "Fay notes the Größe of the board strategy 😀 today",
    "Pat": "Pat says carers asked 日本語 questions twice",
    "Sam": "Sam adds staff 👩‍⚕️ feedback from March",
}


def test_three_people_type_the_same_notes_at_once(served, new_person):
    fay, (pat, sam) = start_workshop(served, new_person, "Pat", "Sam")
    pages = {"Fay": fay, "Pat": pat, "Sam": sam}
    for page in pages.values():
        open_indicator(served, page, "1a")
        page.get_by_label(NOTES, exact=True).click()
    # Three characters at a time, so one person's word is often cut by another's typing.
    chunks = {name: [(sentence + " ")[i:i + 3] for i in range(0, len(sentence) + 1, 3)]
              for name, sentence in SENTENCES.items()}
    for round_ in range(max(len(c) for c in chunks.values())):
        for name, page in pages.items():
            if round_ < len(chunks[name]):
                page.keyboard.type(chunks[name][round_], delay=5)

    text = settled_notes(served, pages.values(), "1a")
    words = text.split()
    for name, sentence in SENTENCES.items():
        mine = sentence.split()
        assert set(mine) <= set(words), (name, text)
        # Each person's words stay in the order they typed them (their caret kept its place).
        assert [w for w in words if w in mine] == mine, (name, text)
    print(f"\nnotes after concurrent typing: {text!r}")

    with fay.expect_download() as download:
        fay.get_by_role("link", name="Download record").click()
    record = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert next(i for i in record["indicators"] if i["id"] == "1a")["notes"] == text
    no_errors(*pages.values())


# 2. A lock turns everyone's page read-only at once -----------------------------------

def test_lock_makes_other_pages_read_only_and_keeps_unsaved_text(served, new_person):
    fay, (pat, sam) = start_workshop(served, new_person, "Pat", "Sam")
    for page in (fay, pat, sam):
        open_indicator(served, page, "1a")
    fay.get_by_label("Agreed rating (facilitator)", exact=True).select_option("3")
    fay.get_by_label("The group's reason for this rating").fill("Strategy signed off; carers not yet asked.")
    fay.get_by_role("button", name="Set agreed rating").click()
    expect(pat.locator("#ratings")).to_contain_text("Agreed rating: 3 – Developing")

    pat.get_by_label(NOTES, exact=True).press_sequentially("Agreed after a short debate.", delay=5)
    sam.get_by_label("What the evidence is", exact=True).fill("Patient survey 2026, page 4")
    expect(fay.get_by_label(NOTES, exact=True)).to_have_value("Agreed after a short debate.")

    started = now_ms()
    for page in (pat, sam):
        watch_for(page, "Locked by Fay")
    fay.get_by_role("button", name="Lock as agreed").click()
    for name, page in (("Pat", pat), ("Sam", sam)):
        print(f"\nlock shown on {name}'s page after {seen_after(page, 'Locked by Fay', started):.3f} s")
        expect(page.locator("#status")).to_contain_text("Agreed")
        expect(page.locator("#notes-text")).to_have_count(0)
        expect(page.get_by_label("Discussion notes (locked)")).to_have_text("Agreed after a short debate.")
        expect(page.get_by_role("button", name="Add evidence")).to_have_count(0)
        expect(page.get_by_role("button", name="Save my rating")).to_have_count(0)
    unsent = sam.locator("#unsent")
    expect(unsent).to_be_visible()
    expect(unsent).to_contain_text("locked before your text was saved")
    expect(sam.locator("#unsent-text")).to_have_value("What the evidence is: Patient survey 2026, page 4")
    expect(pat.locator("#unsent")).to_be_hidden()
    assert served.notes("1a") == "Agreed after a short debate."
    no_errors(fay, pat, sam)


# 3. Changes show on the other pages without a reload ----------------------------------

def test_evidence_votes_and_notes_show_on_the_facilitators_page_quickly(served, new_person):
    fay, (pat,) = start_workshop(served, new_person, "Pat")
    for page in (fay, pat):
        open_indicator(served, page, "1a")

    watch_for(fay, "Minutes of the March board")
    pat.get_by_label("What the evidence is", exact=True).fill("Minutes of the March board")
    started = now_ms()
    pat.get_by_role("button", name="Add evidence").click()
    evidence = seen_after(fay, "Minutes of the March board", started)

    watch_for(fay, "Rated: Pat")
    pat.get_by_label("4 – Established", exact=True).check()
    started = now_ms()
    pat.get_by_role("button", name="Save my rating").click()
    vote = seen_after(fay, "Rated: Pat", started)

    watch_value(fay, "#notes-text", "Quick")
    pat.get_by_label(NOTES, exact=True).click()
    started = now_ms()
    pat.keyboard.type("Quick")
    notes = seen_after(fay, "Quick", started)

    print(f"\nclick to shown on the facilitator's page: evidence {evidence:.3f} s, vote {vote:.3f} s; "
          f"notes, first key to whole word shown: {notes:.3f} s")
    assert evidence < FAST and vote < FAST and notes < FAST
    expect(fay.locator("#evidence_list")).to_contain_text("Added by Pat")
    assert fay.evaluate("Object.keys(window.seen).length") == 3  # the same document: no reload
    no_errors(fay, pat)


def test_changes_made_together_all_show(served, new_person):
    """Several changes arriving together each refresh their own block or overview line."""
    fay, (pat, sam) = start_workshop(served, new_person, "Pat", "Sam")
    overview = fay.context.new_page()  # Fay's second tab, on the overview
    overview.errors = []
    overview.on("console", lambda msg: msg.type == "error" and overview.errors.append(msg.text))
    overview.goto(f"{served.base}/s/{served.session_id}/")
    expect(overview.locator("#connection")).to_have_attribute("data-state", "connected")
    for page in (fay, pat, sam):
        open_indicator(served, page, "1a")

    pat.get_by_label("What the evidence is", exact=True).fill("Staff survey results")
    pat.get_by_label("What needs to happen", exact=True).fill("Publish the strategy")
    sam.get_by_label("2 – Emerging", exact=True).check()
    pat.get_by_role("button", name="Add evidence").click()
    sam.get_by_role("button", name="Save my rating").click()
    pat.get_by_role("button", name="Add action").click()
    expect(fay.locator("#evidence_list")).to_contain_text("Staff survey results")
    expect(fay.locator("#ratings_summary")).to_contain_text("Rated: Sam")
    expect(fay.locator("#actions_list")).to_contain_text("Publish the strategy")
    expect(fay).to_have_url(f"{served.base}/s/{served.session_id}/i/1a")  # refreshed in place

    people = {fay: "1d", pat: "1b", sam: "1c"}
    for page, indicator in people.items():
        open_indicator(served, page, indicator)
        page.get_by_label("What the evidence is", exact=True).fill(f"Evidence for {indicator}")
    for page in people:
        page.get_by_role("button", name="Add evidence").click()
    for indicator in ["1a", *people.values()]:
        expect(overview.locator(f"#overview-{indicator}")).to_contain_text("In discussion")
    expect(overview.locator("#overview-1e")).to_contain_text("Not started")
    no_errors(fay, pat, sam, overview)


# 4. Who is here, and where --------------------------------------------------------------

def presence_of(page, name: str):
    """The line for `name` in the page's 'Who is here' list (opened if closed)."""
    if page.locator(".ecsa-presence-details").get_attribute("open") is None:
        page.get_by_text("Who is here", exact=True).click()
    return page.locator(".ecsa-presence__person").filter(
        has=page.locator(".ecsa-presence__name", has_text=name))


def test_each_page_shows_who_is_here_and_where(served, new_person):
    fay, (pat, sam) = start_workshop(served, new_person, "Pat", "Sam")
    open_indicator(served, fay, "1a")
    open_indicator(served, pat, "1b")
    open_indicator(served, sam, "1a")
    where = {"Fay": "1a", "Pat": "1b", "Sam": "1a"}
    for viewer in (fay, pat, sam):
        expect(viewer.locator("#presence")).to_contain_text("Here now (3)")
        for name, indicator in where.items():
            expect(presence_of(viewer, name)).to_contain_text(f"on {indicator}")
    expect(presence_of(pat, "Fay")).to_contain_text("facilitator")

    pat.locator("a[rel=next]").click()
    expect(presence_of(fay, "Pat")).to_contain_text("on 1c")
    expect(presence_of(sam, "Pat")).to_contain_text("on 1c")
    sam.get_by_label(NOTES, exact=True).press_sequentially("Hello", delay=5)
    expect(presence_of(fay, "Sam")).to_contain_text("typing in 1a")

    sam.close()
    expect(fay.locator("#presence")).to_contain_text("Here now (2)")
    expect(presence_of(pat, "Sam")).to_have_count(0)
    no_errors(fay, pat)


# 5. Follow-me ---------------------------------------------------------------------------

def test_follow_me_stay_here_and_follow_again(served, new_person):
    fay, (pat,) = start_workshop(served, new_person, "Pat")
    open_indicator(served, fay, "1a")
    open_indicator(served, pat, "1a")
    fay.get_by_role("button", name="Follow me: off").click()
    expect(fay.get_by_role("button", name="Follow me: on")).to_be_visible()
    expect(pat.locator("#follow-status")).to_have_text("Following the facilitator.")

    watch_for(pat, "Indicator 1b")
    started = now_ms()
    fay.locator("a[rel=next]").click()
    print(f"\nfollow-me: participant on 1b {seen_after(pat, 'Indicator 1b', started):.3f} s after the click")
    expect(pat.get_by_role("heading", name="Indicator 1b")).to_be_visible()
    expect(pat).to_have_url(f"{served.base}/s/{served.session_id}/i/1b")

    pat.get_by_role("button", name="Stay here").click()
    fay.locator("a[rel=next]").click()
    expect(pat.locator("#follow-status")).to_have_text("The facilitator is on 1c.")
    pat.wait_for_timeout(500)  # long enough for a follow to have moved the page
    expect(pat.get_by_role("heading", name="Indicator 1b")).to_be_visible()

    pat.get_by_role("button", name="Follow the facilitator").click()
    expect(pat.get_by_role("heading", name="Indicator 1c")).to_be_visible()
    expect(pat.locator("#follow-status")).to_have_text("Following the facilitator.")
    fay.locator("a[rel=next]").click()
    expect(pat.get_by_role("heading", name="Indicator 1d")).to_be_visible()

    fay.get_by_role("button", name="Follow me: on").click()
    expect(pat.locator("#follow")).to_be_hidden()
    no_errors(fay, pat)


# 6. A dropped connection catches up -----------------------------------------------------

def test_a_page_cut_off_catches_up_and_sends_what_it_typed(served, new_person):
    """Pat's network goes and comes back, as when a laptop's Wi-Fi drops.

    `context.set_offline` is the cut: the browser goes offline (navigator.onLine false and
    an "offline" event), engine.io answers by closing its transport, the socket says
    "disconnect" and socket.io's own reconnection loop starts, whose attempts fail while
    offline; HTTP fails too, so nothing reaches the page by another road. Closing the
    engine from the page instead would reconnect by itself about a second later over a
    working network, so "meanwhile" could not be held open long enough to test.
    """
    fay, (pat,) = start_workshop(served, new_person, "Pat")
    open_indicator(served, fay, "1a")
    open_indicator(served, pat, "1a")
    fay.get_by_label(NOTES, exact=True).press_sequentially("Before the cut. ", delay=5)
    expect(pat.get_by_label(NOTES, exact=True)).to_have_value("Before the cut. ")

    pat.context.set_offline(True)
    expect(pat.locator("#connection")).not_to_have_attribute("data-state", "connected")
    area = pat.get_by_label(NOTES, exact=True)
    area.press("Control+End")
    pat.keyboard.type("Pat typed offline.", delay=5)
    expect(pat.locator("#connection")).to_have_text("Offline – changes waiting to send")

    fay.get_by_label("What the evidence is", exact=True).fill("Audit of complaints")
    fay.get_by_role("button", name="Add evidence").click()
    expect(fay.locator("#evidence_list")).to_contain_text("Audit of complaints")
    fay.get_by_label(NOTES, exact=True).press("Control+Home")
    fay.keyboard.type("Fay meanwhile. ", delay=5)
    pat.wait_for_timeout(1_000)  # long enough for socket.io's first reconnect attempt to fail
    expect(pat.locator("#evidence_list")).not_to_contain_text("Audit of complaints")
    expect(pat.get_by_label(NOTES, exact=True)).to_have_value("Before the cut. Pat typed offline.")
    expect(fay.locator("#connection")).to_have_text("Live: connected")

    started = time.monotonic()
    pat.context.set_offline(False)
    expect(pat.locator("#connection")).to_have_text("Live: connected", timeout=10_000)
    reconnected = time.monotonic() - started
    print(f"\nreconnected {reconnected:.3f} s after the network came back")
    assert reconnected < FAST  # at once, not at socket.io's next backoff step
    expect(pat.locator("#evidence_list")).to_contain_text("Audit of complaints")
    text = settled_notes(served, [fay, pat], "1a")
    assert text == "Fay meanwhile. Before the cut. Pat typed offline.", text
    # While cut off, socket.io's reconnect attempts fail and Chromium logs each failed
    # request as a console error: that is the cut we made, not a fault of the page.
    pat.errors = [e for e in pat.errors if "net::ERR_INTERNET_DISCONNECTED" not in e]
    no_errors(fay, pat)
