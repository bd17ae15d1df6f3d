"""Actions from last time: a continued session reviews the earlier record's actions first."""

from __future__ import annotations

import csv
import io
import json

import jsonschema
import openpyxl
import pytest

from ecsa import record, review, worksheet
from ecsa.events import Actor, Event
from tests.conftest import HX, Person

# --- the rules ---------------------------------------------------------------------------------

PAT = Actor("p1", "Pat Participant")
EARLIER = {"session_id": "s0", "title": "Spring workshop", "date": "2026-03-01", "status": "open"}


def sheet_with_actions(locked: bool = False) -> dict:
    """A worksheet with one action carried over from an earlier record and one added now."""
    ws = worksheet.new_worksheet("1a")
    base = {"owner": None, "due": None, "status": "open", "author_id": "p0", "author_name": "Sam", "at": "x", "rev": 1}
    ws["actions"] = [dict(base, id="old", what="Ask carers", earlier=dict(EARLIER)),
                     dict(base, id="new", what="Write to the board")]
    if locked:
        ws["lock"] = {"by": "Fay", "at": "2026-03-01T10:00:00Z"}
    return ws


def reviewed(ws: dict, actor: Actor = PAT, **data) -> Event:
    """Authorise and apply a review, as the server does."""
    event = Event.by(actor, "action_reviewed", "1a", **({"id": "old", "status": "done", "note": None} | data))
    worksheet.authorise(actor, ws, event)
    worksheet.apply(ws, event)
    return event


def test_a_review_keeps_status_note_who_and_when_beside_the_earlier_status():
    ws = sheet_with_actions()
    event = reviewed(ws, status="in_progress", note="Survey half done")
    action = ws["actions"][0]
    assert action["review"] == {"status": "in_progress", "note": "Survey half done", "by": "Pat Participant",
                                "at": event.at}
    assert action["earlier"]["status"] == "open" and action["status"] == "open"  # the record keeps both


def test_a_second_review_replaces_the_first():
    ws = sheet_with_actions()
    reviewed(ws, status="in_progress")
    reviewed(ws, Actor("f1", "Fay", "facilitator"), status="dropped", note="No longer needed")
    assert ws["actions"][0]["review"]["status"] == "dropped" and ws["actions"][0]["review"]["by"] == "Fay"


def test_only_an_action_from_the_earlier_record_can_be_reviewed():
    with pytest.raises(worksheet.Conflict, match="nothing from last time"):
        reviewed(sheet_with_actions(), id="new")


def test_a_removed_action_cannot_be_reviewed():
    with pytest.raises(worksheet.Conflict, match="removed"):
        reviewed(sheet_with_actions(), id="gone")


@pytest.mark.parametrize("data", [{"status": "finished"}, {"status": None}, {"note": "x" * 501}])
def test_the_rules_refuse_a_review_the_form_would_have_refused(data):
    with pytest.raises(worksheet.Conflict):
        reviewed(sheet_with_actions(), **data)


def test_a_lock_does_not_refuse_a_review_and_a_review_starts_no_discussion():
    ws = sheet_with_actions(locked=True)
    reviewed(ws, status="done")
    assert ws["actions"][0]["review"]["status"] == "done" and ws["state"] == worksheet.NOT_STARTED


def test_review_progress_counts_only_earlier_actions():
    ws = sheet_with_actions()
    assert review.progress([ws]) == {"reviewed": 0, "total": 1}
    reviewed(ws)
    assert review.progress([ws]) == {"reviewed": 1, "total": 1}


# --- a continued session, over HTTP --------------------------------------------------------------


def registry(app):
    """The app's session registry."""
    return app.extensions["ecsa"]


@pytest.fixture
def continued(app, facilitator) -> Person:
    """A session continued from a record with three actions (1a: two, 1b: one, locked) and
    one action added after the import; returned as its facilitator (the importer)."""
    facilitator.post("/i/1a/action", {"what": "Ask carers about visiting", "owner": "Sam", "due": "2026-06-30",
                                      "status": "open"})
    facilitator.post("/i/1a/action", {"what": "Train reception staff", "owner": "", "due": "", "status": "in_progress"})
    facilitator.post("/i/1b/action", {"what": "Publish the survey", "owner": "", "due": "", "status": "done"})
    facilitator.post("/i/1b/agreed", {"agreed": "3", "rationale": "Survey done, not yet acted on."})
    assert facilitator.post("/i/1b/lock").status_code == 303
    raw = facilitator.get("/record").data
    client = app.test_client()
    imported = client.post("/import", data={"name": "Fay Facilitator", "perspective": "staff",
                                            "record": (io.BytesIO(raw), "record.json")})
    assert imported.status_code == 303, imported.get_data(as_text=True)
    session_id = imported.headers["Location"].split("/")[2]
    person = Person(client, session_id, registry(app).get(session_id).details["join_code"])
    person.post("/i/1a/action", {"what": "A new action", "owner": "", "due": "", "status": "open"})
    return person


