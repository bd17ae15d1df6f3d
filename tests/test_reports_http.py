"""What the session produces, through HTTP: the overview's progress and heatmap, the board
report (HTML and Word), the action plan in Excel, and the comparison with an earlier record."""

from __future__ import annotations

import html
import io
import json
import re
from datetime import datetime

import docx
import openpyxl
import pytest
from docx.oxml.ns import qn
from markupsafe import escape

from ecsa import record

HOSTILE = '<script>alert("x")</script> =HYPERLINK("http://evil.example","click")'
NOTES = "First point.\n\nSecond point, with a <b>tag</b> & an ampersand."


def work(facilitator, participant) -> None:
    """A small workshop: ratings, evidence, notes and actions on a few indicators, some hostile."""
    participant.post("/i/1a/vote", {"value": "2"})
    facilitator.post("/i/1a/vote", {"value": "4"})
    facilitator.post("/i/1a/reveal")
    participant.post("/i/1a/evidence", {"text": "Board minutes, March 2026", "source": "https://example.org/m"})
    participant.post("/i/1a/evidence", {"text": HOSTILE, "source": ""})
    facilitator.post("/i/1a/notes", {"notes": NOTES, "base": ""})
    facilitator.post("/i/1a/action", {"what": "=1+2 co-produce the strategy", "owner": "@Sam", "due": "2027-03-31",
                                      "status": "in_progress"})
    participant.post("/i/2b/action", {"what": "Ask carers", "owner": "", "due": "", "status": "open"})
    facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "What the group agreed."})
    facilitator.post("/i/1a/lock")
    facilitator.post("/i/2b/agreed", {"agreed": "5", "rationale": "What the group agreed."})
    participant.post("/i/1c/vote", {"value": "1"})


def the_record(person) -> dict:
    """The session's record as downloaded."""
    return json.loads(person.get("/record").get_data(as_text=True))


def word(person) -> docx.Document:
    """The Word report, reopened with python-docx."""
    answer = person.get("/report.docx")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert 'filename="ecsa-report-leadership-workshop-2026-12-01.docx"' in answer.headers["Content-Disposition"]
    return docx.Document(io.BytesIO(answer.data))


def blocks(document) -> list[tuple[str, str]]:
    """The document's body in order: (style name or "table", text)."""
    found = []
    for element in document.element.body.iterchildren():
        if element.tag == qn("w:p"):
            paragraph = docx.text.paragraph.Paragraph(element, document)
            found.append((paragraph.style.name, paragraph.text))
        elif element.tag == qn("w:tbl"):
            found.append(("table", " | ".join(t.text or "" for t in element.iter(qn("w:t")))))
    return found


def word_indicator(document, indicator_id: str) -> str:
    """Everything the Word report says under one indicator's heading, as text."""
    body, inside = [], False
    for style, text in blocks(document):
        if style == "Heading 3" or style == "Heading 1":
            inside = text == f"Indicator {indicator_id}"
        elif inside:
            body.append(text)
    return "\n".join(body)


def page_text(markup: str) -> str:
    """What a page shows, as text."""
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def html_indicator(markup: str, indicator_id: str) -> str:
    """Everything the HTML report says about one indicator, as text (spaces collapsed)."""
    start = markup.index(f'<article class="ecsa-report__indicator" id="i-{indicator_id}"')
    return " ".join(page_text(markup[start:markup.index("</article>", start)]).split())


# --- the overview: progress and heatmap ----------------------------------------------


def test_overview_shows_progress_and_a_heatmap_of_agreed_ratings(facilitator, participant):
    work(facilitator, participant)
    page = facilitator.get("/").get_data(as_text=True)
    assert 'id="progress"' in page and "Heatmap of agreed ratings" in page
    counts = re.search(r"<tfoot>.*?</tfoot>", page, re.S)[0]
    assert [int(n) for n in re.findall(r'<td class="ecsa-num">(\d+)</td>', counts)] == [32, 1, 1, 1, 35]
    cell = re.search(r'<a class="ecsa-heat ecsa-heat--3" href="/s/[^"]+/i/1a">.*?</a>', page, re.S)[0]
    assert "1a" in cell and ">3<" in cell and "agreed 3 Developing" in cell
    assert re.search(r'<a class="ecsa-heat ecsa-heat--0" href="/s/[^"]+/i/1b">', page)  # not yet agreed
    assert '<th scope="row">1a</th>' in page  # the same data as a table
    assert "median 3" in page  # area 1: only 1a agreed


