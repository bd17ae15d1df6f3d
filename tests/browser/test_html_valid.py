"""Every page is valid HTML, as the Nu HTML checker (vnu.jar, the W3C's validator) reads it.

The server's pages are fetched with Flask's test client in each state (empty, with content,
locked, with errors); the live DOM is taken from Chromium after the changes htmx and the
live layer make (a block swapped with an error, a new item, a live push, a lock). One run of
the checker reads them all. It needs Java (Debian's default-jre-headless) and
tests/vendor/vnu-jar/vnu.jar (`python scripts/vendor.py --tests --only vnu-jar`); both are
installed by .ci/run, so in CI (CI=true) their absence fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect
from steps import create_session

VNU = Path(__file__).resolve().parents[1] / "vendor" / "vnu-jar" / "vnu.jar"


def checker() -> list[str]:
    """The command that runs the Nu HTML checker, or skip (fail in CI) saying what is missing."""
    java = shutil.which("java")
    missing = [why for why, absent in (("java (apt-get install default-jre-headless)", java is None),
                                       (f"{VNU} (python scripts/vendor.py --tests --only vnu-jar)",
                                        not VNU.is_file())) if absent]
    if missing:
        if os.environ.get("CI"):
            pytest.fail("the Nu HTML checker cannot run in CI: missing " + " and ".join(missing))
        pytest.skip("the Nu HTML checker cannot run: missing " + " and ".join(missing))
    return [java, "-Xss8m", "-jar", str(VNU), "--format", "json", "--exit-zero-always"]


def html_errors(pages: dict[str, str], folder: Path) -> dict[str, list[str]]:
    """The checker's errors for each page (name -> HTML), by page name."""
    files = {}
    for number, (name, html) in enumerate(pages.items()):
        path = folder / f"page-{number:02d}.html"
        path.write_text(html, encoding="utf-8")
        files[path.name] = name
    run = subprocess.run(checker() + [str(folder / file) for file in files],
                         capture_output=True, text=True, timeout=300)
    report = json.loads(run.stderr or run.stdout)
    errors: dict[str, list[str]] = {}
    for message in report["messages"]:
        if message["type"] == "error" or message.get("subType") == "fatal":
            url = message.get("url", "?")
            name = files.get(url.rsplit("/", 1)[-1], url)
            where = f"line {message.get('lastLine', '?')}: " if message.get("lastLine") else ""
            errors.setdefault(name, []).append(f"{where}{message['message']} [{message.get('extract', '').strip()}]")
    return errors


def assert_valid(pages: dict[str, str], folder: Path) -> None:
    errors = html_errors(pages, folder)
    assert not any(errors.values()), described(errors, len(pages))


def described(errors: dict[str, list[str]], total: int) -> str:
    errors = {name: found for name, found in errors.items() if found}
    count = sum(len(found) for found in errors.values())
    return f"{count} HTML error(s) in {len(errors)} of {total} pages:\n" + "\n".join(
        f"- {name}:\n    " + "\n    ".join(found) for name, found in errors.items())


def page_text(answer) -> str:
    assert answer.status_code < 500, answer.status_code
    return answer.get_data(as_text=True)


def add_content(person) -> None:
    """1b with evidence, an action, a rating and an agreed one; 1c agreed and locked."""
    person.post("/i/1b/evidence", {"text": "Board minutes <March>", "source": "https://example.org/m"})
    person.post("/i/1b/action", {"what": "Publish", "owner": "Jo", "due": "2027-01-31", "status": "open"})
    person.post("/i/1b/vote", {"value": "3"})
    person.post("/i/1b/agreed", {"agreed": "3", "rationale": "A plan is in place."})
    person.post("/i/1c/agreed", {"agreed": "2", "rationale": "Early days."})
    person.post("/i/1c/lock")


