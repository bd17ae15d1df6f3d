"""In Chromium: a page on another port of the same host cannot act as the person, while
the workshop's own forms (with and without JavaScript) still work."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect
from steps import create_session


@pytest.fixture
def other_site():
    """A second web server on loopback (another origin) serving one page set by the test."""
    served = {"html": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            body = served["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", served
    server.shutdown()


def forged_form(action: str, fields: dict) -> str:
    """A page that posts a form to action as soon as it loads."""
    inputs = "".join(f'<input name="{name}" value="{value}">' for name, value in fields.items())
    return f'<form id="f" method="post" action="{action}">{inputs}</form><script>f.submit()</script>'


def test_a_page_on_another_port_cannot_add_evidence_or_rename_the_session(serving, new_person, other_site):
    base, app = serving
    other, served = other_site
    fay = new_person()
    create_session(fay, base, "Leadership workshop")
    session_id = fay.url.split("/")[4]
    workshop = app.extensions["ecsa"].get(session_id)

    served["html"] = forged_form(f"{base}/s/{session_id}/i/1a/evidence", {"text": "Forged", "source": ""})
    with fay.expect_response(lambda r: r.request.method == "POST" and "/socket.io/" not in r.url) as answer:
        fay.goto(other + "/evidence")
    assert answer.value.status == 403
    served["html"] = forged_form(f"{base}/s/{session_id}/settings", {
        "title": "Renamed", "organisation": "X", "date": "2026-12-01", "scope": "1"})
    with fay.expect_response(lambda r: r.request.method == "POST" and "/socket.io/" not in r.url) as answer:
        fay.goto(other + "/settings")
    assert answer.value.status == 403
    expect(fay.get_by_text("not part of this workshop")).to_be_visible()

    assert workshop.worksheet("1a")["evidence"] == []
    assert workshop.details["title"] == "Leadership workshop"
    fay.goto(f"{base}/s/{session_id}/settings")  # still the facilitator
    expect(fay.get_by_role("heading", name="Session settings")).to_be_visible()


def test_the_workshops_own_forms_still_work_without_javascript(serving, new_person):
    base, app = serving
    fay = new_person(javascript=False)
    create_session(fay, base, "Leadership workshop")
    session_id = fay.url.split("/")[4]
    fay.goto(f"{base}/s/{session_id}/i/1a")
    fay.get_by_label("What the evidence is", exact=True).fill("Carers survey")
    fay.get_by_role("button", name="Add evidence").click()
    expect(fay.locator("#evidence").get_by_text("Carers survey", exact=True)).to_be_visible()
    assert [e["text"] for e in app.extensions["ecsa"].get(session_id).worksheet("1a")["evidence"]] == ["Carers survey"]
