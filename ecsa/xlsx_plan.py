"""The action plan as an Excel workbook, from the same rows as the CSV (record.action_plan).

A header row with filters that stays in view, sensible column widths, due dates as real
dates, and status and review as lists to pick from. Cells that a spreadsheet would run as a
formula are prefixed with `'` exactly as in the CSV, and every cell is written as text (never
as a formula), so hostile text stays text.
"""

from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.datavalidation import DataValidation

from .outputs import printable
from .record import ACTION_PLAN_COLUMNS, action_plan
from .review import STATUSES as REVIEW_STATUSES
from .worksheet import ACTION_STATUSES

WIDTHS = {"Indicator": 10, "Section": 9, "Area": 7, "Action": 60, "Owner": 24, "Due": 12, "Status": 14,
          "Added by": 24, "Status last time": 14, "Review": 14, "Review note": 48}
DUE = ACTION_PLAN_COLUMNS.index("Due")
STATUS = ACTION_PLAN_COLUMNS.index("Status")
REVIEW = ACTION_PLAN_COLUMNS.index("Review")
NUMBERS = (ACTION_PLAN_COLUMNS.index("Section"), ACTION_PLAN_COLUMNS.index("Area"))


def build(record_data: dict) -> bytes:
    """Every action of a record as the bytes of an .xlsx file."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Action plan"
    rows = action_plan(record_data)
    sheet.append(rows[0])
    for row in rows[1:]:
        sheet.append([_value(number, text) for number, text in enumerate(row)])
    _format(sheet, len(rows))
    book.properties.title = printable(f"Action plan: {record_data['session']['title']}")
    book.properties.language = "en-GB"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _value(column: int, text: str):
    """A cell's value: a due date as a date, section and area as numbers, anything else as text."""
    if column == DUE and text:
        return date.fromisoformat(text)
    if column in NUMBERS:
        return int(text)
    return printable(text)


def _format(sheet, count: int) -> None:
    """Bold header with filters, kept in view; widths; date format; status and review lists."""
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in sheet.iter_rows(min_row=2):
        for number, cell in enumerate(row):
            if number == DUE and cell.value:
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(cell.value, str):
                cell.data_type = "s"  # never "f": openpyxl would store "=..." as a formula
    for number, name in enumerate(ACTION_PLAN_COLUMNS):
        sheet.column_dimensions[chr(ord("A") + number)].width = WIDTHS[name]
    last = chr(ord("A") + len(ACTION_PLAN_COLUMNS) - 1)
    sheet.auto_filter.ref = f"A1:{last}{max(count, 2)}"
    sheet.freeze_panes = "A2"
    _pick_list(sheet, STATUS, ACTION_STATUSES, count, blank=False)
    _pick_list(sheet, REVIEW, REVIEW_STATUSES, count, blank=True)  # only earlier actions have a review


def _pick_list(sheet, column: int, labels: dict, count: int, blank: bool) -> None:
    """A column whose cells are picked from a list of labels."""
    choices = DataValidation(type="list", formula1='"' + ",".join(labels.values()) + '"',
                             allow_blank=blank, showErrorMessage=True, error="Choose from the list.")
    sheet.add_data_validation(choices)
    letter = chr(ord("A") + column)
    choices.add(f"{letter}2:{letter}{max(count, 2) + 500}")  # rows added later get the list too
