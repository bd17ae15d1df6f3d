"""The board report as a Word document, laid out like the NHS review group worksheet.

Built from `outputs.report(record)`, the same data as the HTML report. Made to be an
accessible document: real Heading 1/2/3 styles (sections, areas, indicators), tables whose
header row repeats on every page, the document's title and language set, no text as a
picture. Every string passes through `outputs.printable` and is XML-escaped, so hostile
text stays text.

python-docx makes the document (package, styles, properties, page size); the body is
written as WordprocessingML and parsed once. Adding it paragraph by paragraph through
python-docx's objects took 12 s for a full session (each styled paragraph searched every
style by name) and still 1.4 s with style ids set directly; the markup below is the same
that python-docx writes, made in about a tenth of that.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Mm, Pt

from .outputs import (HEAT_COLOURS, MOVEMENT_LABELS, MOVEMENT_SIGNS, PROGRESS_LABELS, median_text,
                      movement_words, printable)
from .worksheet import ACTION_STATUSES

LANGUAGE = "en-GB"
# Style ids of python-docx's default template, and the two this module adds for tables.
HEADINGS = {0: "Title", 1: "Heading1", 2: "Heading2", 3: "Heading3", 4: "Heading4"}
BULLET, SUBTITLE, GRID = "ListBullet", "Subtitle", "TableGrid"
TABLE_TEXT = {10: "TableText", 9: "TableSmall"}
TEXT_WIDTH = 9026  # twentieths of a point: A4 less 25.4 mm margins


class Body:
    """The document's body as WordprocessingML, one paragraph or table at a time."""

    def __init__(self):
        self.parts: list[str] = []

    def para(self, text: str = "", style: str | None = None, bold_label: str | None = None,
             new_page: bool = False) -> None:
        """A paragraph in a style (by id), optionally starting with a bold "label: "."""
        self.parts.append(_p(text, style, bold_label=bold_label, new_page=new_page))

    def heading(self, text: str, level: int, new_page: bool = False) -> None:
        """A real Heading n paragraph (what a screen reader's heading list and the PDF outline use)."""
        self.para(text, HEADINGS[level], new_page=new_page)

    def table(self, header: list[str], rows: list[list], weights: list[int] | None = None, size: int = 10) -> None:
        """A table whose header row repeats on every page; a cell is text or (text, fill, colour)."""
        weights = weights or [1] * len(header)
        widths = [TEXT_WIDTH * w // sum(weights) for w in weights]
        grid = "".join(f'<w:gridCol w:w="{w}"/>' for w in widths)
        head = _tr([(text, None, None) for text in header], widths, size, header=True)
        body = "".join(_tr([c if isinstance(c, tuple) else (c, None, None) for c in row], widths, size)
                       for row in rows)
        self.parts.append(f'<w:tbl><w:tblPr><w:tblStyle w:val="{GRID}"/><w:tblW w:w="0" w:type="auto"/>'
                          f'<w:tblLook w:val="04A0" w:firstRow="1" w:lastRow="0" w:firstColumn="1" w:lastColumn="0" '
                          f'w:noHBand="0" w:noVBand="1"/></w:tblPr><w:tblGrid>{grid}</w:tblGrid>{head}{body}</w:tbl>')

    def into(self, doc) -> None:
        """Put the body into the document, before its section properties."""
        parsed = parse_xml(f"<w:body {nsdecls('w')}>{''.join(self.parts)}</w:body>")
        sect = doc.element.body.sectPr
        for element in list(parsed):
            sect.addprevious(element)


def _p(text: str, style: str | None, bold_label: str | None = None, new_page: bool = False,
       bold: bool = False, colour: str | None = None) -> str:
    """One paragraph's markup."""
    props = (f'<w:pStyle w:val="{style}"/>' if style else "") + ("<w:pageBreakBefore/>" if new_page else "")
    runs = (_r(f"{bold_label}: ", bold=True) if bold_label else "") + (_r(text, bold, colour) if text else "")
    return f"<w:p>{f'<w:pPr>{props}</w:pPr>' if props else ''}{runs}</w:p>"


def _r(text: str, bold: bool = False, colour: str | None = None) -> str:
    """One run's markup: line breaks and tabs as Word's own, everything else escaped text."""
    props = ("<w:b/>" if bold else "") + (f'<w:color w:val="{colour}"/>' if colour else "")
    pieces = []
    for number, line in enumerate(printable(text).split("\n")):
        if number:
            pieces.append("<w:br/>")
        pieces.append("<w:tab/>".join(f'<w:t xml:space="preserve">{escape(part)}</w:t>' for part in line.split("\t")))
    return f"<w:r>{f'<w:rPr>{props}</w:rPr>' if props else ''}{''.join(pieces)}</w:r>"


def _tr(cells: list[tuple], widths: list[int], size: int, header: bool = False) -> str:
    """One table row's markup; a header row repeats at the top of every page."""
    tcs = []
    for (text, fill, colour), width in zip(cells, widths):
        shading = f'<w:shd w:val="clear" w:color="auto" w:fill="{fill}"/>' if fill else ""
        tcs.append(f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/>{shading}</w:tcPr>'
                   f"{_p(text, TABLE_TEXT[size], bold=header or bool(fill), colour=colour)}</w:tc>")
    props = '<w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>' if header else "<w:trPr><w:cantSplit/></w:trPr>"
    return f"<w:tr>{props}{''.join(tcs)}</w:tr>"


def build(report: dict) -> bytes:
    """The report as the bytes of a .docx file."""
    doc = Document()
    _set_up(doc, report)
    body = Body()
    _title_page(body, report)
    _summary(body, report)
    for section in report["summary"]["sections"]:
        _section(body, report, section)
    _action_plan(body, report["actions"])
    body.into(doc)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _set_up(doc, report: dict) -> None:
    """A4 pages; title, subject and language (which screen readers and PDF exports use);
    the table text styles."""
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(25.4)
    session = report["session"]
    props = doc.core_properties
    props.title = printable(f"{session['title']} – self-assessment report")
    props.subject = "Experience of care improvement self-assessment"
    props.author = printable(session["organisation"] or "ECSA Workshop")
    props.language = LANGUAGE
    props.keywords = "experience of care; self-assessment; review group"
    rpr = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:val"), LANGUAGE)
    for size, style_id in TABLE_TEXT.items():
        style = doc.styles.add_style(f"Table text {size} pt", WD_STYLE_TYPE.PARAGRAPH)
        style.element.styleId = style_id
        style.base_style = doc.styles["Normal"]
        style.font.size = Pt(size)
        style.paragraph_format.space_after = Pt(0)


def _title_page(body: Body, report: dict) -> None:
    """Organisation, session title, date, who took part by perspective, scope."""
    session = report["session"]
    body.para("Experience of care improvement self-assessment: review group report", SUBTITLE)
    body.heading(session["title"], 0)
    body.para(session["organisation"] or "Not given", bold_label="Organisation")
    body.para(session["date"], bold_label="Workshop date")
    body.para("; ".join(f"Section {n}: {t}" for n, t in report["scope"]), bold_label="Scope")
    body.para(f"{report['framework']['id']} version {report['framework']['version']}", bold_label="Framework")
    body.para(f"{report['exported_at'].replace('T', ' ').replace('Z', ' UTC')}, from the session record",
              bold_label="Made")
    body.para("", bold_label="Who took part")
    for perspective, names in report["people"]:
        body.para(f"{perspective}: {', '.join(names)}", BULLET)


def _summary(body: Body, report: dict) -> None:
    """Progress per section, the heatmap as a shaded table, movements, what is still to do."""
    summary = report["summary"]
    body.heading("Summary", 1, new_page=True)
    rows = [[f"{s['number']}. {s['title']}"] + [str(s["counts"][k]) for k in PROGRESS_LABELS]
            + [str(s["counts"]["total"])] for s in summary["sections"]]
    rows.append(["All sections"] + [str(summary["counts"][k]) for k in PROGRESS_LABELS]
                + [str(summary["counts"]["total"])])
    body.table(["Section", *PROGRESS_LABELS.values(), "All"], rows, weights=[4, 1, 1, 1, 1, 1])
    if summary["baseline"]:
        _movements(body, summary)
    body.heading("Heatmap of agreed ratings", 2)
    key = "; ".join(f"{level['value']} {level['label']}" for level in summary["scale"])
    body.para(f"Each cell shows the indicator, its agreed rating ({key}; – not yet agreed)"
              + (" and its movement (▲ up, ▼ down, = same, + new)" if summary["baseline"] else "")
              + ", shaded from dark (low) to light (high).")
    _heatmap(body, summary)
    body.heading("Still to do", 2)
    if report["not_agreed"]:
        body.para(f"{len(report['not_agreed'])} of {summary['counts']['total']} indicators have no agreed "
                  f"rating yet: {', '.join(report['not_agreed'])}.")
    else:
        body.para("Every indicator in scope has an agreed rating.")
    if report["not_locked"]:
        body.para(f"Agreed but not yet locked: {', '.join(report['not_locked'])}.")


def _movements(body: Body, summary: dict) -> None:
    """How ratings moved since the earlier assessment, and which indicators moved."""
    source = summary["baseline"]["source"]
    body.heading("Movements since the earlier assessment", 2)
    counts = ", ".join(f"{summary['movements'][k]} {label.lower()}" for k, label in MOVEMENT_LABELS.items())
    body.para(f"Compared with {source['title']} of {source['date']}: {counts}.")
    moved = [cell for s in summary["sections"] for a in s["areas"] for cell in a["cells"]
             if cell["movement"] in ("up", "down", "new")]
    if moved:
        body.table(["Indicator", "Earlier", "Now", "Movement"],
                   [[c["id"], "–" if c["earlier"] is None else str(c["earlier"]), str(c["value"]),
                     f"{MOVEMENT_SIGNS[c['movement']]} {movement_words(c)}"] for c in moved], weights=[1, 1, 1, 3])


def _heatmap(body: Body, summary: dict) -> None:
    """One row per area: its median, then a shaded cell per indicator (the number always printed)."""
    width = max(len(a["cells"]) for s in summary["sections"] for a in s["areas"])
    rows = []
    for section in summary["sections"]:
        for area in section["areas"]:
            cells = []
            for heat in area["cells"]:
                sign = f" {MOVEMENT_SIGNS[heat['movement']]}" if heat["movement"] else ""
                value = "–" if heat["value"] is None else str(heat["value"])
                fill, colour = HEAT_COLOURS[heat["step"]]
                cells.append((f"{heat['id']}: {value}{sign}", fill, colour))
            rows.append([f"{area['number']}. {area['title'].capitalize()}", median_text(area["median"]) or "–"]
                        + cells + [""] * (width - len(cells)))
    body.table(["Area", "Median"] + ["Indicator"] * width, rows, weights=[6, 2] + [2] * width, size=9)


def _section(body: Body, report: dict, section: dict) -> None:
    """A section on a new page: each area, and each indicator's worksheet."""
    body.heading(f"Section {section['number']}: {section['title']}", 1, new_page=True)
    for area in section["areas"]:
        body.heading(f"Area {area['number']}: {area['title'].capitalize()}", 2)
        if area["median"] is not None:
            body.para(median_text(area["median"]), bold_label="Median agreed rating")
        for indicator in area["indicators"]:
            _indicator(body, report, indicator)


def _indicator(body: Body, report: dict, indicator: dict) -> None:
    """One indicator as the review group worksheet shows it."""
    cell = indicator["cell"]
    body.heading(f"Indicator {indicator['id']}", 3)
    body.para(indicator["statement"])
    for bullet in indicator["bullets"]:
        body.para(bullet, BULLET)
    agreed = "not yet agreed" if cell["value"] is None else f"{cell['value']} – {cell['label']}"
    body.para(f"{agreed} ({PROGRESS_LABELS[cell['progress']].lower()})", bold_label="Agreed rating")
    if report["summary"]["baseline"]:
        earlier = "no agreed rating" if cell["earlier"] is None else str(cell["earlier"])
        moved = f"; {MOVEMENT_LABELS[cell['movement']].lower()}" if cell["movement"] else ""
        body.para(earlier + moved, bold_label="Earlier assessment")
    if indicator["rationale"]:
        body.para(indicator["rationale"], bold_label="Rationale")
    body.heading("How the group rated", 4)
    if indicator["voters"] and indicator["anonymous"]:
        body.table(["Rating", "People"], [[f"{d['value']} – {d['label']}", str(d["count"])]
                                          for d in indicator["distribution"]], weights=[3, 1])
    elif indicator["voters"]:
        body.table(["Rating", "People", "Who"],
                   [[f"{d['value']} – {d['label']}", str(d["count"]), ", ".join(d["names"])]
                    for d in indicator["distribution"]], weights=[3, 1, 6])
    else:
        body.para("No ratings were revealed.")
    body.heading("Evidence", 4)
    _items(body, [e["text"] + (f" ({e['source']})" if e["source"] else "") + f" – {e['author_name']}"
                  for e in indicator["evidence"]], "No evidence recorded.")
    body.heading("Discussion notes", 4)
    if indicator["notes"].strip():
        for block in indicator["notes"].split("\n\n"):
            body.para(block)
    else:
        body.para("No notes were written.")
    body.heading("Actions", 4)
    _items(body, [_action_text(a) for a in indicator["actions"]], "No actions agreed.")


def _action_text(action: dict) -> str:
    """An action in one line: what, status, owner, due date."""
    owner = f", owner {action['owner']}" if action["owner"] else ""
    due = f", due {action['due']}" if action["due"] else ""
    return f"{action['what']} – {ACTION_STATUSES[action['status']]}{owner}{due}"


def _items(body: Body, texts: list[str], none: str) -> None:
    """A bulleted list, or a sentence saying there is nothing."""
    if not texts:
        body.para(none)
    for text in texts:
        body.para(text, BULLET)


def _action_plan(body: Body, actions: list[dict]) -> None:
    """The whole action plan as one table, on a new page."""
    body.heading("Action plan", 1, new_page=True)
    if not actions:
        body.para("No actions have been recorded yet.")
        return
    body.table(["Indicator", "Action", "Owner", "Due", "Status"],
               [[a["indicator"], a["what"], a["owner"] or "", a["due"] or "", ACTION_STATUSES[a["status"]]]
                for a in actions], weights=[2, 9, 3, 3, 3], size=9)
