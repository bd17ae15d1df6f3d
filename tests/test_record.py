"""The record: one JSON file that documents a session, keeps no secrets, and can be continued."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import jsonschema
import pytest

from ecsa import create_app, record
from ecsa.events import Event
from ecsa.record import RecordError, read_import
from ecsa.workshop import token_digest


FIXTURES = Path(__file__).parent / "fixtures"


def registry(app):
    """The app's session registry."""
    return app.extensions["ecsa"]


def people(workshop) -> dict:
    """The session's people as Actors, by name."""
    return {p["name"]: workshop.actor(p["id"]) for p in workshop.participants()}


WHY = "Strategy agreed; carers asked once."


def facilitator_of(workshop):
    """The session's facilitator, whose download carries everything."""
    return next(workshop.actor(p["id"]) for p in workshop.participants() if p["role"] == "facilitator")


def as_facilitator(workshop) -> dict:
    """The session's record as its facilitator downloads it."""
    return record.export(workshop, facilitator_of(workshop))


def change(workshop, actor, event_type: str, indicator: str, **data) -> Event:
    """Make one change as the server would."""
    return workshop.change(actor, Event.by(actor, event_type, indicator, **data))


def fill(workshop) -> str:
    """Two participants and a worksheet with every kind of content, locked, unlocked and relocked;
    returns the facilitator link's token, replaced at the end."""
    workshop.join("Pat Participant", "unpaid_carer")
    workshop.join("Sam Staff", "staff")
    who = people(workshop)
    fay, pat, sam = who["Fay Facilitator"], who["Pat Participant"], who["Sam Staff"]
    change(workshop, pat, "notes_saved", "1a", base="", text="Carers said 👍🏽 — “mostly”.\nகருத்து நன்று.\n")
    change(workshop, sam, "evidence_added", "1a", id="e1", text="Carers survey", source="https://example.org/s")
    change(workshop, pat, "evidence_edited", "1a", id="e1", rev=1, text="Carers survey 2025", source=None)
    change(workshop, pat, "evidence_added", "1a", id="e2", text="Old leaflet", source="Leaflet.pdf")
    change(workshop, fay, "evidence_removed", "1a", id="e2")
    change(workshop, sam, "action_added", "1a", id="a1", what="Ask carers", owner="Sam", due="2026-06-30",
           status="in_progress")
    change(workshop, pat, "vote_cast", "1a", value=2)
    change(workshop, sam, "vote_cast", "1a", value=3)
    change(workshop, fay, "round_revealed", "1a")
    change(workshop, fay, "agreed_rating_set", "1a", value=3, rationale=WHY)
    change(workshop, fay, "indicator_locked", "1a")
    change(workshop, fay, "indicator_unlocked", "1a", reason="Survey results came in")
    change(workshop, fay, "indicator_locked", "1a")
    change(workshop, pat, "vote_cast", "19a", value=4)  # section 5, outside the scope
    return workshop.rotate_facilitator_token(fay)


SESSION = {"title": "Leadership workshop", "organisation": "Example NHS Trust", "date": "2026-12-01",
           "scope": [1, 2]}


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory):
    """One app for this module's tests that only read the busy session or import into new ones."""
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path_factory.mktemp("record") / "data")})


@pytest.fixture(scope="module")
def busy_record(shared_app) -> dict:
    """The record of a busy session, built once."""
    workshop, _, _ = registry(shared_app).create(dict(SESSION), "Fay Facilitator", "staff")
    fill(workshop)
    return record.export(workshop, facilitator_of(workshop))


@pytest.fixture
def exported(busy_record) -> dict:
    """A copy of the busy session's record that a test may change."""
    return copy.deepcopy(busy_record)


@pytest.fixture(scope="module")
def framework(shared_app):
    """The framework the server uses."""
    return registry(shared_app).framework


def import_via_app(app, raw: bytes, name: str = "Fay Facilitator", perspective: str = "staff"):
    """Upload a record on the /import form from a new browser; returns the response."""
    client = app.test_client()
    return client.post("/import", data={"name": name, "perspective": perspective,
                                        "record": (io.BytesIO(raw), "record.json")})


def imported_workshop(app, raw: bytes, **who):
    """The new session started from an uploaded record."""
    answer = import_via_app(app, raw, **who)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return registry(app).get(answer.headers["Location"].split("/")[2])