def test_every_server_page_is_valid_html(app, client, facilitator, participant, tmp_path):
    checker()  # skip (or fail in CI) before building anything
    add_content(facilitator)
    anyone = app.test_client()
    pages = {
        "home": page_text(anyone.get("/")),
        "home with errors": page_text(anyone.post("/sessions", data={"title": ""})),
        "join by code": page_text(anyone.get("/join")),
        "join by code with an error": page_text(anyone.post("/join", data={"code": ""})),
        "join": page_text(anyone.get(f"/join/{facilitator.code}")),
        "join with errors": page_text(anyone.post(f"/join/{facilitator.code}", data={"name": ""})),
        "import": page_text(anyone.get("/import")),
        "import with an error": page_text(anyone.post("/import", data={"name": "Fay"})),
        "not found": page_text(anyone.get("/s/nothing-here/")),
        "settings with errors": page_text(facilitator.post("/settings", {"title": "", "date": "2026-03-31"})),
        "unlock with no reason": page_text(facilitator.post("/i/1c/unlock", {"reason": ""})),
        "evidence with no text": page_text(participant.post("/i/1a/evidence", {"text": ""})),
    }
    for role, person in (("facilitator", facilitator), ("participant", participant)):
        for name, path in (("share", "/share"), ("overview", "/"), ("indicator empty", "/i/1a"),
                           ("indicator with content", "/i/1b"), ("indicator locked", "/i/1c"),
                           ("editing evidence", "/i/1b/evidence/{evidence}/edit"), ("report", "/report")):
            if "{evidence}" in path:
                ws = app.extensions["ecsa"].get(person.session_id).worksheet("1b")
                path = path.format(evidence=ws["evidence"][0]["id"])
            pages[f"{name} ({role})"] = page_text(person.get(path))
    pages["settings (facilitator)"] = page_text(facilitator.get("/settings"))
    pages["room screen (facilitator)"] = page_text(facilitator.get("/screen"))
    assert_valid(pages, tmp_path)


def test_the_live_dom_stays_valid_html_after_every_kind_of_change(live_server, new_person, tmp_path):
    checker()
    fay = new_person()
    code = create_session(fay, live_server, "Valid workshop")
    session = fay.url.split("/s/")[1].split("/")[0]
    indicator = f"{live_server}/s/{session}/i/1a"
    pat = new_person(width=360)
    pat.goto(f"{live_server}/join/{code}")
    pat.get_by_label("Your name", exact=True).fill("Pat")
    pat.get_by_label("Staff", exact=True).check()
    pat.get_by_role("button", name="Join session").click()
    expect(pat.get_by_role("heading", name="Valid workshop", level=1, exact=True)).to_be_visible()
    states = {"overview after a boosted page change (participant)": pat.content()}
    for page in (fay, pat):
        page.goto(indicator)
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")

    pat.get_by_role("button", name="Add evidence").click()
    expect(pat.locator("#evidence .nhsuk-error-message")).to_be_visible()
    states["evidence refused in its block"] = pat.content()
    pat.get_by_label("What the evidence is").first.fill("Patient survey")
    pat.get_by_role("button", name="Add evidence").click()
    expect(pat.locator("#evidence li.ecsa-item")).to_have_count(1)
    states["evidence added in its block"] = pat.content()
    expect(fay.locator("#evidence li.ecsa-item")).to_have_count(1)
    states["evidence pushed live to another page"] = fay.content()
    fay.locator("#evidence").get_by_role("link", name="Edit", exact=False).click()
    expect(fay.locator("#evidence li.ecsa-item form textarea")).to_be_visible()
    states["editing an item"] = fay.content()
    fay.get_by_label("Agreed rating (facilitator)").select_option("2")
    fay.get_by_label("The group's reason for this rating").fill("A start.")
    fay.get_by_role("button", name="Set agreed rating").click()
    fay.get_by_role("button", name="Lock as agreed").click()
    expect(pat.locator("#status")).to_contain_text("Locked by")
    states["locked (facilitator)"] = fay.content()
    states["lock pushed live (participant)"] = pat.content()
    fay.get_by_role("button", name="Unlock").click()
    expect(fay.locator("#unlock-reason")).to_be_focused()
    states["unlock refused in its block"] = fay.content()
    assert_valid(states, tmp_path)
