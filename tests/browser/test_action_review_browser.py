"""Actions from last time in real browsers: one person reviews with the keyboard, another
sees it on their review page at once, and what they were typing there is kept."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

FAST = 2.0  # seconds: the most a live update may take to show on another page
EARLIER = {"title": "Spring workshop", "organisation": "Example NHS Trust", "date": "2026-03-01", "scope": ["1"],
           "name": "Fay", "perspective": "staff"}


@pytest.fixture
def earlier_record(serving) -> bytes:
    """The record of an earlier workshop with two actions on 1a, made over HTTP."""
    _, app = serving
    client = app.test_client()
    created = client.post("/sessions", data=EARLIER)
    session = created.headers["Location"].split("/")[2]
    for what, status in (("Ask carers about visiting", "open"), ("Train reception staff", "in_progress")):
        client.post(f"/s/{session}/i/1a/action", data={"what": what, "owner": "Sam", "due": "", "status": status})
    return client.get(f"/s/{session}/record").data


def continue_from(page, base: str, raw: bytes) -> str:
    """Fay starts a session from the earlier record; returns its join code."""
    page.goto(base + "/import")
    page.set_input_files("#record", files=[{"name": "record.json", "mimeType": "application/json", "buffer": raw}])
    page.get_by_label("Your name", exact=True).fill("Fay")
    page.get_by_label("Staff", exact=True).check()
    page.get_by_role("button", name="Continue from this record").click()
    return page.locator(".ecsa-join-code__code").inner_text().replace(" ", "")


def join(page, base: str, code: str, name: str) -> None:
    """A participant joins with the code."""
    page.goto(f"{base}/join/{code}")
    page.get_by_label("Your name", exact=True).fill(name)
    page.get_by_label("Unpaid carer", exact=True).check()
    page.get_by_role("button", name="Join session").click()
    expect(page.get_by_role("heading", name="Spring workshop")).to_be_visible()


def test_a_review_made_with_the_keyboard_shows_on_another_page_at_once(serving, new_person, earlier_record):
    base, app = serving
    fay, pat = new_person(), new_person(width=360)
    code = continue_from(fay, base, earlier_record)
    session_id = fay.url.split("/s/")[1].split("/")[0]
    first, second = app.extensions["ecsa"].get(session_id).worksheet("1a")["actions"]
    join(pat, base, code, "Pat")

    # The overview opens with last time's actions; its link is reached with the keyboard.
    fay.goto(f"{base}/s/{session_id}/")
    expect(fay.locator("#review-banner")).to_contain_text("Start with last time's actions: 0 of 2 reviewed")
    fay.get_by_role("link", name="Review the actions from last time").focus()
    fay.keyboard.press("Enter")
    expect(fay.get_by_role("heading", name="Actions from last time")).to_be_visible()
    pat.goto(f"{base}/s/{session_id}/review")
    for page in (fay, pat):
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        expect(page.locator("#progress")).to_contain_text("0 of 2 reviewed")

    # Pat is part-way through a note on the same action when Fay's review arrives.
    pat.locator(f"#review-{first['id']}-note").fill("Pat's half-typed note")

    # Fay: Space ticks "Done", an arrow moves to "In progress", Tab to the note, Tab to the button.
    fay.locator(f"#review-{first['id']}-status-1").focus()
    fay.keyboard.press("Space")
    fay.keyboard.press("ArrowRight")
    fay.keyboard.press("Tab")
    fay.keyboard.type("Survey half done")
    fay.keyboard.press("Tab")
    expect(fay.locator(f"#review-{first['id']}-save")).to_be_focused()
    fay.keyboard.press("Enter")

    reviewed = "Reviewed: In progress – Survey half done (Fay,"
    expect(fay.locator(f"#review-{first['id']}-now")).to_contain_text(reviewed)
    expect(fay.locator("#progress")).to_contain_text("1 of 2 reviewed")
    expect(fay.locator(f"#review-{first['id']}-save")).to_be_focused()  # the swap keeps the keyboard's place
    expect(pat.locator(f"#review-{first['id']}-now")).to_contain_text(reviewed, timeout=FAST * 1000)
    expect(pat.locator("#progress")).to_contain_text("1 of 2 reviewed")
    expect(pat.locator(f"#review-{first['id']}-note")).to_have_value("Pat's half-typed note")  # not wiped
    expect(pat.locator("#review-news")).to_have_text("Reviews updated: 1 of 2 reviewed.")  # said politely
    expect(pat.locator("#review-news")).to_have_attribute("role", "status")

    # Pat's own review of the other action shows on Fay's page too.
    pat.locator(f"#review-{second['id']}").get_by_label("Dropped").check()
    pat.get_by_role("button", name="Save review for Train reception staff").click()
    expect(fay.locator(f"#review-{second['id']}-now")).to_contain_text("Reviewed: Dropped (Pat,",
                                                                      timeout=FAST * 1000)
    expect(fay.locator("#progress")).to_contain_text("2 of 2 reviewed")
    assert fay.errors == [] and pat.errors == []
