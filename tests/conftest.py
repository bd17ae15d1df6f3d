"""Shared fixtures: an app on a temporary data folder, and people using it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from ecsa import create_app

HX = {"HX-Request": "true"}


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