def test_progress_block_is_served_alone_for_live_refresh(facilitator, participant):
    answer = participant.get("/?block=progress", htmx=True)
    fragment = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert fragment.lstrip().startswith('<div id="progress"') and "<html" not in fragment


def test_progress_needs_a_joined_browser(client, facilitator):
    assert client.get(facilitator.url("/?block=progress")).status_code == 302


# --- the board report in HTML ---------------------------------------------------------------


def test_html_report_holds_every_indicator_in_scope_verbatim(app, facilitator, participant):
    work(facilitator, participant)
    answer = participant.get("/report")
    markup = answer.get_data(as_text=True)
    assert answer.status_code == 200
    framework = app.extensions["ecsa"].framework
    for indicator in framework.indicators([1, 2]):
        assert f'id="i-{indicator.id}"' in markup
        assert " ".join(indicator.text.split()) in html_indicator(markup, indicator.id)
    assert '<h2 id="report-section-1">Section 1: Leadership</h2>' in markup
    assert '<h2 id="report-actions">Action plan</h2>' in markup
    assert "<script>alert" not in markup and str(escape(HOSTILE)) in markup


def test_report_of_a_session_with_nothing_agreed_says_what_is_not_done(facilitator):
    markup = facilitator.get("/report").get_data(as_text=True)
    assert "35 of 35 indicators have no agreed rating yet" in markup
    assert "No actions have been recorded yet." in markup
    text = "\n".join(t for _, t in blocks(word(facilitator)))
    assert "35 of 35 indicators have no agreed rating yet" in text
    assert "No actions have been recorded yet." in text


# --- the board report in Word ---------------------------------------------------------------


def test_word_report_is_an_accessible_document(facilitator, participant):
    work(facilitator, participant)
    document = word(facilitator)
    assert document.core_properties.title == "Leadership workshop – self-assessment report"
    assert document.core_properties.language == "en-GB"
    defaults = document.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    assert defaults.find(qn("w:lang")).get(qn("w:val")) == "en-GB"
    assert len(document.inline_shapes) == 0  # no text as a picture
    for table in document.tables:
        header = table.rows[0]._tr.trPr
        assert header is not None and header.find(qn("w:tblHeader")) is not None


def test_word_headings_follow_sections_areas_and_indicators_in_order(app, facilitator, participant):
    work(facilitator, participant)
    headings = [(style, text) for style, text in blocks(word(facilitator)) if style.startswith(("Heading", "Title"))]
    assert headings[0] == ("Title", "Leadership workshop")
    assert headings[1] == ("Heading 1", "Summary")
    levels = [0 if style == "Title" else int(style.split()[1]) for style, _ in headings]
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:]))  # never skips a level
    framework = app.extensions["ecsa"].framework
    expected = []
    for section in framework.sections[:2]:
        expected.append(("Heading 1", f"Section {section.number}: {section.title}"))
        for area in section.areas:
            expected.append(("Heading 2", f"Area {area.number}: {area.title.capitalize()}"))
            expected += [("Heading 3", f"Indicator {i.id}") for i in area.indicators]
    expected.append(("Heading 1", "Action plan"))
    assert [h for h in headings if h[0] in ("Heading 1", "Heading 2", "Heading 3")
            and not h[1].startswith(("Summary", "Heatmap", "Still", "Movements"))] == expected


