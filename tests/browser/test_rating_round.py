"""A rating round in real browsers: a facilitator and three participants, each on their own page.

Everyone rates privately (only who has rated, and how many, shows), the facilitator reveals
and every screen shows the same distribution at once, a new round keeps the first, and the
agreed rating needs the group's reason, which goes into the lock and the record. An
anonymous session never shows a name beside a value; a session that reveals automatically
does so when the last person present rates.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

INDICATOR = "1a"
LEVELS = {1: "1 – Not started", 2: "2 – Emerging", 3: "3 – Developing", 4: "4 – Established",
          5: "5 – Embedded/Leading"}
# Who takes part: name, perspective (as the join form labels it) and their rating (a spread of 4).
RATERS = [("Pat", "Person using services", 1), ("Sam", "Unpaid carer", 3), ("Kim", "Staff", 5)]
REVEAL_LIMIT_MS = 2000  # the test's bound; the target on a quiet machine is 200 ms
REASON = "Strategy signed off in March; carers have not yet been asked what would move it up."


def create(page, base: str, title: str, *options: str) -> tuple[str, str]:
    """Fay (staff) creates a session for section 1, ticking the rating options named
    ("Anonymous ratings", "Reveal automatically"); returns (session id, join code)."""
    page.goto(base + "/")
    page.get_by_label("Session title", exact=True).fill(title)
    page.get_by_label("Organisation", exact=True).fill("Example NHS Trust")
    page.get_by_label("Workshop date", exact=True).fill("2026-12-01")
    page.get_by_label("Section 1: Leadership").check()
    for option in options:
        page.get_by_label(option, exact=True).check()
    page.get_by_label("Your name", exact=True).fill("Fay")
    page.get_by_label("Staff", exact=True).check()
    page.get_by_role("button", name="Create session").click()
    expect(page.get_by_role("heading", name="Your private facilitator link")).to_be_visible()
    return page.url.split("/s/")[1].split("/")[0], page.locator(".ecsa-join-code__code").inner_text().replace(" ", "")


def join(new_person, base: str, code: str, name: str, perspective: str):
    """A participant joins on a phone-sized page with their perspective."""
    page = new_person(width=360)
    page.goto(f"{base}/join/{code}")
    page.get_by_label("Your name", exact=True).fill(name)
    page.get_by_label(perspective, exact=True).check()
    page.get_by_role("button", name="Join session").click()
    expect(page.get_by_role("heading", name="Rating workshop")).to_be_visible()
    return page


def start(serving, new_person, *options: str):
    """Fay creates the session and Pat, Sam and Kim join; everyone opens indicator 1a, live.
    Returns (base, session id, {name: page}) with Fay first."""
    base, _ = serving
    fay = new_person()
    session_id, code = create(fay, base, "Rating workshop", *options)
    pages = {"Fay": fay} | {name: join(new_person, base, code, name, perspective)
                            for name, perspective, _ in RATERS}
    for page in pages.values():
        page.goto(f"{base}/s/{session_id}/i/{INDICATOR}")
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    return base, session_id, pages


def rate(page, value: int) -> None:
    """Rate privately and save."""
    page.get_by_label(LEVELS[value], exact=True).check()
    page.get_by_role("button", name="Save my rating").click()
    expect(page.locator(".ecsa-my-rating")).to_contain_text(LEVELS[value])


# Where a page lists every level whatever anyone rated: the scale, the rating form's options
# and the agreed rating's choices. A level anywhere else on a page before the reveal would be
# someone's rating.
ALWAYS_LISTED = [
    re.compile(r'<dt class="nhsuk-summary-list__key">[^<]*</dt>'),
    re.compile(r'<label class="nhsuk-label nhsuk-radios__label" for="vote-\d+">[^<]*</label>'),
    re.compile(r"<option value=\"\d*\"[^>]*>[^<]*</option>"),
]


def levels_shown(page, levels: list[str]) -> list[str]:
    """Which of these levels the page's DOM holds outside the lists of every level."""
    html = page.content()
    for listed in ALWAYS_LISTED:
        html = listed.sub("", html)
    return [level for level in levels if level in html]


