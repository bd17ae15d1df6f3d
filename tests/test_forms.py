"""What people type is checked field by field, with messages that say how to put it right."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from ecsa import forms

SECTIONS = {1, 2, 3, 4, 5}
SESSION = {"title": "Leadership workshop", "organisation": "Example NHS Trust", "date": "2026-12-01",
           "name": "Fay Facilitator", "perspective": "staff"}


def session_form(scope=("1", "2"), **changes) -> forms.Form:
    """The create-session form as submitted with these changes."""
    data = MultiDict({**SESSION, **changes})
    data.setlist("scope", list(scope))
    return forms.session_form(data, SECTIONS)


def test_complete_session_form_is_valid_and_clean():
    """A filled-in form gives trimmed values and the scope as section numbers."""
    form = session_form(scope=["2", "1", "2"], title="  Leadership workshop ")
    assert form.valid, form.errors
    assert form.clean["title"] == "Leadership workshop"
    assert form.clean["scope"] == [1, 2]
    assert form.clean["perspective"] == "staff"


@pytest.mark.parametrize("field, message", [
    ("title", "Enter a title"),
    ("organisation", "Enter the organisation"),
    ("date", "Enter the workshop date"),
    ("name", "Enter your name"),
    ("perspective", "Select your perspective"),
])
def test_session_form_requires_each_field(field, message):
    """Leaving a required field empty (or only spaces) says which one."""
    form = session_form(**{field: "   "})
    assert form.errors == {field: message}


def test_session_form_keeps_typed_values_when_invalid():
    """A refused form still holds what was typed, so nothing has to be typed again."""
    form = session_form(date="2026-02-30")
    assert not form.valid
    assert form.clean["title"] == "Leadership workshop" and form.clean["date"] == "2026-02-30"


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01", "31/02/2026", "12/31/2026", "tomorrow", "2026-1-5",
                                   "20261201", "2026-W49-2", "２０２６-１２-０１", "1/1/26"])
def test_date_must_be_a_real_date(value):
    """YYYY-MM-DD (as a date input sends it) or day/month/year of a day that exists."""
    form = session_form(date=value)
    assert form.errors == {"date": "Workshop date must be a real date, like 31/03/2026"}


@pytest.mark.parametrize(("typed", "kept"), [("31/03/2026", "2026-03-31"), ("1/4/2026", "2026-04-01")])
def test_a_date_typed_day_first_is_read_as_people_in_the_uk_write_it(typed, kept):
    """Where a browser shows a plain text box, 31/03/2026 means 31 March, and is kept as ISO."""
    form = session_form(date=typed)
    assert form.valid and form.clean["date"] == kept


def test_leap_day_is_a_real_date():
    """29 February exists in a leap year."""
    assert session_form(date="2028-02-29").valid


@pytest.mark.parametrize("perspective", sorted(forms.PERSPECTIVES))
def test_every_perspective_is_accepted(perspective):
    """Each of the seven perspectives may be chosen."""
    assert session_form(perspective=perspective).valid


@pytest.mark.parametrize("perspective", ["manager", "Staff", "staff ", ""])
def test_perspective_must_be_one_of_the_choices(perspective):
    """Anything else (even a different case) is refused."""
    assert session_form(perspective=perspective).errors == {"perspective": "Select your perspective"}


def test_perspectives_are_the_seven_the_product_names():
    """Person using services, unpaid carer, staff, volunteer, community member, board member, other."""
    assert list(forms.PERSPECTIVES.values()) == [
        "Person using services", "Unpaid carer", "Staff", "Volunteer", "Community member",
        "Board member", "Other"]


@pytest.mark.parametrize("scope", [[], ["9"], ["0"], ["-1"], ["one"], [""], ["1.5"]])
def test_scope_must_name_real_sections(scope):
    """A scope with no section of the framework in it is refused."""
    assert session_form(scope=scope).errors == {"scope": "Select at least one section"}


@pytest.mark.parametrize("odd", ["²", "1" * 5000, "٣"])
def test_scope_with_odd_digits_is_refused_not_a_crash(odd):
    """Digits that are not plain 0-9, or absurdly long numbers, are not sections."""
    form = session_form(scope=[odd])
    assert form.errors == {"scope": "Select at least one section"}


def test_unknown_sections_are_dropped_from_scope():
    """Real sections are kept, made-up ones ignored."""
    form = session_form(scope=["5", "99", "3"])
    assert form.valid and form.clean["scope"] == [3, 5]


def test_settings_form_does_not_ask_for_a_name():
    """Changing the settings needs no facilitator name or perspective."""
    data = MultiDict({k: v for k, v in SESSION.items() if k not in ("name", "perspective")})
    data.setlist("scope", ["4"])
    form = forms.session_form(data, SECTIONS, with_facilitator=False)
    assert form.valid and "name" not in form.clean


@pytest.mark.parametrize("field, limit, message", [
    ("title", 120, "Title must be 120 characters or fewer (it is 121)"),
    ("name", 80, "Your name must be 80 characters or fewer (it is 81)"),
])
def test_session_form_length_limits(field, limit, message):
    """One character over the limit is refused with the limit and the actual length."""
    assert session_form(**{field: "x" * limit}).valid
    assert session_form(**{field: "x" * (limit + 1)}).errors == {field: message}


def test_join_name_limit_is_80():
    """A display name of 80 characters fits a badge; 81 does not."""
    ok = forms.join_fields(forms.Form({"name": "n" * 80, "perspective": "volunteer"}))
    long = forms.join_fields(forms.Form({"name": "n" * 81, "perspective": "volunteer"}))
    assert ok.valid
    assert long.errors == {"name": "Your name must be 80 characters or fewer (it is 81)"}


def notes_form(text: str) -> forms.Form:
    """The notes form as the notes view builds it."""
    form = forms.Form({"notes": text})
    form.text("notes", "the notes", forms.NOTES_MAX, required=False)
    return form


def test_notes_limit_is_20000_characters():
    """Notes of 20,000 characters are kept; 20,001 are refused with a clear message."""
    assert notes_form("n" * 20_000).valid
    assert notes_form("n" * 20_001).errors == {
        "notes": "Notes must be 20,000 characters or fewer (it is 20,001)"}


def test_notes_keep_their_whitespace_and_may_be_empty():
    """Notes are not trimmed (a typed blank line matters); clearing them is allowed."""
    assert notes_form("  indented\n\n").clean["notes"] == "  indented\n\n"
    assert notes_form("").valid


def test_evidence_needs_what_it_is_and_nothing_else():
    """The evidence text is required; a source is optional."""
    assert forms.evidence_form({"text": "", "source": ""}).errors == {"text": "Enter what the evidence is"}
    form = forms.evidence_form({"text": "Carers survey", "source": ""})
    assert form.valid and form.clean["source"] == ""


def test_evidence_text_limit_is_2000_characters():
    """Item text of 2,000 characters is fine, 2,001 is refused."""
    assert forms.evidence_form({"text": "e" * 2000}).valid
    assert forms.evidence_form({"text": "e" * 2001}).errors == {
        "text": "Evidence must be 2,000 characters or fewer (it is 2,001)"}


@pytest.mark.parametrize("source", ["https://example.org/report", "http://intranet/survey.pdf",
                                    "Board paper March 2026.docx", "javascript:alert(1)"])
def test_evidence_source_may_be_a_link_or_a_document_name(source):
    """A full link or any document name is accepted as a source."""
    assert forms.evidence_form({"text": "Survey", "source": source}).valid


@pytest.mark.parametrize("source", ["https://", "http:/report", "HTTPS:example.org", "http://[broken"])
def test_evidence_source_that_looks_like_a_broken_link_is_refused(source):
    """Something that starts like a web link but is not a full one gets a helpful message."""
    form = forms.evidence_form({"text": "Survey", "source": source})
    assert form.errors == {"source": "Enter a full link, like https://example.org/report, or a document name"}


@pytest.mark.parametrize("source", ["https://example.org/report", "HTTP://EXAMPLE.ORG", "http://intranet/x"])
def test_is_link_accepts_full_web_links(source):
    """Full http(s) links are shown as links."""
    assert forms.is_link(source)


@pytest.mark.parametrize("source", [
    "javascript:alert(1)", "JavaScript:alert(document.cookie)", " javascript:alert(1)",
    "\tjavascript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox",
    "//evil.example/x", "https://", "Board paper.docx", "", None, "http://[broken",
])
def test_is_link_refuses_anything_but_full_web_links(source):
    """Script URLs, scheme-relative links and document names are never rendered as links."""
    assert not forms.is_link(source)


def test_action_needs_what_and_a_status():
    """An action says what is to be done and its status; owner and due date are optional."""
    form = forms.action_form({"what": "", "status": ""})
    assert form.errors == {"what": "Enter what the action is", "status": "Select a status"}
    form = forms.action_form({"what": "Ask carers", "owner": "", "due": "", "status": "open"})
    assert form.valid and form.clean["due"] is None


@pytest.mark.parametrize("status", ["open", "in_progress", "done"])
def test_action_statuses_are_open_in_progress_done(status):
    """The three statuses of the worksheet are accepted."""
    assert forms.action_form({"what": "x", "status": status}).valid


def test_action_status_outside_the_list_is_refused():
    """'closed' is not a status the worksheet knows."""
    assert forms.action_form({"what": "x", "status": "closed"}).errors == {"status": "Select a status"}


def test_action_due_date_must_be_real():
    """A due date that does not exist is refused with an example of the right form."""
    form = forms.action_form({"what": "x", "status": "open", "due": "2026-02-30"})
    assert form.errors == {"due": "Due date must be a real date, like 31/03/2026"}
    assert forms.action_form({"what": "x", "status": "open", "due": "2026-02-28"}).valid


def test_action_owner_limit_is_80_and_what_limit_is_2000():
    """Owner is a name (80); what is an item text (2,000)."""
    form = forms.action_form({"what": "w" * 2001, "owner": "o" * 81, "status": "open"})
    assert form.errors == {
        "what": "Action must be 2,000 characters or fewer (it is 2,001)",
        "owner": "Owner must be 80 characters or fewer (it is 81)"}


@pytest.mark.parametrize("value, expected", [("3", 3), ("1", 1), ("", None)])
def test_rating_is_a_level_of_the_scale_or_cleared(value, expected):
    """A rating is one of the scale's values, or empty to clear it."""
    form = forms.Form({"value": value})
    assert forms.rating(form, "value", {1, 2, 3, 4, 5}) == expected
    assert form.valid


@pytest.mark.parametrize("value", ["0", "6", "3.0", "three", " 3"])
def test_rating_outside_the_scale_is_refused(value):
    """A value not on the scale is refused."""
    form = forms.Form({"value": value})
    assert forms.rating(form, "value", {1, 2, 3, 4, 5}) is None
    assert form.errors == {"value": "Select a rating"}
