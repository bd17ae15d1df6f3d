"""Validation of everything people type: each form gives clean values and errors by field.

A view re-renders the form with `errors` beside the fields and the typed values kept,
so a bad input never loses what someone wrote.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import SplitResult, urlsplit

from .worksheet import ACTION_STATUSES, NOTES_MAX

PERSPECTIVES = {
    "person_using_services": "Person using services",
    "unpaid_carer": "Unpaid carer",
    "staff": "Staff",
    "volunteer": "Volunteer",
    "community_member": "Community member",
    "board_member": "Board member",
    "other": "Other",
}

NAME_MAX, ITEM_MAX, TITLE_MAX, REASON_MAX = 80, 2000, 120, 500
# Python 3.11's date.fromisoformat also takes "20260301" and "2026-W10-1", which the
# record's schema (YYYY-MM-DD) would then refuse on import.
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
UK_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")


def subject(label: str) -> str:
    """A label as the start of a message, as the NHS style has it: "the due date" -> "Due date"."""
    for article in ("a ", "an ", "the "):
        if label.startswith(article):
            label = label[len(article):]
            break
    return label[:1].upper() + label[1:]


class Form:
    """Collects clean values and per-field error messages from submitted data."""

    def __init__(self, data):
        self.data, self.clean, self.errors = data, {}, {}

    def text(self, field: str, label: str, limit: int, required: bool = True, name: str | None = None) -> str:
        """A text field: trimmed (notes keep their whitespace), length-checked.

        label completes "Enter ..." ("a title"); name starts other messages ("Title must
        be ..."), and by default is the label without its article.
        """
        raw = self.data.get(field, "") or ""
        value = raw if limit == NOTES_MAX else raw.strip()
        if required and not value:
            self.errors[field] = f"Enter {label}"
        elif len(value) > limit:
            self.errors[field] = f"{subject(name or label)} must be {limit:,} characters or fewer (it is {len(value):,})"
        self.clean[field] = value
        return value

    def choice(self, field: str, label: str, options, required: bool = True):
        """A field whose value must be one of options ('' allowed when optional)."""
        value = self.data.get(field, "") or ""
        if value == "" and not required:
            self.clean[field] = None
        elif value not in options:
            self.errors[field] = f"Select {label}"
        else:
            self.clean[field] = value
        return self.clean.get(field)

    def iso_date(self, field: str, label: str, required: bool = True) -> str | None:
        """A date, kept in ISO form (YYYY-MM-DD) as an <input type=date> sends it; typed as
        people in the UK write it (31/03/2026, where a browser shows a plain text box) it is
        read too."""
        typed = (self.data.get(field, "") or "").strip()
        day_first = UK_DATE.fullmatch(typed)
        value = "{2}-{1:0>2}-{0:0>2}".format(*day_first.groups()) if day_first else typed
        if not value:
            if required:
                self.errors[field] = f"Enter {label}"
            self.clean[field] = None
            return None
        if not is_iso_date(value):
            self.errors[field] = f"{subject(label)} must be a real date, like 31/03/2026"
            value = typed  # shown again as it was typed
        self.clean[field] = value
        return value

    @property
    def valid(self) -> bool:
        """Whether every field passed."""
        return not self.errors


def is_iso_date(value: str) -> bool:
    """Whether value is YYYY-MM-DD of a day that exists."""
    try:
        return bool(ISO_DATE.fullmatch(value)) and bool(date.fromisoformat(value))
    except ValueError:
        return False


REVISION = re.compile(r"[0-9]{1,9}")


def revision(form: Form, field: str, shown_at: str) -> int | None:
    """The revision an edit form was made from (a hidden field); a damaged one is an error
    shown at the form's first field, since the hidden one has nowhere to show it."""
    value = form.data.get(field, "") or ""
    # Not isdigit()/int(): "²" passes isdigit() and 4,300 digits make int() raise.
    if REVISION.fullmatch(value):
        return int(value)
    form.errors.setdefault(shown_at, "This form could not be read. Reload the page and make your change again")
    return None


def rating(form: Form, field: str, values: set[int], required: bool = False) -> int | None:
    """A rating level from the framework's scale, or None to clear it."""
    choice = form.choice(field, "a rating", {str(v) for v in values}, required=required)
    form.clean[field] = int(choice) if choice else None
    return form.clean[field]


def session_form(data, section_numbers: set[int], with_facilitator: bool = True) -> Form:
    """The create-session (and settings) form."""
    form = Form(data)
    form.text("title", "a title", TITLE_MAX)
    form.text("organisation", "the organisation", TITLE_MAX)
    form.iso_date("date", "the workshop date")
    # Look the ticked values up rather than int() them: "²" passes isdigit() but not int().
    sections = {str(number): number for number in section_numbers}
    scope = sorted({sections[s] for s in data.getlist("scope") if s in sections})
    if not scope:
        form.errors["scope"] = "Select at least one section"
    form.clean["scope"] = scope
    # Unticked checkboxes send nothing, so "no" is their absence; anonymity only where the form
    # offered it (settings stop offering it once someone has rated).
    form.clean["auto_reveal"] = data.get("auto_reveal") == "yes"
    if data.get("anonymous_offered") == "yes":
        form.clean["anonymous"] = data.get("anonymous") == "yes"
    if with_facilitator:
        join_fields(form)
    return form


def join_fields(form: Form) -> Form:
    """Display name and perspective, as asked of everyone who joins."""
    form.text("name", "your name", NAME_MAX)
    form.choice("perspective", "your perspective", PERSPECTIVES)
    return form


def evidence_form(data) -> Form:
    """An evidence item: what it is, and an optional link or document name."""
    form = Form(data)
    form.text("text", "what the evidence is", ITEM_MAX, name="evidence")
    source = form.text("source", "a link or document name", ITEM_MAX, required=False)
    if source.lower().startswith(("http:", "https:")) and not _split(source).netloc:
        form.errors["source"] = "Enter a full link, like https://example.org/report, or a document name"
    return form


def action_form(data) -> Form:
    """An action: what, owner, due date and status."""
    form = Form(data)
    form.text("what", "what the action is", ITEM_MAX, name="the action")
    form.text("owner", "an owner", NAME_MAX, required=False)
    form.iso_date("due", "the due date", required=False)
    form.choice("status", "a status", ACTION_STATUSES)
    return form


def _split(source: str) -> SplitResult:
    """The parts of a link; none at all for text urlsplit cannot parse (like "http://[x")."""
    try:
        return urlsplit(source)
    except ValueError:
        return SplitResult("", "", source, "", "")


def is_link(source: str | None) -> bool:
    """Whether an evidence source is a web link we may render as <a href> (never javascript:)."""
    parts = _split(source or "")
    return parts.scheme in ("http", "https") and bool(parts.netloc)