def watch_for_distribution(page) -> None:
    """Note (page clock, ms) when the distribution table first shows."""
    page.evaluate("""() => {
        window.revealedAt = null;
        const look = () => {
          if (window.revealedAt === null && document.querySelector('table.ecsa-distribution')) {
            window.revealedAt = Date.now();
          }
        };
        new MutationObserver(look).observe(document.body, {subtree: true, childList: true});
        look();
    }""")


def distribution_shown_at(page) -> float:
    """When the distribution table showed on the page (wall clock, ms); waits up to 5 s."""
    page.wait_for_function("() => window.revealedAt !== null", timeout=5_000)
    return page.evaluate("() => window.revealedAt")


def rows(locator) -> list[str]:
    """Table rows' text as read, cells separated by single spaces."""
    return [" ".join(row.split()) for row in locator.all_inner_texts()]


def distribution(page) -> list[str]:
    """The rows of the revealed round's table as the page shows them."""
    return rows(page.locator("table.ecsa-distribution tbody tr"))


def record_of(page, base: str, session_id: str) -> dict:
    """The record as this person's browser downloads it (same cookies)."""
    response = page.context.request.get(f"{base}/s/{session_id}/record")
    assert response.ok
    return response.json()


def no_errors(pages: dict, refused: tuple[int, ...] = ()) -> None:
    """No page logged a script error (nor a failed request, but the refusals the test made)."""
    expected = tuple(f"status of {status} " for status in refused)
    for name, page in pages.items():
        assert [error for error in page.errors if not any(e in error for e in expected)] == [], (name, page.errors)


# ---- 1. rate privately, reveal, a new round, agree with a reason, lock ------------------------

