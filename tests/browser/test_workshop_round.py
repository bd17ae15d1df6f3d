"""A facilitator and a participant run one indicator end to end in real browsers."""

from __future__ import annotations

import json

from playwright.sync_api import expect
from steps import create_session


def join_session(page, base: str, code: str, name: str) -> None:
    """A participant types the code on their phone and joins."""
    page.goto(base + "/join")
    page.get_by_label("Join code", exact=True).fill(code.lower())
    page.get_by_role("button", name="Join").click()
    page.get_by_label("Your name", exact=True).fill(name)
    page.get_by_label("Unpaid carer", exact=True).check()
    page.get_by_role("button", name="Join session").click()
    expect(page.get_by_role("heading", name="Leadership <workshop>")).to_be_visible()


def test_facilitator_and_participant_complete_an_indicator(live_server, new_person):
    facilitator, participant = new_person(), new_person(width=360)
    code = create_session(facilitator, live_server, "Leadership <workshop>")
    join_session(participant, live_server, code, "Pat")

    participant.get_by_role("link", name="1a").first.click()
    participant.get_by_label("Notes from the group's discussion", exact=True).fill("Strategy signed off in March.")
    expect(participant.get_by_role("button", name="Save notes")).to_be_hidden()  # live notes save as typed
    expect(participant.get_by_label("Notes from the group's discussion", exact=True)).to_have_value("Strategy signed off in March.")
    participant.get_by_label("What the evidence is", exact=True).fill("Board minutes, March 2026")
    participant.get_by_role("button", name="Add evidence").click()
    expect(participant.locator("#evidence")).to_contain_text("Added by Pat")
    participant.get_by_label("3 – Developing", exact=True).check()
    participant.get_by_role("button", name="Save my rating").click()
    expect(participant.locator("#ratings")).to_contain_text("Rated: Pat")

    facilitator.goto(participant.url.replace("#notes", ""))
    expect(facilitator.get_by_label("Notes from the group's discussion", exact=True)).to_have_value("Strategy signed off in March.")
    facilitator.get_by_label("Agreed rating (facilitator)", exact=True).select_option("3")
    facilitator.get_by_label("The group's reason for this rating").fill("Strategy signed off; carers not yet asked.")
    facilitator.get_by_role("button", name="Set agreed rating").click()
    expect(facilitator.locator("#ratings")).to_contain_text("3 – Developing")
    facilitator.get_by_role("button", name="Lock as agreed").click()
    expect(facilitator.locator("#status")).to_contain_text("Locked by Fay")

    participant.reload()
    expect(participant.locator("#status")).to_contain_text("Agreed")
    expect(participant.get_by_role("button", name="Save notes")).to_have_count(0)
    expect(participant.get_by_role("button", name="Add evidence")).to_have_count(0)

    with facilitator.expect_download() as download:
        facilitator.get_by_role("link", name="Download record").click()
    assert download.value.suggested_filename == "ecsa-record-leadership-workshop-2026-12-01.json"
    record = json.loads(open(download.value.path(), encoding="utf-8").read())
    sheet = next(i for i in record["indicators"] if i["id"] == "1a")
    assert sheet["state"] == "agreed" and sheet["agreed_rating"]["value"] == 3
    assert sheet["notes"] == "Strategy signed off in March."
    assert [v["name"] for v in sheet["rounds"][0]["votes"]] == ["Pat"]
    assert facilitator.errors == [] and participant.errors == []


def test_worksheet_works_with_javascript_off(live_server, new_person):
    facilitator = new_person(javascript=False)
    create_session(facilitator, live_server, "Leadership <workshop>")
    facilitator.get_by_role("link", name="Go to the worksheet").click()
    facilitator.get_by_role("link", name="1b").first.click()
    facilitator.get_by_label("What needs to happen", exact=True).fill("Write the delivery plan")
    facilitator.get_by_role("button", name="Add action").click()
    expect(facilitator.locator("#actions")).to_contain_text("Write the delivery plan")
    facilitator.get_by_label("What needs to happen", exact=True).fill("")
    facilitator.get_by_label("Owner (optional)", exact=True).fill("Sam")
    facilitator.get_by_role("button", name="Add action").click()
    expect(facilitator.locator("#actions")).to_contain_text("Enter what the action is")
    expect(facilitator.get_by_label("Owner (optional)", exact=True)).to_have_value("Sam")
