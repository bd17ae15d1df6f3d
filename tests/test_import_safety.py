"""An imported record is checked whole before anything touches the disk, and writing it
never holds up another session."""

from __future__ import annotations

import copy
import io
import json
import os
import threading

import pytest

from conftest import SESSION_FORM
from ecsa import create_app, record, storage

ORIGIN = "http://localhost"


def registry(app):
    """The app's session registry."""
    return app.extensions["ecsa"]


def sessions_folder(app) -> str:
    """Where the app keeps its session files."""
    return registry(app).directory.folder


def files_in(app) -> set[str]:
    """The files in the sessions folder."""
    return set(os.listdir(sessions_folder(app)))


def import_file(client, raw: bytes, name: str = "Fay Facilitator"):
    """Post a record file to "Continue from an earlier record"."""
    return client.post("/import", data={"record": (io.BytesIO(raw), "record.json"), "name": name,
                                        "perspective": "staff"}, content_type="multipart/form-data")


@pytest.fixture
def earlier(app, facilitator, participant) -> dict:
    """The record of a session with a participant, evidence, an action and a rating."""
    participant.post("/i/1a/evidence", {"text": "Survey", "source": ""})
    participant.post("/i/1a/action", {"what": "Ask carers", "owner": "", "due": "", "status": "open"})
    participant.post("/i/1a/vote", {"value": "3"})
    return json.loads(facilitator.get("/record").get_data(as_text=True))


def as_bytes(document: dict) -> bytes:
    """A record as the file a facilitator would upload (escapes kept as the JSON has them)."""
    return json.dumps(document).encode("utf-8")


@pytest.mark.parametrize("where", ["title", "organisation", "notes", "evidence", "participant", "audit", "key"])
def test_text_that_is_not_valid_unicode_is_refused_and_nothing_is_written(app, client, earlier, where):
    """A lone surrogate is valid JSON but cannot be stored: it used to leave `{}` on disk and
    stop the server from ever starting again."""
    bad = copy.deepcopy(earlier)
    lone = "T\ud800"
    if where in ("title", "organisation"):
        bad["session"][where] = lone
    elif where == "notes":
        bad["indicators"][0]["notes"] = lone
    elif where == "evidence":
        bad["indicators"][0]["evidence"][0]["text"] = lone
    elif where == "participant":
        bad["participants"][1]["name"] = lone
    elif where == "audit":
        bad["audit"][-1]["data"]["text"] = lone
    else:
        bad["audit"][-1]["data"][lone] = "x"
    before = files_in(app)
    answer = import_file(client, as_bytes(bad))
    assert answer.status_code == 422
    assert "not valid Unicode" in answer.get_data(as_text=True)
    assert files_in(app) == before
    restarted = create_app({"TESTING": True, "DATA_DIR": app.config["DATA_DIR"]})
    assert restarted.extensions["ecsa"].problems == []


@pytest.mark.parametrize("repeat, message", [
    ("indicator", "indicator &#39;1a&#39; twice"),
    ("participant", "participant"),
    ("evidence", "evidence item"),
    ("action", "action"),
    ("vote", "two ratings by participant"),
])
def test_a_record_listing_one_thing_twice_is_refused(app, client, earlier, repeat, message):
    """Two copies of one indicator: the page showed the first and the export the second."""
    bad = copy.deepcopy(earlier)
    first = bad["indicators"][0]
    if repeat == "indicator":
        bad["indicators"].append(dict(copy.deepcopy(first), notes="The other copy"))
    elif repeat == "participant":
        bad["participants"].append(copy.deepcopy(bad["participants"][1]))
    elif repeat == "evidence":
        first["evidence"].append(copy.deepcopy(first["evidence"][0]))
    elif repeat == "action":
        first["actions"].append(copy.deepcopy(first["actions"][0]))
    else:
        votes = first["rounds"][0]["votes"]
        votes.append(dict(votes[0], value=1))
    before = files_in(app)
    answer = import_file(client, as_bytes(bad))
    assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    assert files_in(app) == before


def test_a_session_file_that_cannot_be_written_leaves_nothing_behind(app, monkeypatch):
    """If the one write of a new session fails, there is no file (never a half-made `{}`)."""
    def full_disk(path, data, mode=0o600):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(storage, "atomic_write", full_disk)
    before = files_in(app)
    with pytest.raises(OSError):
        registry(app).create({"title": "T", "organisation": "O", "date": "2026-12-01", "scope": [1]}, "Fay", "staff")
    assert files_in(app) == before
    assert registry(app).directory.ids() == []


def test_a_big_record_is_written_as_one_file_in_one_write(app, client, earlier, monkeypatch):
    """10,000 audit events: one atomic write of the whole session, not one per row."""
    big = copy.deepcopy(earlier)
    event = big["audit"][-1]
    big["audit"] = [dict(event, id=n) for n in range(1, 10_001)]
    writes = []
    real = storage.atomic_write
    monkeypatch.setattr(storage, "atomic_write", lambda path, data, mode=0o600: (writes.append(path), real(path, data, mode)))
    answer = import_file(client, as_bytes(big))
    assert answer.status_code == 303
    session_id = answer.headers["Location"].split("/")[2]
    assert [os.path.basename(path) for path in writes] == [f"{session_id}.json"]
    assert len(registry(app).get(session_id).audit()) == 10_000


def test_writing_an_import_holds_up_no_other_session(app, client, facilitator, earlier, monkeypatch):
    """While a new session's file is being written, another session's pages and forms answer."""
    writing, release = threading.Event(), threading.Event()
    real = storage.atomic_write

    def slow_write(path, data, mode=0o600):
        if b'"continued_from":[{' in data and not writing.is_set():  # the imported session's file
            writing.set()
            assert release.wait(10)
        return real(path, data, mode)
    monkeypatch.setattr(storage, "atomic_write", slow_write)
    answers = []
    importer = threading.Thread(target=lambda: answers.append(import_file(app.test_client(), as_bytes(earlier))))
    importer.start()
    try:
        assert writing.wait(10)
        assert facilitator.get("/").status_code == 200
        assert facilitator.get("/i/1a").status_code == 200
        assert facilitator.post("/i/1a/evidence", {"text": "Written meanwhile", "source": ""}).status_code == 303
        assert client.post("/sessions", data=SESSION_FORM).status_code == 303
        assert importer.is_alive()  # all of that happened while the import was still writing
    finally:
        release.set()
        importer.join(10)
    assert answers[0].status_code == 303


def test_a_join_code_is_only_offered_once_its_session_is_written(app, facilitator, monkeypatch):
    """Mid-write, the new session's code finds nothing (rather than a half-made session)."""
    seen = []
    real = storage.atomic_write

    def peek(path, data, mode=0o600):
        if path.endswith(".json") and facilitator.session_id not in path:
            codes = registry(app)._by_code
            seen.extend(code for code, sid in codes.items() if sid == "")
            seen.extend(registry(app).by_code(code) for code, sid in codes.items() if sid == "")
        return real(path, data, mode)
    monkeypatch.setattr(storage, "atomic_write", peek)
    workshop, _, _ = registry(app).create({"title": "T", "organisation": "O", "date": "2026-12-01", "scope": [1]},
                                          "Fay", "staff")
    code = workshop.details["join_code"]
    assert seen == [code, None]
    assert registry(app).by_code(code).id == workshop.id