def test_a_round_rated_privately_revealed_together_and_agreed_with_a_reason(serving, new_person):
    base, session_id, pages = start(serving, new_person)
    fay = pages["Fay"]
    rated: list[str] = []
    for name, _, value in RATERS:
        rate(pages[name], value)
        rated.append(name)
        count = f"{len(rated)} of 4 {'has' if len(rated) == 1 else 'have'} rated"
        for owner, page in pages.items():
            expect(page.locator(".ecsa-round-count")).to_contain_text(count)
            expect(page.locator("#ratings_summary")).to_contain_text("Rated: " + ", ".join(rated))
            assert "ecsa-distribution" not in page.content(), owner
            others = [LEVELS[v] for n, _, v in RATERS if n != owner and n in rated]
            assert levels_shown(page, others) == [], owner
            mine = next((v for n, _, v in RATERS if n == owner and n in rated), None)
            my_rating = page.locator(".ecsa-my-rating")
            if mine is None:
                expect(my_rating).to_have_count(0)
            else:
                expect(my_rating).to_have_text(f"Your rating: {LEVELS[mine]} (only you can see it until the "
                                               "round is revealed)")
    expect(fay.locator(".ecsa-round-count")).to_contain_text("Still to rate: Fay")

    for page in pages.values():
        watch_for_distribution(page)
    started = time.time() * 1000
    fay.get_by_role("button", name="Reveal the ratings").click()
    latency = max(distribution_shown_at(page) - started for page in pages.values())
    print(f"\nreveal: distribution on all 4 pages {latency:.0f} ms after the click "
          f"(test bound {REVEAL_LIMIT_MS} ms, target 200 ms)")
    assert latency <= REVEAL_LIMIT_MS

    expected = ["1 – Not started 1 Pat", "2 – Emerging 0", "3 – Developing 1 Sam", "4 – Established 0",
                "5 – Embedded/Leading 1 Kim"]
    for name, page in pages.items():
        assert distribution(page) == expected, name
        everyones = [LEVELS[value] for _, _, value in RATERS]
        assert levels_shown(page, everyones) == everyones, name  # the check above was not blind
        ratings = page.locator("#ratings")
        expect(ratings).to_contain_text("Range: 1 to 5 · Median: 3")
        expect(ratings.locator(".ecsa-spread")).to_contain_text("Ratings differ")
        page.get_by_text("By perspective", exact=True).click()
        expect(ratings.locator(".ecsa-perspectives table")).to_be_visible()
        assert rows(ratings.locator(".ecsa-perspectives table tbody tr")) == [
            "Person using services 1 1", "Unpaid carer 3 3", "Staff 5 5"], name
        expect(ratings.locator(".ecsa-perspectives")).to_contain_text("Perspectives differ by 2 or more levels")

    fay.get_by_role("button", name="Start a new round").click()
    for name, page in pages.items():
        expect(page.locator("#round-heading")).to_have_text("Round 2")
        expect(page.get_by_role("button", name="Save my rating")).to_be_visible()
        expect(page.get_by_role("group", name="Your own rating, round 2")).to_be_visible()
        expect(page.locator("table.ecsa-distribution")).to_have_count(1)  # round 1's, tucked away
        earlier = page.locator("#ratings_summary details").filter(has_text="Earlier rounds (1)")
        expect(earlier).to_contain_text("Round 1")
        earlier.locator("summary").click()
        expect(earlier.locator("table.ecsa-distribution")).to_be_visible()

    fay.get_by_label("Agreed rating (facilitator)", exact=True).select_option("3")
    fay.get_by_role("button", name="Set agreed rating").click()
    expect(fay.locator("#agreed-rationale-error")).to_have_text("Error: Enter the group's reason for this rating")
    described = re.compile(r"\bagreed-rationale-error\b")
    expect(fay.locator("#agreed-rationale")).to_have_attribute("aria-describedby", described)
    expect(fay.get_by_label("Agreed rating (facilitator)", exact=True)).to_have_value("3")
    fay.get_by_label("The group's reason for this rating").fill(REASON)
    fay.get_by_role("button", name="Set agreed rating").click()
    expect(fay.locator("#ratings .ecsa-rationale")).to_have_text(f"Why: {REASON}")
    fay.get_by_role("button", name="Lock as agreed").click()
    for page in pages.values():
        status = page.locator("#status")
        expect(status).to_contain_text("Locked by Fay")
        expect(status.locator(".ecsa-rationale")).to_have_text(f"Agreed because: {REASON}")
    fay.locator("#status summary").filter(has_text="Lock history").click()
    expect(fay.locator("#status details")).to_contain_text("Locked by Fay at")
    expect(fay.locator("#status details")).to_contain_text(f"“{REASON}”")

    with fay.expect_download() as download:
        fay.get_by_role("link", name="Download record").click()
    record = json.loads(open(download.value.path(), encoding="utf-8").read())
    sheet = next(i for i in record["indicators"] if i["id"] == INDICATOR)
    assert sheet["agreed_rating"]["value"] == 3 and sheet["agreed_rating"]["rationale"] == REASON
    assert sheet["lock"]["rationale"] == REASON
    assert [(e["action"], e["reason"]) for e in sheet["lock_history"]] == [("locked", REASON)]
    assert [r["number"] for r in sheet["rounds"]] == [1, 2]
    assert sorted((v["name"], v["value"]) for v in sheet["rounds"][0]["votes"]) == [("Kim", 5), ("Pat", 1),
                                                                                    ("Sam", 3)]
    no_errors(pages, refused=(422,))  # the agreed rating sent without a reason


# ---- 2. anonymous: never a name beside a value ---------------------------------------------