def without_regenerated(document: dict) -> dict:
    """The record without the fields every export regenerates."""
    document = copy.deepcopy(document)
    for dotted in record.REGENERATED:
        *parents, last = dotted.split(".")
        holder = document
        for key in parents:
            holder = holder[key]
        holder.pop(last, None)  # `baseline` is there only when a session compares
    for indicator in document["indicators"]:  # a continued session says where its actions came from
        for action in indicator["actions"]:
            action.pop("earlier", None)
    return document


def as_bytes(document) -> bytes:
    """A record as a downloaded file."""
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def rejection(document_or_bytes, framework) -> str:
    """The message read_import refuses this file with."""
    raw = document_or_bytes if isinstance(document_or_bytes, bytes) else as_bytes(document_or_bytes)
    with pytest.raises(RecordError) as refused:
        read_import(raw, framework)
    return str(refused.value)


# --- what a record holds -------------------------------------------------------------

def test_export_validates_against_the_documented_schema(exported):
    """The record is exactly what docs/record.schema.json describes."""
    schema = json.loads(record.SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(exported))
    assert errors == []


def test_record_names_the_framework_it_was_made_with(exported, framework):
    """The framework's id, version and hash pin what the ratings mean."""
    assert exported["framework"] == {"id": framework.id, "version": framework.version,
                                     "sha256": framework.sha256}
    assert [level["label"] for level in exported["rating_scale"]] == [
        level.label for level in framework.rating_levels]


def test_record_lists_every_indicator_in_scope_and_any_touched_outside_it(exported, framework):
    """Untouched indicators are there, not started; a worksheet outside the scope is kept too."""
    ids = [indicator["id"] for indicator in exported["indicators"]]
    assert ids == [i.id for i in framework.indicators([1, 2])] + ["19a"]
    untouched = next(i for i in exported["indicators"] if i["id"] == "1b")
    assert (untouched["state"], untouched["notes"]) == ("not_started", "")
    assert [(r["number"], r["votes"], r["revealed"]) for r in untouched["rounds"]] == [(1, [], None)]


def test_record_holds_the_worksheet_as_agreed(exported):
    """Notes, evidence, votes, the agreed rating with its label, actions and the lock history."""
    sheet = exported["indicators"][0]
    assert sheet["id"] == "1a" and sheet["state"] == "agreed"
    assert sheet["notes"] == "Carers said 👍🏽 — “mostly”.\nகருத்து நன்று.\n"
    assert [(e["text"], e["source"], e["rev"]) for e in sheet["evidence"]] == [("Carers survey 2025", None, 2)]
    assert sorted((v["name"], v["value"]) for v in sheet["rounds"][0]["votes"]) == [
        ("Pat Participant", 2), ("Sam Staff", 3)]
    assert sheet["rounds"][0]["revealed"]["by"] == "Fay Facilitator"
    assert (sheet["agreed_rating"]["value"], sheet["agreed_rating"]["label"]) == (3, "Developing")
    assert sheet["agreed_rating"]["rationale"] == WHY
    assert sheet["actions"][0]["due"] == "2026-06-30"
    assert [(h["action"], h["reason"]) for h in sheet["lock_history"]] == [
        ("locked", WHY), ("unlocked", "Survey results came in"), ("locked", WHY)]


def test_record_audit_log_says_who_did_what(exported):
    """Every change is in the audit log with its author, in order."""
    audit = [(e["type"], e["actor_name"]) for e in exported["audit"]]
    assert audit[0] == ("session_created", "Fay Facilitator")
    assert ("evidence_removed", "Fay Facilitator") in audit
    assert ("indicator_unlocked", "Fay Facilitator") in audit
    assert [e["id"] for e in exported["audit"]] == list(range(1, len(audit) + 1))


def test_record_never_contains_secrets(app, facilitator):
    """No facilitator token (old or new), no token hash, no join code, no cookie, no app secret."""
    workshop = registry(app).get(facilitator.session_id)
    replaced = fill(workshop)
    facilitator.get(f"/facilitator/{replaced}")  # the replaced link signed this browser out
    answer = facilitator.get("/record")
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    new_token = workshop.rotate_facilitator_token(people(workshop)["Fay Facilitator"])
    text += json.dumps(record.export(workshop, facilitator_of(workshop)), ensure_ascii=False)
    cookie = facilitator.client.get_cookie("ecsa").value
    for secret in (facilitator.token, token_digest(facilitator.token), new_token, token_digest(new_token), replaced,
                   workshop.details["join_code"], cookie, app.config["SECRET_KEY"]):
        assert secret and secret not in text
    assert "facilitator_token" not in text and "join_code" not in text