def test_word_report_holds_every_indicator_verbatim_and_hostile_text_as_text(app, facilitator, participant):
    work(facilitator, participant)
    document = word(facilitator)
    paragraphs = [text for _, text in blocks(document)]
    for indicator in app.extensions["ecsa"].framework.indicators([1, 2]):
        assert indicator.text in paragraphs
        assert all(bullet in paragraphs for bullet in indicator.bullets)
    first = word_indicator(document, "1a")
    assert HOSTILE in first  # kept as the words typed
    assert "Agreed rating: 3 – Developing" in first
    assert "First point." in first and "Second point, with a <b>tag</b> & an ampersand." in first
    plan = document.tables[-1]
    assert [c.text for c in plan.rows[0].cells] == ["Indicator", "Action", "Owner", "Due", "Status"]
    assert [c.text for c in plan.rows[1].cells] == ["1a", "=1+2 co-produce the strategy", "@Sam", "2027-03-31",
                                                   "In progress"]


def test_word_report_survives_text_xml_cannot_hold(facilitator):
    facilitator.post("/i/1a/evidence", {"text": "A bell\x07 and a form\x0cfeed", "source": ""})
    assert "A bell\ufffd and a form\ufffdfeed" in word_indicator(word(facilitator), "1a")


# --- one source --------------------------------------------------------------------------------


def test_word_report_html_report_and_record_agree(facilitator, participant):
    """Ratings, evidence and actions are the same in the record, the HTML and the Word report."""
    work(facilitator, participant)
    exported = the_record(facilitator)
    markup = facilitator.get("/report").get_data(as_text=True)
    document = word(facilitator)
    for indicator in exported["indicators"]:
        in_html, in_word = html_indicator(markup, indicator["id"]), word_indicator(document, indicator["id"])
        agreed = indicator["agreed_rating"]
        assert (f"Agreed rating: {agreed['value']} – {agreed['label']}" if agreed else "not yet agreed") in in_word
        assert (f"Agreed rating: {agreed['value']} {agreed['label']}" if agreed else "not yet agreed") in in_html
        for vote in (vote for round_ in indicator["rounds"] if round_["revealed"] for vote in round_["votes"]):
            assert vote["name"] in in_html and vote["name"] in in_word
        for item in indicator["evidence"]:
            assert item["text"] in in_html and item["text"] in in_word
        for action in indicator["actions"]:
            assert action["what"] in in_html and action["what"] in in_word
    plan_html = page_text(markup[markup.index('id="report-actions"'):])
    actions = [a for i in exported["indicators"] for a in i["actions"]]
    assert len(actions) == 2 and all(a["what"] in plan_html for a in actions)


# --- the action plan in Excel -------------------------------------------------------------------


def test_xlsx_action_plan_has_filters_dates_and_a_status_list(facilitator, participant):
    work(facilitator, participant)
    answer = facilitator.get("/action-plan.xlsx")
    assert answer.status_code == 200
    assert 'filename="ecsa-action-plan-leadership-workshop-2026-12-01.xlsx"' in answer.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(answer.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == record.ACTION_PLAN_COLUMNS
    assert rows[1] == ("1a", 1, 1, "'=1+2 co-produce the strategy", "'@Sam", datetime(2027, 3, 31), "In progress",
                       "Fay Facilitator", None, None, None)
    assert rows[2] == ("2b", 1, 2, "Ask carers", None, None, "Open", "Pat Participant", None, None, None)  # no owner, no date
    assert sheet.auto_filter.ref == "A1:K3" and sheet.freeze_panes == "A2"
    assert sheet["F2"].is_date and sheet["F2"].number_format == "yyyy-mm-dd"
    assert sheet.column_dimensions["D"].width >= 40
    validation = sheet.data_validations.dataValidation[0]
    assert validation.type == "list" and validation.formula1 == '"Open,In progress,Done"'
    assert "G2" in validation.sqref
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)


def test_xlsx_and_csv_hold_the_same_action_plan(facilitator, participant):
    work(facilitator, participant)
    csv_rows = facilitator.get("/action-plan.csv").get_data(as_text=True)[1:].splitlines()
    sheet = openpyxl.load_workbook(io.BytesIO(facilitator.get("/action-plan.xlsx").data)).active
    assert len(csv_rows) == sheet.max_row
    assert [row[3] for row in sheet.iter_rows(values_only=True)] == ["Action", "'=1+2 co-produce the strategy",
                                                                     "Ask carers"]


