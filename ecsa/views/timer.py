"""The facilitator's timebox on an indicator: one form, five things to do with it.

Every timer change is an event on the indicator's worksheet (see ecsa/timebox.py), made
here with the server's clock and answered like any other change: the `timer` block, or a
303 back to the page without JavaScript.
"""

from __future__ import annotations

import time

from flask import Blueprint, request

from .. import forms, timebox
from ..events import Event
from .worksheets import change

bp = Blueprint("timer", __name__, url_prefix="/s/<session_id>")

DOINGS = {"start": "timer_started", "pause": "timer_paused", "resume": "timer_resumed",
          "extend": "timer_extended", "stop": "timer_stopped"}

# The lengths the template offers, from where the rules keep them.
bp.record_once(lambda state: state.app.jinja_env.globals.update(
    TIMER_PRESETS=timebox.PRESETS, TIMER_MINUTES=(timebox.MINUTES_MIN, timebox.MINUTES_MAX)))


def now_ms() -> int:
    """The server's clock in epoch milliseconds: every timer runs on it, never on a browser's."""
    return int(time.time() * 1000)


@bp.app_template_global("timer_view")
def timer_view(timer: dict | None) -> dict:
    """What the timer block shows of a worksheet's timer now (see timebox.view)."""
    return timebox.view(timer, now_ms())


@bp.post("/i/<indicator_id>/timer")
def run_timer(session_id, indicator_id):
    """Start, pause, resume, add a minute to or stop the indicator's timer (facilitator only)."""
    form = forms.Form(request.form)
    doing = request.form.get("do", "")
    if doing not in DOINGS:
        form.errors["do"] = "This form could not be read. Reload the page and try again"
    data = {"now_ms": now_ms()}
    if doing == "start":
        data["seconds"] = _length_in_seconds(form)
    elif doing == "extend":
        data["seconds"] = timebox.EXTEND_SECONDS
    # An unreadable `do` still makes a timer event, so that who may is checked first (a
    # participant gets 403 whatever was sent); being an error, it is never applied.
    return change(session_id, indicator_id, "timer",
                  lambda actor: Event.by(actor, DOINGS.get(doing, "timer_started"), indicator_id, **data),
                  form, "timer")


def _length_in_seconds(form: forms.Form) -> int | None:
    """The length chosen (a preset button) or typed (the custom field), both sent as
    `minutes`, in seconds; an error beside the custom field if it is not one we allow."""
    minutes = timebox.parse_minutes(form.data.get("minutes"))
    if minutes is None:
        form.errors["minutes"] = timebox.LENGTH_MESSAGE
        return None
    form.clean["minutes"] = minutes
    return minutes * 60