def test_download_is_named_after_the_session(facilitator):
    """The download is an attachment named ecsa-record-<title>-<date>.json."""
    answer = facilitator.get("/record")
    assert answer.headers["Content-Disposition"] == (
        'attachment; filename="ecsa-record-leadership-workshop-2026-12-01.json"')


@pytest.mark.parametrize("title, slug", [
    ('The "Big" Review', "the-big-review"),
    ("A/B \\ testing: 50% done?", "a-b-testing-50-done"),
    ("../../etc/passwd", "etc-passwd"),
    ("Café Ñandú review", "caf-and-review"),
    ("日本のワークショップ", "session"),
    ("x\r\nSet-Cookie: a=b", "x-set-cookie-a-b"),
    ("  ---  ", "session"),
    ("y" * 200, "y" * 60),
])
def test_file_name_slugging_escapes_odd_titles(title, slug):
    """Quotes, slashes, line breaks and non-ASCII never reach the Content-Disposition header."""
    name = record.file_name({"title": title, "date": "2026-12-01"})
    assert name == f"ecsa-record-{slug}-2026-12-01.json"


def test_file_name_is_safe_even_with_an_odd_date():
    """The date part is kept to digits and dashes too."""
    name = record.file_name({"title": "Review", "date": '2026-12-01"\r\nX: y'})
    assert re.fullmatch(r"ecsa-record-review-[0-9-]+\.json", name)


# --- continuing from a record ---------------------------------------------------------

def test_record_round_trips(shared_app, exported):
    """Export, import through the app, export again: the same record but for regenerated fields."""
    continued = imported_workshop(shared_app, as_bytes(exported))
    again = record.export(continued, facilitator_of(continued))
    assert without_regenerated(again) == without_regenerated(exported)
    assert again["session"]["continued_from"] == [
        {"session_id": exported["session"]["id"], "exported_at": exported["exported_at"]}]
    assert again["session"]["id"] != exported["session"]["id"]


def test_continuing_twice_keeps_the_whole_chain(shared_app, exported):
    """A record continued from a continued record remembers both earlier sessions."""
    first = as_facilitator(imported_workshop(shared_app, as_bytes(exported)))
    second = as_facilitator(imported_workshop(shared_app, as_bytes(first)))
    assert [c["session_id"] for c in second["session"]["continued_from"]] == [
        exported["session"]["id"], first["session"]["id"]]
    assert without_regenerated(second) == without_regenerated(exported)


def test_round_trip_through_the_domain_as_the_import_view_does(shared_app, exported, framework):
    """Workshops.create with record.history and continued_details gives the same record."""
    earlier = read_import(as_bytes(exported), framework)
    fay_id = next(p["id"] for p in earlier["participants"] if p["name"] == "Fay Facilitator")
    continued, facilitator, _ = registry(shared_app).create(
        record.continued_details(earlier), "Fay Facilitator", "staff",
        history=record.history(earlier), facilitator_id=fay_id)
    assert facilitator.id == fay_id
    assert without_regenerated(record.export(continued, facilitator_of(continued))) == without_regenerated(exported)


def test_continued_session_stays_locked_where_it_was_agreed(shared_app, exported):
    """A locked indicator is still locked (read-only) in the continued session."""
    continued = imported_workshop(shared_app, as_bytes(exported))
    fay = people(continued)["Fay Facilitator"]
    assert continued.worksheet("1a")["lock"] is not None
    with pytest.raises(Exception, match="locked"):
        change(continued, fay, "notes_saved", "1a", base="", text="More")


def roles(workshop) -> dict:
    """Each participant's role, by name."""
    return {p["name"]: p["role"] for p in workshop.participants()}


def test_import_never_takes_roles_from_the_file(shared_app, exported):
    """A record claiming two facilitators yields only the importer as facilitator."""
    for person in exported["participants"]:
        person["role"] = "facilitator"
    continued = imported_workshop(shared_app, as_bytes(exported), name="Kim Newcomer", perspective="board_member")
    assert roles(continued) == {"Fay Facilitator": "participant", "Pat Participant": "participant",
                                "Sam Staff": "participant", "Kim Newcomer": "facilitator"}


def test_importer_who_was_in_the_earlier_session_is_not_listed_twice(shared_app, exported):
    """Importing as Pat (any case) makes Pat the facilitator, and Fay a participant."""
    for person in exported["participants"]:
        person["role"] = "facilitator"
    continued = imported_workshop(shared_app, as_bytes(exported), name="pat participant")
    assert sorted(roles(continued).values()) == ["facilitator", "participant", "participant"]
    assert [p["role"] for p in continued.participants() if p["name"].casefold() == "pat participant"] == [
        "facilitator"]


