"""Shared fixtures: an app on a temporary data folder, and people using it."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from jinja2 import FileSystemBytecodeCache
from werkzeug.serving import make_server

from ecsa import create_app
from ecsa.serving import RequestHandler

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def templates_compiled_once(monkeypatch, tmp_path_factory):
    """Share compiled templates between the many apps these tests create (for speed only)."""
    folder = tmp_path_factory.getbasetemp() / "jinja-bytecode"
    folder.mkdir(exist_ok=True)
    monkeypatch.setattr(Flask, "jinja_options", {"bytecode_cache": FileSystemBytecodeCache(str(folder))})


@pytest.fixture
def app(tmp_path):
    """The app with its data in a fresh temporary folder."""
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def client(app):
    """A browser with no cookies yet."""
    return app.test_client()


@dataclass
class Person:
    """Someone in a session: their own browser (test client) and where the session is."""

    client: object
    session_id: str
    code: str
    token: str | None = None

    def url(self, path: str = "") -> str:
        """A URL inside this person's session."""
        return f"/s/{self.session_id}{path}"

    def post(self, path: str, data: dict | None = None, htmx: bool = False):
        """Submit a form in this session, as a plain browser or through htmx."""
        return self.client.post(self.url(path), data=data or {}, headers=HX if htmx else {})

    def get(self, path: str = "/", htmx: bool = False):
        """Load a page (or fragment) in this session."""
        return self.client.get(self.url(path), headers=HX if htmx else {})


SESSION_FORM = {"title": "Leadership workshop", "organisation": "Example NHS Trust", "date": "2026-12-01",
                "scope": ["1", "2"], "name": "Fay Facilitator", "perspective": "staff"}


@pytest.fixture
def facilitator(app) -> Person:
    """A facilitator who has just created a session covering sections 1 and 2."""
    client = app.test_client()
    created = client.post("/sessions", data=SESSION_FORM)
    assert created.status_code == 303, created.get_data(as_text=True)
    session_id = created.headers["Location"].split("/")[2]
    share = client.get(created.headers["Location"]).get_data(as_text=True)
    token = re.search(r"/facilitator/([A-Za-z0-9_-]+)", share)[1]
    code = app.extensions["ecsa"].get(session_id).details["join_code"]
    return Person(client, session_id, code, token)


@pytest.fixture
def join(app, facilitator):
    """A function that joins a new participant (own browser) to the facilitator's session."""
    def joiner(name: str = "Pat Participant", perspective: str = "unpaid_carer", person: Person = facilitator) -> Person:
        client = app.test_client()
        joined = client.post(f"/join/{person.code}", data={"name": name, "perspective": perspective})
        assert joined.status_code == 303, joined.get_data(as_text=True)
        return Person(client, person.session_id, person.code)
    return joiner


@pytest.fixture
def participant(join) -> Person:
    """One participant who has joined the facilitator's session."""
    return join()


# Real browsers: the app served on loopback, Debian's Chromium driven by Playwright.

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def serving(tmp_path):
    """The whole app served on a free loopback port in a background thread: (base URL, app)."""
    app = create_app({"DATA_DIR": str(tmp_path / "data")})
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join(5)


@pytest.fixture
def live_server(serving):
    """The base URL of the app served on loopback."""
    return serving[0]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless (Playwright's own browser download is not used)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_person(browser):
    """A function opening a fresh browser context (own cookies) per person, phone-sized if asked."""
    contexts = []

    def opener(width: int = 1024, javascript: bool = True):
        context = browser.new_context(viewport={"width": width, "height": 800}, java_script_enabled=javascript,
                                      accept_downloads=True)
        context.set_default_timeout(10_000)
        # A whole page load on a busy 2-core machine (the suite runs servers and browsers side
        # by side) can take longer than an expectation should wait; it is no failure of the app.
        context.set_default_navigation_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
        return page

    yield opener
    for context in contexts:
        context.close()