def test_an_anonymous_round_shows_and_records_no_name_beside_a_value(serving, new_person):
    base, session_id, pages = start(serving, new_person, "Anonymous ratings")
    for name, _, value in RATERS:
        rate(pages[name], value)
    expect(pages["Fay"].locator(".ecsa-round-count")).to_contain_text("3 of 4 have rated")
    pages["Fay"].get_by_role("button", name="Reveal the ratings").click()
    for name, page in pages.items():
        table = page.locator("table.ecsa-distribution")
        expect(table).to_be_visible()
        assert distribution(page) == ["1 – Not started 1", "2 – Emerging 0", "3 – Developing 1",
                                      "4 – Established 0", "5 – Embedded/Leading 1"], name
        expect(table.locator("th", has_text="Who")).to_have_count(0)
        ratings_text = page.locator("#ratings_summary").inner_text()
        assert [n for n in ("Fay", "Pat", "Sam", "Kim") if n in ratings_text] == [], (name, ratings_text)
        expect(page.locator(".ecsa-perspectives")).to_have_count(0)

    for name in ("Fay", "Sam"):
        record = record_of(pages[name], base, session_id)
        sheet = next(i for i in record["indicators"] if i["id"] == INDICATOR)
        [round_] = sheet["rounds"]
        assert round_["votes"] == [] and round_["ballots"] == [1, 3, 5], name
        assert sorted(r["name"] for r in round_["raters"]) == ["Kim", "Pat", "Sam"]
        cast = [e for e in record["audit"] if e["type"] == "vote_cast"]
        assert len(cast) == 3 and all("value" not in e["data"] for e in cast), (name, cast)
    no_errors(pages)


# ---- 3. reveal automatically once everyone present has rated ----------------------------------

def test_the_round_reveals_itself_when_the_last_person_present_rates(serving, new_person):
    base, session_id, pages = start(serving, new_person, "Reveal automatically")
    rate(pages["Fay"], 2)
    for name, _, value in RATERS[:-1]:
        rate(pages[name], value)
    expect(pages["Fay"].locator(".ecsa-round-count")).to_contain_text("3 of 4 have rated. Still to rate: Kim")
    participants = {name: page for name, page in pages.items() if name != "Fay"}
    for page in participants.values():
        watch_for_distribution(page)
    started = time.time() * 1000
    rate(pages["Kim"], 5)
    latency = max(distribution_shown_at(page) - started for page in participants.values())
    print(f"\nauto reveal: distribution on the 3 participants' pages {latency:.0f} ms after the last rating")
    assert latency <= REVEAL_LIMIT_MS
    for name, page in participants.items():
        expect(page.locator("#round-heading")).to_have_text("Round 1: revealed")
        assert distribution(page) == ["1 – Not started 1 Pat", "2 – Emerging 1 Fay", "3 – Developing 1 Sam",
                                      "4 – Established 0", "5 – Embedded/Leading 1 Kim"], name
    record = record_of(pages["Fay"], base, session_id)
    [round_] = next(i for i in record["indicators"] if i["id"] == INDICATOR)["rounds"]
    assert round_["revealed"]["auto"] is True
    no_errors(pages)


def test_the_facilitators_page_shows_an_automatic_reveal_too(serving, new_person):
    """The facilitator's untouched "Agreed rating" list once counted as unsaved input (its blank
    choice was selected without being marked so), which held back every pushed ratings block."""
    base, _ = serving
    fay = new_person()
    session_id, code = create(fay, base, "Rating workshop", "Reveal automatically")
    pat = join(new_person, base, code, "Pat", "Person using services")
    for page in (fay, pat):
        page.goto(f"{base}/s/{session_id}/i/{INDICATOR}")
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    rate(fay, 2)
    rate(pat, 4)
    expect(pat.locator("#round-heading")).to_have_text("Round 1: revealed")
    expect(fay.locator("#round-heading")).to_have_text("Round 1: revealed", timeout=3_000)
    assert distribution(fay) == ["1 – Not started 0", "2 – Emerging 1 Fay", "3 – Developing 0",
                                 "4 – Established 1 Pat", "5 – Embedded/Leading 0"]