@pytest.fixture
def pat(app, continued) -> Person:
    """A participant who joined the continued session."""
    client = app.test_client()
    joined = client.post(f"/join/{continued.code}", data={"name": "Pat", "perspective": "unpaid_carer"})
    assert joined.status_code == 303
    return Person(client, continued.session_id, continued.code)


def actions(app, person: Person, indicator: str) -> list[dict]:
    """The stored actions of an indicator in the person's session."""
    return registry(app).get(person.session_id).worksheet(indicator)["actions"]


def action_id(app, person: Person, what: str) -> tuple[str, str]:
    """(indicator, action id) of the action whose text starts with what."""
    for indicator in ("1a", "1b"):
        for action in actions(app, person, indicator):
            if action["what"].startswith(what):
                return indicator, action["id"]
    raise AssertionError(what)


def test_carried_actions_say_where_they_came_from_and_new_ones_do_not(app, continued):
    old, new = actions(app, continued, "1a")[0], actions(app, continued, "1a")[-1]
    assert old["earlier"] | {"session_id": "-"} == {"session_id": "-", "title": "Leadership workshop",
                                                    "date": "2026-12-01", "status": "open"}
    assert "earlier" not in new and "review" not in old


def test_review_page_lists_earlier_actions_by_indicator_with_progress(continued):
    page = continued.get("/review").get_data(as_text=True)
    assert "Actions from last time" in page and "0 of 3 reviewed" in page
    assert page.index("Indicator 1a") < page.index("Ask carers about visiting") < page.index("Indicator 1b")
    assert "Publish the survey" in page and "A new action" not in page
    assert 'name="status"' in page and "Save review" in page


def test_a_participant_reviews_an_action_with_htmx(app, continued, pat):
    indicator, aid = action_id(app, continued, "Ask carers")
    answer = pat.post(f"/review/{indicator}/{aid}", {"status": "in_progress", "note": "Half <b>done</b>"}, htmx=True)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert html.lstrip().startswith(f'<li class="ecsa-item ecsa-review" id="review-{aid}"')
    assert "Reviewed: <strong>In progress</strong> – Half &lt;b&gt;done&lt;/b&gt;" in html  # escaped
    assert 'id="progress"' in html and 'hx-swap-oob="true"' in html and "1 of 3 reviewed" in html
    review_now = actions(app, continued, "1a")[0]["review"]
    assert review_now == {"status": "in_progress", "note": "Half <b>done</b>", "by": "Pat", "at": review_now["at"]}


def test_the_facilitator_reviews_without_javascript(app, continued):
    indicator, aid = action_id(app, continued, "Train reception")
    answer = continued.post(f"/review/{indicator}/{aid}", {"status": "done", "note": ""})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/review#review-{aid}")
    assert actions(app, continued, "1a")[1]["review"]["by"] == "Fay Facilitator"
    assert actions(app, continued, "1a")[1]["review"]["note"] is None
    assert "1 of 3 reviewed" in continued.get("/review").get_data(as_text=True)


@pytest.mark.parametrize("data, says", [
    ({"note": "kept text"}, "Select whether the action is done, in progress, not started or dropped"),
    ({"status": "finished", "note": "kept text"}, "Select whether the action is done"),
    ({"status": "done", "note": "kept text" + "x" * 500}, "Note must be 500 characters or fewer (it is 509)"),
])
@pytest.mark.parametrize("htmx", [True, False])
def test_bad_input_is_refused_beside_the_field_keeping_what_was_typed(app, continued, pat, data, says, htmx):
    indicator, aid = action_id(app, continued, "Ask carers")
    answer = pat.post(f"/review/{indicator}/{aid}", data, htmx=htmx)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert says in html and f'id="review-{aid}-' in html and "nhsuk-error-message" in html
    assert ">kept text" in html  # what was typed, kept
    assert "review" not in actions(app, continued, "1a")[0]
    if not htmx:
        assert "There is a problem" in html  # the whole page, with its error summary


def test_an_action_added_in_this_session_cannot_be_reviewed(app, continued, pat):
    indicator, aid = action_id(app, continued, "A new action")
    answer = pat.post(f"/review/{indicator}/{aid}", {"status": "done"}, htmx=True)
    assert answer.status_code == 409 and "nothing from last time" in answer.get_data(as_text=True)
    assert "review" not in actions(app, continued, "1a")[-1]


def test_a_removed_action_is_a_conflict_and_an_unknown_indicator_not_found(app, continued, pat):
    assert pat.post("/review/1a/nosuchaction", {"status": "done"}, htmx=True).status_code == 409
    assert pat.post("/review/99z/nosuchaction", {"status": "done"}).status_code == 404


def test_an_action_on_a_locked_indicator_can_be_reviewed(app, continued, pat):
    registry_workshop = registry(app).get(continued.session_id)
    assert registry_workshop.worksheet("1b")["lock"]  # locked in the earlier session, still locked
    indicator, aid = action_id(app, continued, "Publish the survey")
    assert pat.post(f"/review/{indicator}/{aid}", {"status": "done", "note": "Published in May"}).status_code == 303
    assert actions(app, continued, "1b")[0]["review"]["note"] == "Published in May"


