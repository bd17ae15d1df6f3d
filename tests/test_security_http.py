"""Security over HTTP: user text escaped everywhere, headers, secrets kept out of records and logs, limits, modes."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import os
import re
import stat
import threading

import pytest
from markupsafe import escape
from werkzeug.serving import make_server

from ecsa import create_app

EVIL = """<script>alert("x")</script> & 'quoted' <img src=x onerror=alert(1)>"""
RAW = ("<script>alert", "<img src=x")
SESSION = {"title": EVIL, "organisation": EVIL, "date": "2026-12-01", "scope": ["1"], "name": EVIL,
           "perspective": "staff"}


def text(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def assert_escaped(body: str, where: str = "") -> None:
    """User text appears only in its escaped form."""
    for raw in RAW:
        assert raw not in body, where
    assert str(escape(EVIL)) in body, where


@pytest.fixture
def evil(app):
    """A session whose title, organisation, facilitator name and first indicator hold hostile text."""
    client = app.test_client()
    created = client.post("/sessions", data=SESSION)
    assert created.status_code == 303
    session_id = created.headers["Location"].split("/")[2]
    share = text(client.get(created.headers["Location"]))
    base = f"/s/{session_id}"
    client.post(f"{base}/i/1a/notes", data={"notes": EVIL, "base": ""})
    client.post(f"{base}/i/1a/evidence", data={"text": EVIL, "source": EVIL})
    client.post(f"{base}/i/1a/action", data={"what": EVIL, "owner": EVIL[:80], "due": "", "status": "open"})
    client.post(f"{base}/i/1a/vote", data={"value": "2"})
    client.post(f"{base}/i/1a/agreed", data={"agreed": "2", "rationale": "What the group agreed."})
    client.post(f"{base}/i/1a/lock")
    client.post(f"{base}/i/1a/unlock", data={"reason": EVIL})
    for write, data in (("notes", {"notes": EVIL, "base": ""}), ("evidence", {"text": EVIL, "source": EVIL}),
                        ("agreed", {"agreed": "4", "rationale": "What the group agreed."}), ("lock", {})):
        client.post(f"{base}/i/1b/{write}", data=data)  # 1b stays locked: its read-only view
    token = re.search(r"/facilitator/([A-Za-z0-9_-]+)", share)[1]
    code = app.extensions["ecsa"].get(session_id).details["join_code"]
    return client, base, token, code


# --- escaping ---------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/share", "/settings", "/i/1a", "/i/1b"])
def test_hostile_session_text_is_escaped_in_every_page(evil, path):
    client, base, _, _ = evil
    page = client.get(base + path)
    assert page.status_code == 200
    assert_escaped(text(page), path)
    if path == "/i/1b":
        assert "Read-only until the facilitator unlocks it." in text(page)
        assert f'aria-label="Discussion notes (locked)">{escape(EVIL)}' in text(page)


def test_hostile_session_text_is_escaped_on_the_join_page(app, evil):
    page = app.test_client().get(f"/join/{evil[3]}")
    assert_escaped(text(page))


@pytest.mark.parametrize("block", ["notes", "evidence", "ratings", "actions", "worksheet"])
def test_hostile_worksheet_text_is_escaped_in_fragments(evil, block):
    client, base, _, _ = evil
    fragment = text(client.get(f"{base}/i/1a?block={block}", headers={"HX-Request": "true"}))
    assert "<html" not in fragment
    for raw in RAW:
        assert raw not in fragment
    if block != "ratings":
        assert str(escape(EVIL)) in fragment or str(escape(EVIL[:80])) in fragment


def test_hostile_text_is_escaped_in_fragments_answering_a_save(evil):
    client, base, _, _ = evil
    saved = client.post(f"{base}/i/1a/notes", data={"notes": EVIL + EVIL, "base": EVIL},
                        headers={"HX-Request": "true"})
    assert saved.status_code == 200
    assert_escaped(text(saved))
    item = client.post(f"{base}/i/1a/evidence", data={"text": EVIL, "source": ""}, headers={"HX-Request": "true"})
    assert_escaped(text(item))


def test_hostile_text_typed_into_a_refused_form_is_escaped(app, client):
    refused = client.post("/sessions", data=dict(SESSION, date="bad"))
    assert refused.status_code == 422
    assert_escaped(text(refused))
    code = client.post("/join", data={"code": EVIL})
    assert code.status_code == 404 and "<SCRIPT>" not in text(code) and "&lt;SCRIPT&gt;" in text(code)


def test_hostile_participant_name_is_escaped_wherever_it_shows(app, evil):
    client, base, _, code = evil
    stranger = app.test_client()
    stranger.post(f"/join/{code}", data={"name": EVIL[:80], "perspective": "other"})
    stranger.post(f"{base}/i/1a/unlock", data={"reason": "x"})
    stranger.post(f"{base}/i/1b/vote", data={"value": "3"})
    page = text(stranger.get(f"{base}/i/1b"))
    for raw in RAW:
        assert raw not in page
    assert page.count(str(escape(EVIL[:80]))) >= 2  # the header and the vote


@pytest.mark.parametrize("source", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>x</script>",
                                    '//evil.example/"onmouseover="alert(1)'])
def test_evidence_source_that_is_not_a_web_link_is_never_a_link(facilitator, source):
    facilitator.post("/i/1a/evidence", {"text": "Look", "source": source})
    page = text(facilitator.get("/i/1a"))
    assert 'href="javascript' not in page.lower() and 'href="data:' not in page and 'href="//' not in page
    assert "onmouseover=\"alert" not in page


def test_evidence_web_link_is_escaped_inside_its_href(facilitator):
    facilitator.post("/i/1a/evidence", {"text": "Report", "source": 'https://example.org/a?b=1&c="x"'})
    page = text(facilitator.get("/i/1a"))
    assert 'href="https://example.org/a?b=1&amp;c=&#34;x&#34;"' in page


def test_not_found_page_does_not_echo_the_address(client):
    missing = client.get("/s/%3Cscript%3Ealert(1)%3C%2Fscript%3E/")
    assert missing.status_code == 404 and "<script>alert" not in text(missing)


# --- the record and its download --------------------------------------------------

def test_record_keeps_hostile_text_exactly_as_json(evil):
    client, base, _, _ = evil
    download = client.get(f"{base}/record")
    assert download.mimetype == "application/json" and download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    record = json.loads(download.data)
    first = next(i for i in record["indicators"] if i["id"] == "1a")
    assert record["session"]["title"] == EVIL and record["session"]["organisation"] == EVIL
    assert first["notes"] == EVIL and first["evidence"][0]["text"] == EVIL and first["evidence"][0]["source"] == EVIL
    assert first["actions"][0]["what"] == EVIL and first["lock_history"][-1]["reason"] == EVIL
    assert record["participants"][0]["name"] == EVIL


@pytest.mark.parametrize("title, expected", [
    (EVIL, "ecsa-record-script-alert-x-script-quoted-img-src-x-onerror-alert-1-2026-12-01.json"),
    ('Board"; filename="evil.html', "ecsa-record-board-filename-evil-html-2026-12-01.json"),
    ("../../etc/passwd", "ecsa-record-etc-passwd-2026-12-01.json"),
    ("Ünïcödé 🎉\r\nSet-Cookie: x=1", "ecsa-record-n-c-d-set-cookie-x-1-2026-12-01.json"),
    ("🎉🎉", "ecsa-record-session-2026-12-01.json"),
])
def test_download_file_name_is_safe_whatever_the_title(app, title, expected):
    client = app.test_client()
    created = client.post("/sessions", data=dict(SESSION, title=title))
    assert created.status_code == 303, text(created)
    download = client.get(created.headers["Location"].replace("/share", "/record"))
    disposition = download.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="{expected}"'
    assert re.fullmatch(r'attachment; filename="[a-z0-9.-]+"', disposition)


def test_facilitator_token_is_not_in_the_record(app, evil):
    client, base, token, _ = evil
    client.post(f"{base}/facilitator-link")
    new_token = re.search(r"/facilitator/([A-Za-z0-9_-]+)", text(client.get(f"{base}/share")))[1]
    body = client.get(f"{base}/record").get_data(as_text=True)
    for secret in (token, new_token):
        assert secret not in body and hashlib.sha256(secret.encode()).hexdigest() not in body
    assert "secret" not in body.lower() and "token" not in body.lower() and app.secret_key not in body


def test_facilitator_token_is_stored_only_as_a_hash(app, evil):
    _, base, token, _ = evil
    folder = os.path.join(app.config["DATA_DIR"], "sessions")
    stored = b"".join(open(os.path.join(folder, name), "rb").read() for name in os.listdir(folder))
    assert token.encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored


# --- the request log --------------------------------------------------------------

def serve_one(app, path: str) -> int:
    """Answer one real HTTP request with werkzeug's server (which writes the request log)."""
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
        connection.request("GET", path)
        status = connection.getresponse().status
        connection.close()
        thread.join(5)
    finally:
        server.server_close()
    return status


