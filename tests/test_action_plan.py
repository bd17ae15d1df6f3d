"""The action plan: every action of a session as a CSV a spreadsheet opens safely."""

from __future__ import annotations

import csv
import io


def action_plan(person) -> tuple[list[list[str]], object]:
    """Download the action plan and parse it as a spreadsheet would."""
    response = person.get("/action-plan.csv")
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # UTF-8 byte-order mark, for Excel
    return list(csv.reader(io.StringIO(text[1:]))), response


def test_action_plan_lists_every_action_with_its_indicator(facilitator, participant):
    participant.post("/i/1a/action", {"what": "Co-produce the strategy", "owner": "Sam", "due": "2027-03-31",
                                      "status": "in_progress"})
    facilitator.post("/i/2b/action", {"what": "Ask carers", "owner": "", "due": "", "status": "open"})
    rows, response = action_plan(facilitator)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="ecsa-action-plan-leadership-workshop-2026-12-01.csv"' in response.headers["Content-Disposition"]
    assert rows == [
        ["Indicator", "Section", "Area", "Action", "Owner", "Due", "Status", "Added by", "Status last time", "Review",
         "Review note"],
        ["1a", "1", "1", "Co-produce the strategy", "Sam", "2027-03-31", "In progress", "Pat Participant", "", "", ""],
        ["2b", "1", "2", "Ask carers", "", "", "Open", "Fay Facilitator", "", "", ""],
    ]


def test_action_plan_never_hands_a_spreadsheet_a_formula(facilitator):
    facilitator.post("/i/1a/action", {"what": '=HYPERLINK("http://evil.example","x")', "owner": "@admin",
                                      "due": "", "status": "open"})
    rows, _ = action_plan(facilitator)
    assert rows[1][3] == "'" + '=HYPERLINK("http://evil.example","x")'
    assert rows[1][4] == "'@admin"


def test_action_plan_needs_a_joined_browser(client, facilitator):
    assert client.get(facilitator.url("/action-plan.csv")).status_code == 302