def test_outputs_need_a_joined_browser(client, facilitator):
    for path in ("/report", "/report.docx", "/action-plan.xlsx"):
        assert client.get(facilitator.url(path)).status_code == 302


# --- compared with last time ---------------------------------------------------------------------


@pytest.fixture
def earlier(app, facilitator) -> bytes:
    """The record of an earlier assessment: 1a agreed at 2, 1b at 4, 1c at 3."""
    for indicator, value in (("1a", "2"), ("1b", "4"), ("1c", "3")):
        facilitator.post(f"/i/{indicator}/agreed", {"agreed": value, "rationale": "What the group agreed."})
    raw = facilitator.get("/record").data
    for indicator in ("1a", "1b", "1c"):
        facilitator.post(f"/i/{indicator}/agreed", {"agreed": ""})
    return raw


def compare(person, raw: bytes, name: str = "earlier.json"):
    """Upload a record on the overview's "Compare with an earlier assessment"."""
    return person.client.post(person.url("/compare"), data={"record": (io.BytesIO(raw), name)},
                              content_type="multipart/form-data")


def test_facilitator_compares_with_an_earlier_assessment(app, facilitator, earlier):
    facilitator.post("/i/1a/agreed", {"agreed": "3", "rationale": "What the group agreed."})
    facilitator.post("/i/1b/agreed", {"agreed": "4", "rationale": "What the group agreed."})
    facilitator.post("/i/1d/agreed", {"agreed": "1", "rationale": "What the group agreed."})
    answer = compare(facilitator, earlier)
    assert answer.status_code == 303
    page = facilitator.get("/").get_data(as_text=True)
    assert "Compared with the earlier assessment" in page
    assert "1 up, 0 down, 1 same, 1 newly rated." in " ".join(page_text(page).split())
    assert "agreed 3 Developing, up from 2" in page
    indicator_page = page_text(facilitator.get("/i/1a").get_data(as_text=True))
    assert "Earlier assessment (Leadership workshop, 2026-12-01):" in indicator_page
    assert "2 – Emerging" in indicator_page
    assert "Up" in indicator_page
    assert "Movement: ▲ Up" in html_indicator(facilitator.get("/report").get_data(as_text=True), "1a")
    assert "Earlier assessment: 2; up" in word_indicator(word(facilitator), "1a")
    exported = the_record(facilitator)
    assert exported["baseline"]["ratings"] == {"1a": 2, "1b": 4, "1c": 3}
    assert record.read_import(json.dumps(exported).encode(), app.extensions["ecsa"].framework)
    assert exported["audit"][-1]["type"] == "baseline_set"


def test_only_the_facilitator_compares(participant, earlier):
    assert compare(participant, earlier).status_code == 403


@pytest.mark.parametrize("spoil, message", [
    (lambda raw: b"{not json", "not valid JSON"),
    (lambda raw: b" " * (record.MAX_IMPORT_BYTES + 1), "too big"),
    (lambda raw: json.dumps(dict(json.loads(raw), framework=dict(json.loads(raw)["framework"], version="0.9")))
     .encode(), "made with framework"),
], ids=["not a record", "too big", "another framework"])
def test_a_bad_earlier_record_is_refused_and_changes_nothing(app, facilitator, earlier, spoil, message):
    workshop = app.extensions["ecsa"].get(facilitator.session_id)
    events = len(workshop.audit())
    answer = compare(facilitator, spoil(earlier))
    assert answer.status_code == 422
    assert message in html.unescape(answer.get_data(as_text=True))
    assert workshop.baseline() is None and len(workshop.audit()) == events


def test_a_continued_session_compares_with_the_record_it_continues(app, earlier):
    client = app.test_client()
    answer = client.post("/import", data={"name": "Fay Facilitator", "perspective": "staff",
                                          "record": (io.BytesIO(earlier), "earlier.json")},
                         content_type="multipart/form-data")
    assert answer.status_code == 303
    session_id = answer.headers["Location"].split("/")[2]
    continued = app.extensions["ecsa"].get(session_id)
    assert continued.baseline()["ratings"] == {"1a": 2, "1b": 4, "1c": 3}
    assert continued.baseline()["source"]["title"] == "Leadership workshop"
