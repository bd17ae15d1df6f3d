"""A damaged session never stops the server: it is reported in one line, left untouched on
disk, answered with the damaged-file page, and every other session is served."""

from __future__ import annotations

import json
import os
import shutil
import zlib

import pycrdt
import pytest

from conftest import SESSION_FORM
from ecsa import create_app
from ecsa.notes import encode_record


def make_app(data_dir: str):
    """The app over a data folder, as `python app.py` would start it."""
    return create_app({"TESTING": True, "DATA_DIR": data_dir})


def new_session(app) -> str:
    """Create a session through the start page; returns its id."""
    created = app.test_client().post("/sessions", data=SESSION_FORM)
    assert created.status_code == 303
    return created.headers["Location"].split("/")[2]


def edit_tables(path: str, change) -> None:
    """Rewrite a session file after change(tables) (the file as TinyDB keeps it)."""
    with open(path, encoding="utf-8") as f:
        tables = json.load(f)
    change(tables)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tables, f)


def details(tables: dict) -> dict:
    """The session details document."""
    return tables["session"]["1"]


def bad_notes_log(path: str) -> None:
    """A log whose one record has a valid CRC but an update pycrdt cannot read."""
    with open(path.replace(".json", ".notes.log"), "wb") as log:
        log.write(encode_record("1a", "someone", b"\xff\xff\xff\xff\x0f\x00garbage"))


def formatted_notes_log(path: str) -> None:
    """A log whose one record is a real Yjs update, but one that formats text (never accepted)."""
    doc = pycrdt.Doc()
    text = doc.get("notes", type=pycrdt.Text)
    text.insert(0, "bold", {"bold": True})
    with open(path.replace(".json", ".notes.log"), "wb") as log:
        log.write(encode_record("1a", "someone", doc.get_update()))


DAMAGE = {
    "empty file": lambda path: open(path, "w").close(),
    "cut short": lambda path: open(path, "r+b").truncate(os.path.getsize(path) // 2),
    "not UTF-8": lambda path: open(path, "wb").write(b'{"session": {"1": {"title": "\xff"}}}'),
    "a list, not tables": lambda path: open(path, "w").write("[]"),
    "a table that is a list": lambda path: edit_tables(path, lambda t: t.update(audit=[])),
    "no session details": lambda path: edit_tables(path, lambda t: t.pop("session")),
    "no join code": lambda path: edit_tables(path, lambda t: details(t).pop("join_code")),
    "another session's id": lambda path: edit_tables(path, lambda t: details(t).update(id="someone-else")),
    "a scope outside the framework": lambda path: edit_tables(path, lambda t: details(t).update(scope=[1, 99])),
    "no facilitator token": lambda path: edit_tables(path, lambda t: t.pop("secrets")),
    "a participant without a name": lambda path: edit_tables(path, lambda t: t["participants"]["1"].pop("name")),
    "no facilitator": lambda path: edit_tables(path, lambda t: t["participants"]["1"].update(role="participant")),
    "half a surrogate pair": lambda path: edit_tables(path, lambda t: details(t).update(title="T\ud800")),
    "a folder in place of the file": lambda path: (os.remove(path), os.mkdir(path)),
    "a notes log with an unreadable update": bad_notes_log,
    "a notes log with formatted text": formatted_notes_log,
}


def snapshot(folder: str) -> dict[str, bytes | None]:
    """Every file in the sessions folder with its bytes (None for a folder)."""
    found = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        found[name] = None if os.path.isdir(path) else open(path, "rb").read()
    return found


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_session_is_reported_left_untouched_and_the_others_are_served(tmp_path, kind):
    data_dir = str(tmp_path / "data")
    first = make_app(data_dir)
    damaged, healthy = new_session(first), new_session(first)
    folder = first.extensions["ecsa"].directory.folder
    DAMAGE[kind](os.path.join(folder, f"{damaged}.json"))
    before = snapshot(folder)

    restarted = make_app(data_dir)

    problems = restarted.extensions["ecsa"].problems
    assert len(problems) == 1 and damaged in str(problems[0]) and "\n" not in str(problems[0])
    page = restarted.test_client().get(f"/s/{damaged}/")
    assert page.status_code == 500 and "damaged" in page.get_data(as_text=True)
    assert restarted.extensions["ecsa"].get(healthy) is not None
    visitor = restarted.test_client()
    code = restarted.extensions["ecsa"].get(healthy).details["join_code"]
    assert visitor.post(f"/join/{code}", data={"name": "Pat", "perspective": "staff"}).status_code == 303
    assert visitor.get(f"/s/{healthy}/").status_code == 200
    assert new_session(restarted)
    after = snapshot(folder)
    for name in [name for name in before if name.startswith(damaged)]:
        assert after[name] == before[name], f"{name} was changed"


def test_two_sessions_with_one_join_code_keep_the_first_and_report_the_second(tmp_path):
    data_dir = str(tmp_path / "data")
    first = make_app(data_dir)
    one, two = sorted([new_session(first), new_session(first)])
    folder = first.extensions["ecsa"].directory.folder
    code = first.extensions["ecsa"].get(one).details["join_code"]
    edit_tables(os.path.join(folder, f"{two}.json"), lambda t: details(t).update(join_code=code))

    restarted = make_app(data_dir)

    assert [two in str(p) for p in restarted.extensions["ecsa"].problems] == [True]
    assert restarted.extensions["ecsa"].by_code(code).id == one


def test_a_good_folder_starts_with_no_problems(tmp_path):
    data_dir = str(tmp_path / "data")
    first = make_app(data_dir)
    new_session(first)
    shutil.copytree(data_dir, tmp_path / "copy")
    assert make_app(str(tmp_path / "copy")).extensions["ecsa"].problems == []
