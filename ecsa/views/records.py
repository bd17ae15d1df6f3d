"""The record: download a session as JSON, and start a new session from an earlier record."""

from __future__ import annotations

import csv
import hashlib
import io
import json

from flask import Blueprint, Response, redirect, render_template, request, url_for

from .. import forms, record, workshops
from .common import create_once, form_attempt, load_workshop, remember, require_actor, submission_key
from .sessions import _show_once

bp = Blueprint("records", __name__)


@bp.get("/s/<session_id>/record")
def download(session_id):
    """The session as one JSON file (`ecsa-record-<title-slug>-<date>.json`)."""
    workshop = load_workshop(session_id)
    actor = require_actor(workshop)
    workshop.fold_notes()  # so the audit log names everyone who typed notes until now
    body = json.dumps(record.export(workshop, actor), ensure_ascii=False, indent=2)
    name = record.file_name(workshop.details)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/s/<session_id>/action-plan.csv")
def action_plan(session_id):
    """Every action of the session as a CSV action plan (`ecsa-action-plan-<slug>-<date>.csv`)."""
    workshop = load_workshop(session_id)
    actor = require_actor(workshop)
    out = io.StringIO()
    csv.writer(out).writerows(record.action_plan(record.export(workshop, actor)))
    name = record.file_name(workshop.details).replace("ecsa-record-", "ecsa-action-plan-").replace(".json", ".csv")
    # The byte-order mark makes Excel read the file as UTF-8 (names with accents, emoji).
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/import", methods=["GET", "POST"])
def import_record():
    """Start a new session that continues from an earlier record."""
    if request.method == "GET":
        return render_template("import.html", form=forms.Form({}), attempt=form_attempt())
    form = forms.join_fields(forms.Form(request.form))
    upload, raw = request.files.get("record"), b""
    if upload is None or not upload.filename:
        form.errors["record"] = "Choose a record file to import"
    else:
        try:
            raw = upload.read(record.MAX_IMPORT_BYTES + 1)
            earlier = record.read_import(raw, workshops().framework)
        except record.RecordError as problem:
            form.errors["record"] = str(problem)
    if not form.valid:
        return render_template("import.html", form=form, attempt=form_attempt()), 422
    name, perspective = form.clean["name"], form.clean["perspective"]
    workshop, facilitator, token = create_once(
        submission_key("import", hashlib.sha256(raw).hexdigest(), name, perspective),
        lambda: workshops().create(record.continued_details(earlier), name, perspective,
                                   history=record.history(earlier), facilitator_id=_same_person(earlier, name)))
    remember(workshop, facilitator)
    _show_once(workshop, token)
    return redirect(url_for("sessions.share", session_id=workshop.id), code=303)


def _same_person(earlier: dict, name: str) -> str | None:
    """The id of the earlier participant with this name, so one person is not listed twice."""
    matches = [p["id"] for p in earlier["participants"] if p["name"].casefold() == name.casefold()]
    return matches[0] if matches else None