def test_reviewing_needs_a_joined_browser(app, client, continued):
    indicator, aid = action_id(app, continued, "Ask carers")
    assert client.post(continued.url(f"/review/{indicator}/{aid}"), data={"status": "done"}).status_code == 403
    assert client.get(continued.url("/review")).status_code == 302


def test_the_record_keeps_the_earlier_status_and_the_review_and_the_audit_the_event(app, continued, pat):
    indicator, aid = action_id(app, continued, "Ask carers")
    pat.post(f"/review/{indicator}/{aid}", {"status": "not_started", "note": "No owner"})
    exported = json.loads(continued.get("/record").data)
    action = next(a for i in exported["indicators"] for a in i["actions"] if a["id"] == aid)
    assert action["earlier"]["status"] == "open" and action["earlier"]["title"] == "Leadership workshop"
    assert action["review"] | {"at": "-"} == {"status": "not_started", "note": "No owner", "by": "Pat", "at": "-"}
    jsonschema.validate(exported, record.schema())
    event = [e for e in exported["audit"] if e["type"] == "action_reviewed"][-1]
    assert event["actor_name"] == "Pat" and event["indicator"] == indicator
    assert event["data"] == {"id": aid, "status": "not_started", "note": "No owner"}


def test_the_overview_opens_with_the_banner_until_every_action_is_reviewed(app, continued):
    page = continued.get("/").get_data(as_text=True)
    assert "Start with last time's actions: 0 of 3 reviewed" in page
    assert page.index("<h1") < page.index("review-banner") < page.index('id="progress"')
    for what in ("Ask carers", "Train reception", "Publish the survey"):
        indicator, aid = action_id(app, continued, what)
        continued.post(f"/review/{indicator}/{aid}", {"status": "done"})
        if what == "Ask carers":
            assert "1 of 3 reviewed" in continued.get("/").get_data(as_text=True)
    assert "review-banner" not in continued.get("/").get_data(as_text=True)


def test_a_new_session_has_no_banner_and_nothing_to_review(facilitator):
    assert "review-banner" not in facilitator.get("/").get_data(as_text=True)
    assert "no actions from an earlier record" in facilitator.get("/review").get_data(as_text=True)


def test_live_refresh_sends_summaries_only_when_a_review_changed(app, continued, pat):
    page = continued.get("/review").get_data(as_text=True)
    seen = json.loads(page.split('data-hx-vals="')[1].split('"')[0].replace("&#34;", '"'))["seen"]
    quiet = continued.client.get(continued.url(f"/review?block=progress&seen={seen}"), headers=HX)
    assert "hx-swap-oob" not in quiet.get_data(as_text=True) and "0 of 3 reviewed" in quiet.get_data(as_text=True)
    indicator, aid = action_id(app, continued, "Ask carers")
    pat.post(f"/review/{indicator}/{aid}", {"status": "dropped", "note": "Merged into 2b"})
    fresh = continued.client.get(continued.url(f"/review?block=progress&seen={seen}"), headers=HX)
    html = fresh.get_data(as_text=True)
    assert "1 of 3 reviewed" in html and f'id="review-{aid}-now" data-hx-swap-oob="true"' in html
    assert "Reviewed: <strong>Dropped</strong> – Merged into 2b" in html and 'name="note"' not in html
    assert '<p id="review-news" class="nhsuk-u-visually-hidden" data-hx-swap-oob="innerHTML">Reviews updated: 1 of 3' in html


def test_action_plans_carry_the_earlier_status_and_the_review(app, continued):
    indicator, aid = action_id(app, continued, "Ask carers")
    continued.post(f"/review/{indicator}/{aid}", {"status": "done", "note": "=1+1 visits agreed"})
    rows = list(csv.reader(io.StringIO(continued.get("/action-plan.csv").get_data(as_text=True)[1:])))
    header = rows[0]
    assert header[-3:] == ["Status last time", "Review", "Review note"] and list(record.ACTION_PLAN_COLUMNS) == header
    by_what = {row[3]: row for row in rows[1:]}
    assert by_what["Ask carers about visiting"][-3:] == ["Open", "Done", "'=1+1 visits agreed"]
    assert by_what["A new action"][-3:] == ["", "", ""]
    sheet = openpyxl.load_workbook(io.BytesIO(continued.get("/action-plan.xlsx").data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == record.ACTION_PLAN_COLUMNS
    excel = {row[3]: row for row in values[1:]}
    assert excel["Ask carers about visiting"][-3:] == ("Open", "Done", "'=1+1 visits agreed")
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)
    lists = {v.formula1: str(v.sqref) for v in sheet.data_validations.dataValidation}
    assert lists['"Done,In progress,Not started,Dropped"'].startswith("J2:J")  # the Review column
