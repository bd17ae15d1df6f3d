"""A form sent while its session moves to another server (503 + Retry-After, README "More than
one process") is sent again quietly in Chromium (static/js/moving.js), and nothing typed is
lost. Playwright answers the request 503 as a process that no longer serves the session would."""

from __future__ import annotations

from playwright.sync_api import expect
from steps import create_session

MOVING = "Moving to another server – trying again…"


def indicator_page(serving, new_person):
    """Fay on indicator 1a of a new session, live: (page, the app, session id)."""
    base, app = serving
    fay = new_person()
    create_session(fay, base, "Moving workshop")
    session_id = fay.url.split("/s/")[1].split("/")[0]
    fay.goto(f"{base}/s/{session_id}/i/1a")
    expect(fay.locator("#connection")).to_have_attribute("data-state", "connected")
    return fay, app, session_id


def answer_503(page, times: int, retry_after: str):
    """Answer the next `times` evidence posts 503 with Retry-After; returns the bodies sent."""
    sent = []

    def handle(route):
        sent.append(route.request.post_data or "")
        if len(sent) <= times:
            route.fulfill(status=503, headers={"Retry-After": retry_after}, body="moving")
        else:
            route.continue_()
    page.route("**/evidence", handle)
    return sent


def evidence(app, session_id: str) -> list[str]:
    """The evidence saved on indicator 1a."""
    return [item["text"] for item in app.extensions["ecsa"].get(session_id).worksheet("1a")["evidence"]]


def test_a_form_answered_503_is_sent_again_after_retry_after_and_lands(serving, new_person):
    fay, app, session_id = indicator_page(serving, new_person)
    sent = answer_503(fay, times=1, retry_after="1")
    fay.get_by_label("What the evidence is", exact=True).fill("Board minutes, March")
    fay.get_by_role("button", name="Add evidence").click()
    expect(fay.locator("#connection")).to_have_text(MOVING)
    expect(fay.locator("#connection")).to_have_attribute("data-state", "moving")
    expect(fay.locator("#announcer")).to_have_text(MOVING)
    expect(fay.locator("#evidence").get_by_text("Board minutes, March", exact=True)).to_be_visible()
    assert evidence(app, session_id) == ["Board minutes, March"]
    assert len(sent) == 2 and sent[0] == sent[1] and "Board%20minutes%2C%20March" in sent[0]
    expect(fay.locator("#connection")).to_have_text("Live: connected")
    assert [e for e in fay.errors if "503" not in e] == []  # Chromium and htmx log the 503 itself


def test_a_session_still_moving_after_ten_tries_says_so_and_keeps_what_was_typed(serving, new_person):
    fay, app, session_id = indicator_page(serving, new_person)
    sent = answer_503(fay, times=100, retry_after="0")
    fay.get_by_label("What the evidence is", exact=True).fill("Carers survey")
    fay.get_by_role("button", name="Add evidence").click()
    refused = fay.locator("#evidence + form .nhsuk-error-message, form.ecsa-add-form .nhsuk-error-message").first
    expect(refused).to_contain_text("the session is still moving to another server")
    assert len(sent) == 11  # the first and ten more, then no more
    expect(fay.get_by_label("What the evidence is", exact=True)).to_have_value("Carers survey")
    expect(fay.locator("#connection")).to_have_text("Live: connected")
    assert evidence(app, session_id) == []
    fay.unroute("**/evidence")
    fay.get_by_role("button", name="Add evidence").click()  # tried again by hand, once it has moved
    expect(fay.locator("#evidence").get_by_text("Carers survey", exact=True)).to_be_visible()
    assert evidence(app, session_id) == ["Carers survey"]


def test_a_boosted_form_on_a_page_without_the_live_bar_says_so_beside_it_and_lands(serving, new_person):
    base, app = serving
    fay = new_person()
    code = create_session(fay, base, "Moving workshop")
    pat = new_person(width=360)
    pat.goto(f"{base}/join/{code}")
    sent = []

    def handle(route):
        sent.append(route.request.method)
        if route.request.method == "POST" and len(sent) == 1:
            route.fulfill(status=503, headers={"Retry-After": "1"}, body="moving")
        else:
            route.continue_()
    pat.route(f"**/join/{code}", handle)
    pat.get_by_label("Your name", exact=True).fill("Pat")
    pat.get_by_label("Staff", exact=True).check()
    pat.get_by_role("button", name="Join session").click()
    expect(pat.locator("form .ecsa-moving-note")).to_have_text(MOVING)
    expect(pat.get_by_role("heading", name="Moving workshop")).to_be_visible()
    expect(pat.locator(".ecsa-moving-note")).to_have_count(0)
    assert sent == ["POST", "POST"]
    session_id = fay.url.split("/s/")[1].split("/")[0]
    assert [p["name"] for p in app.extensions["ecsa"].get(session_id).participants()] == ["Fay", "Pat"]