@pytest.mark.parametrize("which", ["right", "wrong"])
def test_facilitator_token_never_reaches_the_request_log(app, facilitator, caplog, which):
    token = facilitator.token if which == "right" else facilitator.token[::-1]
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        status = serve_one(app, facilitator.url(f"/facilitator/{token}?again=/facilitator/{token}"))
    assert status == (303 if which == "right" else 403)
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name == "werkzeug")
    assert f"/s/{facilitator.session_id}/facilitator/[redacted]" in logged
    assert token not in logged


def test_redaction_is_installed_once_however_many_apps_are_made(tmp_path):
    for n in range(3):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path / f"d{n}")})
    names = [type(f).__name__ for f in logging.getLogger("werkzeug").filters]
    assert names.count("RedactTokens") == 1


# --- headers and cookies ----------------------------------------------------------

def responses(app, facilitator):
    """One of each kind of answer: page, fragment, redirect, refusal, error, download, static file."""
    stranger = app.test_client()
    return {
        "page": facilitator.get("/i/1a"),
        "fragment": facilitator.get("/i/1a?block=notes", htmx=True),
        "redirect": facilitator.post("/i/1a/notes", {"notes": "x", "base": ""}),
        "forbidden": stranger.post(facilitator.url("/i/1a/notes"), data={"notes": "x"}),
        "not found": stranger.get("/s/nope/"),
        "download": facilitator.get("/record"),
        "start page": stranger.get("/"),
    }