def test_import_form_shows_why_a_record_was_refused(shared_app, exported):
    """A refused file is explained on the form, and no session is created."""
    exported["framework"]["version"] = "2.0"
    sessions = set(registry(shared_app).directory.ids())
    answer = import_via_app(shared_app, as_bytes(exported))
    assert answer.status_code == 422
    assert "version 2.0" in answer.get_data(as_text=True)
    assert set(registry(shared_app).directory.ids()) == sessions


def test_a_double_submit_of_one_import_starts_one_session(shared_app, exported):
    """Sending the import form twice (a double tap, a resend) starts one new session."""
    page = shared_app.test_client().get("/import").get_data(as_text=True)
    attempt = re.search(r'name="attempt" value="([A-Za-z0-9_-]+)"', page)[1]
    sessions, raw = set(registry(shared_app).directory.ids()), as_bytes(exported)

    def send():
        return shared_app.test_client().post("/import", data={
            "name": "Kim", "perspective": "staff", "attempt": attempt, "record": (io.BytesIO(raw), "record.json")})
    first, second = send(), send()
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(set(registry(shared_app).directory.ids()) - sessions) == 1


def test_import_form_needs_a_file(shared_app):
    """Submitting without choosing a file says so."""
    answer = shared_app.test_client().post("/import", data={"name": "Kim", "perspective": "staff"})
    assert answer.status_code == 422 and "Choose a record file to import" in answer.get_data(as_text=True)


# --- what import refuses ----------------------------------------------------------------

def test_import_rejects_a_file_that_is_too_big(framework):
    """Anything over MAX_IMPORT_BYTES is refused before it is parsed."""
    message = rejection(b" " * (record.MAX_IMPORT_BYTES + 1), framework)
    assert "too big" in message and "5 MB" in message


def test_import_accepts_a_file_just_under_the_limit(exported, framework):
    """Padding up to the limit is still a record."""
    raw = as_bytes(exported)
    assert read_import(raw + b" " * (record.MAX_IMPORT_BYTES - len(raw)), framework)["session"]


def test_import_rejects_a_record_nested_too_deeply(exported, framework):
    """Deep nesting in an otherwise valid record (audit data is free-form) is refused."""
    deep: dict = {}
    for _ in range(record.MAX_DEPTH):
        deep = {"x": deep}
    exported["audit"][0]["data"] = deep
    assert "nested too deeply" in rejection(exported, framework)


def test_import_rejects_pathological_nesting_without_crashing(framework):
    """A hundred thousand open brackets are refused with a message, not a RecursionError."""
    assert "nested too deeply" in rejection(b"[" * 100_000 + b"]" * 100_000, framework)


@pytest.mark.parametrize("raw", [b"", b"{not json", b"{\"schema\": \"ecsa-record\",}", b"PK\x03\x04docx"])
def test_import_rejects_a_file_that_is_not_json(raw, framework):
    """A Word file, a truncated file or an empty one is not a record."""
    assert "not valid JSON" in rejection(raw, framework)


def test_import_rejects_non_standard_json_numbers(exported, framework):
    """NaN and Infinity are not JSON: a record carrying them would make every later download invalid."""
    exported["audit"][0]["data"]["score"] = float("nan")
    assert "not valid JSON" in rejection(as_bytes(exported), framework)


def test_import_rejects_a_file_that_is_not_utf8(exported, framework):
    """A record re-saved as UTF-16 (as some editors do) is refused, saying it must be UTF-8."""
    assert "UTF-8" in rejection(json.dumps(exported).encode("utf-16"), framework)


def test_import_rejects_a_file_re_saved_as_latin1(exported, framework):
    """An é in Latin-1 is not UTF-8, so the file is refused rather than read as garbage."""
    exported["session"]["title"] = "Café review"
    raw = json.dumps(exported, ensure_ascii=True).replace("\\u00e9", "\xe9").encode("latin-1")
    assert b"Caf\xe9" in raw
    assert "UTF-8" in rejection(raw, framework)


def test_import_of_a_newer_version_says_so(exported, framework):
    """A record from a later version of ECSA is refused with what to do, not a schema error."""
    exported["schema_version"] = 3
    with pytest.raises(RecordError, match="version 3; this server reads versions 1, 2. Update ECSA Workshop"):
        read_import(as_bytes(exported), framework)


