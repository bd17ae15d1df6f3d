"""What a session produces: the board report (HTML and Word), the action plan in Excel,
and the earlier assessment the session is compared with. All built from the record."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, url_for

from .. import docx_report, outputs, record, workshops, xlsx_plan
from ..worksheet import Forbidden
from .common import load_workshop, require_actor, require_facilitator
from .worksheets import overview_context

bp = Blueprint("reports", __name__, url_prefix="/s/<session_id>")


@bp.record_once
def _template_globals(state) -> None:
    """Names the progress, heatmap and report templates use (also in blocks rendered alone)."""
    state.app.jinja_env.globals.update(outputs.TEMPLATE_GLOBALS)


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _session_record(session_id: str) -> tuple:
    """The workshop (for a joined browser only) and its record, notes folded in first."""
    workshop = load_workshop(session_id)
    actor = require_actor(workshop)
    workshop.fold_notes()  # so the report holds what was typed until now
    return workshop, actor, record.export(workshop, actor)


def _download(body: bytes, mimetype: str, details: dict, kind: str, extension: str) -> Response:
    """A file to save, named like the record (`ecsa-<kind>-<title-slug>-<date>.<extension>`)."""
    name = record.file_name(details).replace("ecsa-record-", f"ecsa-{kind}-").replace(".json", f".{extension}")
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/report")
def report(session_id):
    """The board report as a page made to be printed (Print → Save as PDF)."""
    workshop, actor, exported = _session_record(session_id)
    return render_template("report.html", workshop=workshop, details=workshop.details, actor=actor,
                           report=outputs.report(exported, workshop.framework))


@bp.get("/report.docx")
def report_docx(session_id):
    """The board report as a Word document laid out like the review group worksheet."""
    workshop, _, exported = _session_record(session_id)
    body = docx_report.build(outputs.report(exported, workshop.framework))
    return _download(body, DOCX, workshop.details, "report", "docx")


@bp.get("/action-plan.xlsx")
def action_plan_xlsx(session_id):
    """Every action as an Excel workbook: filters, real dates, status as a list."""
    workshop, _, exported = _session_record(session_id)
    return _download(xlsx_plan.build(exported), XLSX, workshop.details, "action-plan", "xlsx")


@bp.post("/compare")
def compare(session_id):
    """Compare this session with an earlier assessment's record (facilitator only)."""
    workshop = load_workshop(session_id)
    actor = require_facilitator(workshop)
    upload = request.files.get("record")
    try:
        if upload is None or not upload.filename:
            raise record.RecordError("Choose the record of the earlier assessment.")
        earlier = record.read_import(upload.read(record.MAX_IMPORT_BYTES + 1), workshops().framework)
        workshop.set_baseline(actor, record.baseline_of(earlier))
    except (record.RecordError, Forbidden) as problem:
        context = overview_context(workshop, actor, compare_error=str(problem))
        return render_template("overview.html", **context), 422
    return redirect(url_for("worksheets.overview", session_id=session_id) + "#progress", code=303)