def test_every_answer_carries_the_security_headers(app, facilitator):
    for kind, response in responses(app, facilitator).items():
        headers = response.headers
        assert headers["Referrer-Policy"] == "same-origin", kind
        assert headers["X-Frame-Options"] == "DENY", kind
        assert headers["X-Content-Type-Options"] == "nosniff", kind
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy, kind
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.parametrize("path", ["/", "/share", "/i/1a", "/settings"])
def test_pages_need_no_inline_script_or_style_so_the_policy_holds(facilitator, path):
    facilitator.post("/i/1a/agreed", {"agreed": "2", "rationale": "What the group agreed."})
    page = text(facilitator.get(path))
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"\sstyle=", page) and "<style" not in page
    assert not re.search(r"\son[a-z]+=", page)


def test_session_cookie_is_http_only_and_same_site(client):
    cookie = client.post("/sessions", data=SESSION).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


# --- size limits ------------------------------------------------------------------

def test_oversized_request_is_refused_and_changes_nothing(app, facilitator):
    limit = app.config["MAX_CONTENT_LENGTH"]
    refused = facilitator.post("/i/1a/notes", {"notes": "x" * (limit + 1), "base": ""})
    assert refused.status_code == 413 and "That was too big to send" in text(refused)
    assert app.extensions["ecsa"].get(facilitator.session_id).worksheet("1a")["notes"] == ""


def test_oversized_import_is_refused(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    refused = client.post("/import", data={"record": (io.BytesIO(b" " * (limit + 1)), "big.json"), "name": "Kim",
                                           "perspective": "staff"}, content_type="multipart/form-data")
    assert refused.status_code == 413 and app.extensions["ecsa"].directory.ids() == []


def test_import_just_over_the_record_limit_gets_a_clear_message(app, client):
    refused = client.post("/import", data={"record": (io.BytesIO(b" " * (5 * 1024 * 1024 + 1)), "big.json"),
                                           "name": "Kim", "perspective": "staff"}, content_type="multipart/form-data")
    assert refused.status_code == 422 and "The file is too big: the limit is 5 MB." in text(refused)


# --- files on disk ----------------------------------------------------------------

def mode_of(path) -> int:
    """A file's permission bits."""
    return stat.S_IMODE(os.stat(path).st_mode)


def test_secret_key_and_session_files_are_private(app, facilitator, participant):
    participant.post("/i/1a/notes", {"notes": "private", "base": ""})
    data = app.config["DATA_DIR"]
    assert mode_of(os.path.join(data, "secret_key")) == 0o600
    assert mode_of(data) & 0o077 == 0
    sessions = os.path.join(data, "sessions")
    assert mode_of(sessions) & 0o077 == 0
    files = [os.path.join(sessions, name) for name in os.listdir(sessions)]
    assert files and all(mode_of(path) == 0o600 for path in files)


def test_secret_key_survives_a_restart_so_people_stay_joined(app, participant):
    again = create_app({"TESTING": True, "DATA_DIR": app.config["DATA_DIR"]})
    assert again.secret_key == app.secret_key and len(app.secret_key) >= 32
    browser = again.test_client()
    browser.set_cookie("ecsa", participant.client.get_cookie("ecsa").value)
    assert browser.get(participant.url("/")).status_code == 200
