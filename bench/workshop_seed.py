"""A realistic session to render pages from: people, votes, evidence, actions and notes.

Used by the HTTP timing and the page weight, in this process, through the app's own
forms (the Flask test client), so the stored data is exactly what a workshop leaves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask

INDICATOR = "1a"
PEOPLE = 12
FORM = {"title": "Leadership workshop", "organisation": "Example NHS Trust", "date": "2026-12-01",
        "scope": ["1", "2"], "name": "Fay Facilitator", "perspective": "staff"}


@dataclass
class Seeded:
    """The seeded session and a participant's browser in it."""

    session_id: str
    client: object          # a Flask test client holding a participant's cookie

    def cookie(self) -> str:
        """The participant's `ecsa` cookie value (for requests built by hand)."""
        return self.client.get_cookie("ecsa").value


def seed(app: Flask) -> Seeded:
    """Create a session in `app` with a dozen people and a worked-on indicator 1a."""
    facilitator = app.test_client()
    created = facilitator.post("/sessions", data=FORM)
    session_id = created.headers["Location"].split("/")[2]
    share = facilitator.get(f"/s/{session_id}/share").get_data(as_text=True)
    code = re.search(r"/join/([A-Z0-9]{6})", share)[1]
    people = [_join(app, code, f"Person {i}") for i in range(PEOPLE)]
    for i, person in enumerate(people):
        person.post(f"/s/{session_id}/i/{INDICATOR}/vote", data={"value": str(i % 5 + 1)})
    _work_on(facilitator, session_id)
    return Seeded(session_id, people[0])


def _join(app: Flask, code: str, name: str):
    """A new browser that has joined the session."""
    client = app.test_client()
    client.post(f"/join/{code}", data={"name": name, "perspective": "unpaid_carer"})
    return client


def _work_on(client, session_id: str) -> None:
    """Evidence, actions and notes on indicator 1a, as a discussion would leave them."""
    base = f"/s/{session_id}/i/{INDICATOR}"
    for i in range(4):
        client.post(f"{base}/evidence", data={"text": f"Patient survey {2023 + i}: themes on dignity and respect " * 2,
                                              "source": f"https://example.org/report-{i}"})
    for i in range(3):
        client.post(f"{base}/action", data={"what": f"Share the survey findings with ward team {i}",
                                            "owner": "Fay", "due": "2027-01-15", "status": "open"})
    notes = " ".join(f"Point {i}: people said the team listens and explains choices clearly." for i in range(25))
    client.post(f"{base}/notes", data={"notes": notes, "base": ""})