def test_a_version_1_record_still_imports_its_ratings_as_one_revealed_round(shared_app, framework):
    """Records made before rating rounds continue: the ratings everyone saw become round 1, revealed."""
    old = json.loads((FIXTURES / "record-v1.json").read_text(encoding="utf-8"))
    continued = imported_workshop(shared_app, as_bytes(old))
    again = as_facilitator(continued)
    sheet = next(i for i in again["indicators"] if i["id"] == old["indicators"][0]["id"])
    [first] = sheet["rounds"]
    assert first["revealed"] is not None
    assert sorted((v["name"], v["value"]) for v in first["votes"]) == sorted(
        (v["name"], v["value"]) for v in old["indicators"][0]["votes"])
    assert again["schema_version"] == 2 and again["session"]["anonymous"] is False
    jsonschema.validate(again, record.schema())


@pytest.mark.parametrize("break_it, where", [
    (lambda r: r["session"].pop("title"), "session"),
    (lambda r: r.pop("audit"), "the top level"),
    (lambda r: r["indicators"][0].update(notes=5), "indicators/0/notes"),
    (lambda r: r["participants"][0].update(perspective="manager"), "participants/0/perspective"),
    (lambda r: r["indicators"][0]["rounds"][0]["votes"][0].update(value="3"), "indicators/0/rounds/0/votes/0/value"),
    (lambda r: r["indicators"][0]["rounds"][0]["votes"][0].update(value=True), "indicators/0/rounds/0/votes/0/value"),
    (lambda r: r["participants"][0].update(token="abc"), "participants/0"),
    (lambda r: r.update(facilitator_token_sha256="0" * 64), "the top level"),
    (lambda r: r["indicators"][0].update(notes="n" * 20_001), "indicators/0/notes"),
], ids=["missing field", "missing list", "wrong type", "unknown perspective", "rating as text",
        "rating as boolean", "extra participant field", "extra top-level field",
        "notes too long"])
def test_import_rejects_a_schema_invalid_record(exported, framework, break_it, where):
    """A record that breaks the schema is refused, saying where."""
    break_it(exported)
    message = rejection(exported, framework)
    assert message.startswith("The file is not a valid session record: at ")
    assert f"at {where}:" in message


def test_import_rejects_a_top_level_that_is_not_an_object(framework):
    """A JSON list is not a record."""
    assert "not a valid session record" in rejection(b"[]", framework)


@pytest.mark.parametrize("field, value", [("sha256", "0" * 64), ("version", "2.0"), ("id", "another-framework")])
def test_import_rejects_record_from_another_framework(exported, framework, field, value):
    """A record made against another framework, or another version of it, is refused."""
    exported["framework"][field] = value
    message = rejection(exported, framework)
    assert message.startswith("The record was made with framework ")
    assert f"this server uses {framework.id} version {framework.version}" in message


def test_import_rejects_an_unknown_indicator(exported, framework):
    """An indicator the framework does not define is refused, by id."""
    exported["indicators"][1]["id"] = "99z"
    assert rejection(exported, framework) == (
        "The record has indicator 99z, which the framework does not have.")


def test_import_rejects_a_scope_naming_a_missing_section(exported, framework):
    """A scope with a section the framework does not have is refused."""
    exported["session"]["scope"] = [1, 9]
    assert "section 9" in rejection(exported, framework)


@pytest.mark.parametrize("rate", [
    lambda sheet: sheet["rounds"][0]["votes"][0].update(value=9),
    lambda sheet: sheet["rounds"][0]["votes"][0].update(value=0),
    lambda sheet: sheet["agreed_rating"].update(value=6),
    lambda sheet: sheet["agreed_rating"].update(value=-1),
], ids=["vote above", "vote below", "agreed above", "agreed below"])
def test_import_rejects_a_rating_outside_the_scale(exported, framework, rate):
    """Votes and agreed ratings must be levels of the framework's scale."""
    rate(exported["indicators"][0])
    assert rejection(exported, framework) == "Indicator 1a has a rating outside the framework's scale."


@pytest.mark.parametrize("date", ["2026-02-30", "2026-12-01\n", "0000-00-00"])
def test_import_rejects_a_session_date_that_is_not_a_real_date(exported, framework, date):
    """The session date must be a real YYYY-MM-DD date, as the session form insists."""
    exported["session"]["date"] = date
    assert "date" in rejection(exported, framework)


def test_import_rejects_an_action_due_date_that_is_not_a_real_date(exported, framework):
    """An action's due date must be a real date too."""
    exported["indicators"][0]["actions"][0]["due"] = "2026-06-31"
    assert "due date" in rejection(exported, framework)


def test_valid_record_is_accepted_as_is(exported, framework):
    """read_import gives back the record it checked."""
    assert read_import(as_bytes(exported), framework) == exported
