"""Every page and state has no WCAG 2.2 A/AA violation that axe-core can find, in Chromium.

axe-core (tests/vendor/axe-core, pinned by scripts/vendor.py --tests; never served) is run
in the page with Playwright's evaluate, which the app's Content-Security-Policy does not
block (a <script> tag added to the page would be refused, as it should be). Each state is
reached as a person reaches it: by clicking, or for the live update by another person's
change arriving. Pages of a session are checked as the facilitator (1024 px wide) and as a
participant (a 360 px phone).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect
from steps import create_session
from werkzeug.serving import make_server

from ecsa import create_app
from ecsa.serving import RequestHandler

AXE = (Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
RUN_AXE = """async tags => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary.replace(/\\s+/g, ' '))
  }));
}"""


def axe_violations(page) -> list[dict]:
    """What axe-core finds wrong on the page as it is now (WCAG 2.0-2.2 A and AA rules)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE + "\n;true")
    return page.evaluate(RUN_AXE, TAGS)


def described(violations: list[dict]) -> str:
    return "\n".join(f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"])
                     for v in violations)


def assert_accessible(page, state: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe-core: {len(violations)} violation(s) on {state} ({page.url}):\n{described(violations)}"


# --- one workshop for the whole module: its pages in every state --------------------------

@dataclass
class Workshop:
    """A served session with content: 1a untouched, 1b with content, 1c locked."""

    base: str
    session_id: str
    code: str
    pages: dict  # role -> page ("facilitator", "participant")
    new_page: object  # (width) -> a fresh page with no cookies

    def url(self, path: str = "") -> str:
        return f"{self.base}/s/{self.session_id}{path}"

    def post(self, role: str, path: str, form: dict) -> None:
        """A change made by this person (their cookies), as a form post would make it."""
        answer = self.pages[role].request.post(self.url(path), form=form, max_redirects=0)
        assert answer.status in (200, 303), (path, answer.status, answer.text()[:500])


def serve(tmp_path_factory):
    """The app on a free loopback port for the whole module (the session fixture is per test)."""
    app = create_app({"DATA_DIR": str(tmp_path_factory.mktemp("axe") / "data")})
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def add_content(w: Workshop) -> None:
    """1b: evidence, an action, both ratings and an agreed one; 1c: agreed and locked."""
    w.post("facilitator", "/i/1b/evidence", {"text": "Board minutes, March 2026", "source": "https://example.org/minutes"})
    w.post("participant", "/i/1b/evidence", {"text": "Patient survey", "source": "survey.docx"})
    w.post("participant", "/i/1b/action", {"what": "Publish the strategy", "owner": "Jo", "due": "2027-01-31",
                                           "status": "in_progress"})
    w.post("facilitator", "/i/1b/vote", {"value": "3"})
    w.post("participant", "/i/1b/vote", {"value": "4"})
    w.post("facilitator", "/i/1b/reveal", {})
    w.post("facilitator", "/i/1b/agreed", {"agreed": "3", "rationale": "Most of the group saw a plan in place."})
    w.post("facilitator", "/i/1c/agreed", {"agreed": "2", "rationale": "Early days."})
    w.post("facilitator", "/i/1c/lock", {})


@pytest.fixture(scope="module")
def workshop(browser, tmp_path_factory):
    server, thread = serve(tmp_path_factory)
    base = f"http://127.0.0.1:{server.server_port}"
    contexts = []

    def new_page(width: int = 1024):
        context = browser.new_context(viewport={"width": width, "height": 800})
        context.set_default_timeout(20_000)  # one server for ~40 pages; a loaded machine is slow
        contexts.append(context)
        return context.new_page()

    fay = new_page(1024)
    code = create_session(fay, base, "Accessible workshop")
    session_id = fay.url.split("/s/")[1].split("/")[0]
    pat = new_page(360)
    pat.goto(f"{base}/join/{code}")
    pat.get_by_label("Your name", exact=True).fill("Pat")
    pat.get_by_label("Unpaid carer", exact=True).check()
    pat.get_by_role("button", name="Join session").click()
    expect(pat.get_by_role("heading", name="Accessible workshop", exact=True)).to_be_visible()
    w = Workshop(base, session_id, code, {"facilitator": fay, "participant": pat}, new_page)
    add_content(w)
    yield w
    for context in contexts:
        context.close()
    server.shutdown()
    thread.join(5)


def open_live(w: Workshop, page, path: str) -> None:
    """Open a session page and wait until it is live (its socket connected)."""
    page.goto(w.url(path))
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")


# --- pages before joining: anyone ------------------------------------------------------------

def home(w, page):
    page.goto(w.base + "/")


def home_with_errors(w, page):
    page.goto(w.base + "/")
    page.get_by_role("button", name="Create session").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_focused()


def join_code(w, page):
    page.goto(w.base + "/join")


def join_code_with_error(w, page):
    page.goto(w.base + "/join")
    page.get_by_role("button", name="Join", exact=True).click()
    expect(page.locator(".nhsuk-error-summary")).to_be_focused()


def join(w, page):
    page.goto(f"{w.base}/join/{w.code}")


def join_with_error(w, page):
    page.goto(f"{w.base}/join/{w.code}")
    page.get_by_role("button", name="Join session").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_focused()


def import_with_error(w, page):
    page.goto(w.base + "/")
    page.get_by_role("link", name="Continue from an earlier record").click()
    page.get_by_role("button", name="Continue from this record").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()


def new_session_overview(w, page):
    """A facilitator's first look at a session nobody has worked on yet."""
    create_session(page, w.base, "Empty workshop")
    page.get_by_role("link", name="Go to the worksheet").click()
    expect(page.get_by_role("heading", name="Empty workshop", level=1, exact=True)).to_be_focused()


BEFORE_JOINING = [home, home_with_errors, join_code, join_code_with_error, join, join_with_error,
                  import_with_error, new_session_overview]


@pytest.mark.parametrize("state", BEFORE_JOINING, ids=lambda f: f.__name__)
@pytest.mark.parametrize("width", [1024, 360])
def test_pages_before_joining_have_no_axe_violations(workshop, state, width):
    page = workshop.new_page(width)
    state(workshop, page)
    assert_accessible(page, state.__name__)


# --- a session's pages: as the facilitator and as a participant ----------------------------

def opening(name: str, path: str):
    """A state that is just a page of the session, opened and live (named for the test id)."""
    def state(w, page, role):
        open_live(w, page, path)
    state.__name__ = name
    return state


share, settings, overview, report = (opening(name, path) for name, path in (
    ("share", "/share"), ("settings", "/settings"), ("overview", "/"), ("report", "/report")))
indicator_empty, indicator_with_content, indicator_locked = (opening(name, path) for name, path in (
    ("indicator_empty", "/i/1a"), ("indicator_with_content", "/i/1b"), ("indicator_locked", "/i/1c")))


def indicator_with_a_fragment_error(w, page, role):
    open_live(w, page, "/i/1a")
    page.get_by_role("button", name="Add evidence").click()
    expect(page.locator("#evidence .nhsuk-error-message")).to_be_visible()


def indicator_editing_an_item(w, page, role):
    open_live(w, page, "/i/1b")
    page.locator("#evidence").get_by_role("link", name="Edit").first.click()
    expect(page.locator("#evidence form textarea").first).to_be_focused()


def after_a_live_update(w, page, role):
    """Someone else adds evidence to the indicator on screen; it arrives by the live push."""
    open_live(w, page, "/i/1d")
    other = "participant" if role == "facilitator" else "facilitator"
    text = f"Pushed to the {role}"
    w.post(other, "/i/1d/evidence", {"text": text, "source": ""})
    expect(page.locator("#evidence").get_by_text(text, exact=True)).to_be_visible()


IN_SESSION = [share, overview, indicator_empty, indicator_with_content, indicator_locked,
              indicator_with_a_fragment_error, indicator_editing_an_item, after_a_live_update, report]


@pytest.mark.parametrize("state", IN_SESSION, ids=lambda f: f.__name__)
@pytest.mark.parametrize("role", ["facilitator", "participant"])
def test_session_pages_have_no_axe_violations(workshop, role, state):
    page = workshop.pages[role]
    state(workshop, page, role)
    assert_accessible(page, f"{state.__name__} as the {role}")


def unlock_with_no_reason(w, page, role):
    open_live(w, page, "/i/1c")
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator("#unlock-reason")).to_be_focused()


def room_screen(w, page, role):
    """The presenter view the facilitator opens for the projector."""
    page.goto(w.url("/screen"))
    expect(page.locator("h1")).to_be_visible()


@pytest.mark.parametrize("state", [settings, unlock_with_no_reason, room_screen], ids=lambda f: f.__name__)
def test_facilitator_only_pages_have_no_axe_violations(workshop, state):
    page = workshop.pages["facilitator"]
    state(workshop, page, "facilitator")
    assert_accessible(page, state.__name__)
