"""Sessions over HTTP: create one, share it, join it, come back as facilitator, change settings."""

from __future__ import annotations

import io
import json
import re
import threading

import pytest
from markupsafe import escape

from ecsa import create_app

from conftest import SESSION_FORM

LOOK_ALIKES = set("0O1IL2Z5S8B")
FACILITATOR_LINK = re.compile(r"/s/([A-Za-z0-9_-]+)/facilitator/([A-Za-z0-9_-]+)")


def text(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def registry(app):
    """The app's session registry."""
    return app.extensions["ecsa"]


def create(client, **changes):
    """Post the create-session form with some fields changed."""
    return client.post("/sessions", data=dict(SESSION_FORM, **changes))


# --- creating a session -------------------------------------------------------------

def test_start_page_offers_joining_with_a_code_and_creating_a_session(client):
    page = text(client.get("/"))
    assert 'action="/join"' in page and 'name="code"' in page
    assert 'action="/sessions"' in page
    for field in ("title", "organisation", "date", "scope", "name", "perspective"):
        assert f'name="{field}"' in page


def test_creating_a_session_makes_the_creator_its_facilitator(app, client):
    created = create(client)
    assert created.status_code == 303
    session_id = re.fullmatch(r"/s/([A-Za-z0-9_-]+)/share", created.headers["Location"])[1]
    workshop = registry(app).get(session_id)
    assert {k: workshop.details[k] for k in ("title", "organisation", "date", "scope")} == {
        "title": "Leadership workshop", "organisation": "Example NHS Trust", "date": "2026-12-01", "scope": [1, 2]}
    [person] = workshop.participants()
    assert (person["name"], person["perspective"], person["role"]) == ("Fay Facilitator", "staff", "facilitator")
    assert client.get(f"/s/{session_id}/settings").status_code == 200


def test_share_page_shows_join_code_link_qr_code_and_the_private_facilitator_link(facilitator):
    page = text(facilitator.get("/share"))
    assert f"{facilitator.code[:3]} {facilitator.code[3:]}" in page
    assert f"http://localhost/join/{facilitator.code}" in page
    assert 'src="data:image/svg+xml' in page


def test_facilitator_link_is_shown_only_once(client):
    share = client.get(create(client).headers["Location"])
    assert FACILITATOR_LINK.search(text(share))
    assert not FACILITATOR_LINK.search(text(client.get(share.request.path)))


def test_facilitator_link_does_not_linger_in_the_browser_cookie(app, client):
    client.get(create(client).headers["Location"])
    cookie = client.get_cookie("ecsa").value
    stored = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert "facilitator_link" not in stored and "/facilitator/" not in json.dumps(stored)


def test_facilitator_token_carries_at_least_128_random_bits(app):
    tokens = set()
    for _ in range(3):
        client = app.test_client()
        share = text(client.get(create(client).headers["Location"]))
        tokens.add(FACILITATOR_LINK.search(share)[2])
    assert len(tokens) == 3
    assert all(len(token) * 6 >= 128 for token in tokens)  # URL-safe base64: 6 bits a character


def test_share_page_links_use_the_public_address_behind_a_proxy(tmp_path):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "proxied"),
                      "PUBLIC_URL": "https://ecsa.example.org/"})
    client = app.test_client()
    page = text(client.get(create(client).headers["Location"]))
    code = registry(app).get(page.split("/s/")[1].split("/")[0]).details["join_code"]
    assert f'href="https://ecsa.example.org/join/{code}"' in page
    assert re.search(r'value="https://ecsa\.example\.org/s/[A-Za-z0-9_-]+/facilitator/[A-Za-z0-9_-]+"', page)
    assert "http://localhost" not in page


def test_participant_sees_no_facilitator_link_on_the_share_page(participant):
    page = text(participant.get("/share"))
    assert participant.code[:3] in page
    assert "/facilitator/" not in page and "Make a new facilitator link" not in page


def attempt_of(page) -> str:
    """The join form's one-time attempt id."""
    return re.search(r'name="attempt" value="([A-Za-z0-9_-]+)"', text(page))[1]


def test_a_double_tap_on_join_joins_one_person(app, facilitator):
    phone = app.test_client()
    form = {"name": "Sam", "perspective": "staff", "attempt": attempt_of(phone.get(f"/join/{facilitator.code}"))}
    first, second = phone.post(f"/join/{facilitator.code}", data=form), app.test_client().post(
        f"/join/{facilitator.code}", data=form)  # the repeat carries no cookie from the first
    assert first.status_code == second.status_code == 303
    names = [p["name"] for p in registry(app).get(facilitator.session_id).participants()]
    assert names.count("Sam") == 1


def test_simultaneous_repeats_of_one_join_make_one_person(app, facilitator):
    form = {"name": "Kim", "perspective": "staff", "attempt": attempt_of(app.test_client().get(f"/join/{facilitator.code}"))}
    clients, answers = [app.test_client() for _ in range(6)], []
    threads = [threading.Thread(target=lambda c=c: answers.append(c.post(f"/join/{facilitator.code}", data=form)))
               for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [a.status_code for a in answers] == [303] * 6
    people = [p for p in registry(app).get(facilitator.session_id).participants() if p["name"] == "Kim"]
    assert len(people) == 1
    for client in clients:  # every tab that sent it is joined as that one person
        assert "Kim" in text(client.get(f"/s/{facilitator.session_id}/"))


def test_each_join_form_shown_is_a_new_attempt_and_changed_answers_are_a_new_person(app, facilitator):
    client = app.test_client()
    first, second = attempt_of(client.get(f"/join/{facilitator.code}")), attempt_of(client.get(f"/join/{facilitator.code}"))
    assert first != second
    for name in ("Alex", "Alexa"):  # back, corrected the name, sent again: that is what they meant
        client.post(f"/join/{facilitator.code}", data={"name": name, "perspective": "staff", "attempt": first})
    names = [p["name"] for p in registry(app).get(facilitator.session_id).participants()]
    assert names.count("Alex") == 1 and names.count("Alexa") == 1


def test_a_join_refused_for_bad_input_keeps_its_attempt(app, client, facilitator):
    attempt = attempt_of(client.get(f"/join/{facilitator.code}"))
    refused = client.post(f"/join/{facilitator.code}", data={"name": "", "perspective": "staff", "attempt": attempt})
    assert refused.status_code == 422 and attempt_of(refused) == attempt


def test_a_double_tap_on_create_makes_one_session_and_the_screen_shows_a_working_link(app):
    screen, lost = app.test_client(), app.test_client()  # the tab, and the answer it never showed
    form = dict(SESSION_FORM, attempt=attempt_of(screen.get("/")))
    first, second = lost.post("/sessions", data=form), screen.post("/sessions", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(registry(app).directory.ids()) == 1
    session_id, shown = FACILITATOR_LINK.search(text(screen.get(second.headers["Location"]))).groups()
    # The first answer's link was replaced by the one on screen, which signed its browser out.
    assert lost.get(first.headers["Location"]).status_code == 302
    assert app.test_client().get(f"/s/{session_id}/facilitator/{shown}").status_code == 303
    assert screen.get(f"/s/{session_id}/").status_code == 200  # the tab is the facilitator's
    assert [p["role"] for p in registry(app).get(session_id).participants()] == ["facilitator"]


def test_simultaneous_repeats_of_one_create_make_one_session(app):
    form = dict(SESSION_FORM, attempt=attempt_of(app.test_client().get("/")))
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(app.test_client().post("/sessions", data=form)))
               for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [a.status_code for a in answers] == [303] * 5
    assert len({a.headers["Location"] for a in answers}) == 1 and len(registry(app).directory.ids()) == 1


def test_a_create_refused_for_bad_input_keeps_its_attempt_and_creates_nothing(app, client):
    attempt = attempt_of(client.get("/"))
    refused = client.post("/sessions", data=dict(SESSION_FORM, title="", attempt=attempt))
    assert refused.status_code == 422 and attempt_of(refused) == attempt
    assert registry(app).directory.ids() == []
    assert client.post("/sessions", data=dict(SESSION_FORM, attempt=attempt)).status_code == 303


def test_a_forged_attempt_is_ignored_not_trusted(app, facilitator):
    for forged in ("", "short", "x" * 65, "<script>alert(1)</script>" * 2):
        joined = app.test_client().post(f"/join/{facilitator.code}",
                                        data={"name": "Lou", "perspective": "staff", "attempt": forged})
        assert joined.status_code == 303
    names = [p["name"] for p in registry(app).get(facilitator.session_id).participants()]
    assert names.count("Lou") == 4


@pytest.mark.parametrize("field, value, message", [
    ("title", "", "Enter a title"),
    ("title", "x" * 121, "must be 120 characters or fewer (it is 121)"),
    ("organisation", "", "Enter the organisation"),
    ("date", "", "Enter the workshop date"),
    ("date", "2026-02-30", "must be a real date"),
    ("date", "next tuesday", "must be a real date"),
    ("date", "20261201", "must be a real date"),  # the record's schema wants YYYY-MM-DD
    ("name", "", "Enter your name"),
    ("name", "N" * 81, "must be 80 characters or fewer (it is 81)"),
    ("perspective", "chief", "Select your perspective"),
    ("scope", [], "Select at least one section"),
    ("scope", ["99"], "Select at least one section"),
])
def test_creating_a_session_with_bad_input_is_refused_with_the_message_and_what_was_typed(app, client, field, value,
                                                                                         message):
    typed = dict(SESSION_FORM, title="Culture review 'B'", organisation="North & South Trust")
    typed[field] = value
    refused = client.post("/sessions", data=typed)
    page = text(refused)
    assert refused.status_code == 422
    assert message in page and 'class="nhsuk-error-summary"' in page
    assert f'id="{field}-error"' in page
    for kept in ("title", "organisation", "date", "name"):
        if kept != field:
            assert f'value="{escape(typed[kept])}"' in page
    assert 'value="2" checked' in page or field == "scope"
    assert registry(app).directory.ids() == []


def test_refused_session_form_keeps_the_overlong_title_so_it_can_be_shortened(client):
    long_title = "A" * 121
    page = text(create(client, title=long_title))
    assert f'value="{long_title}"' in page


# --- joining ----------------------------------------------------------------------

def test_join_code_is_six_characters_without_look_alikes(app):
    codes = []
    for _ in range(5):
        client = app.test_client()
        session_id = create(client).headers["Location"].split("/")[2]
        codes.append(registry(app).get(session_id).details["join_code"])
    assert len(set(codes)) == 5
    for code in codes:
        assert re.fullmatch(r"[A-Z0-9]{6}", code) and not LOOK_ALIKES & set(code)


def test_participant_joins_through_the_link_with_a_name_and_perspective(app, client, facilitator):
    form = client.get(f"/join/{facilitator.code}")
    assert form.status_code == 200 and "Join Leadership workshop" in text(form)
    joined = client.post(f"/join/{facilitator.code}", data={"name": "Sam Patel", "perspective": "volunteer"})
    assert joined.status_code == 303
    assert joined.headers["Location"] == f"/s/{facilitator.session_id}/"
    people = registry(app).get(facilitator.session_id).participants()
    assert [(p["name"], p["perspective"], p["role"]) for p in people][-1] == ("Sam Patel", "volunteer", "participant")
    assert "Sam Patel" in text(client.get(joined.headers["Location"]))


def test_participant_stays_joined_across_reloads(participant):
    for _ in range(3):
        assert participant.get("/").status_code == 200


def test_joined_participant_opening_the_join_link_again_goes_to_the_worksheet(participant):
    again = participant.client.get(f"/join/{participant.code}")
    assert again.status_code == 303 and again.headers["Location"] == f"/s/{participant.session_id}/"


def test_tampered_cookie_does_not_keep_anyone_joined(app, participant):
    cookie = participant.client.get_cookie("ecsa").value
    stranger = app.test_client()
    stranger.set_cookie("ecsa", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    refused = stranger.get(participant.url("/"))
    assert refused.status_code == 302 and refused.headers["Location"] == f"/join/{participant.code}"


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "Enter your name"),
    ("name", "   ", "Enter your name"),
    ("name", "Q" * 81, "must be 80 characters or fewer (it is 81)"),
    ("perspective", "", "Select your perspective"),
])
def test_joining_with_bad_input_is_refused_with_the_message_and_what_was_typed(app, client, facilitator, field, value,
                                                                               message):
    typed = {"name": "Robin O'Neil", "perspective": "unpaid_carer", field: value}
    refused = client.post(f"/join/{facilitator.code}", data=typed)
    page = text(refused)
    assert refused.status_code == 422 and message in page
    if field != "name":
        assert 'value="Robin O&#39;Neil"' in page
    if field != "perspective":
        assert 'value="unpaid_carer" checked' in page
    assert len(registry(app).get(facilitator.session_id).participants()) == 1


@pytest.mark.parametrize("typed", ["lower", "spaced", "dashed"])
def test_typed_join_code_ignores_case_spaces_and_dashes(client, facilitator, typed):
    code = facilitator.code
    entered = {"lower": code.lower(), "spaced": f" {code[:3]} {code[3:]} ", "dashed": f"{code[:3]}-{code[3:]}"}[typed]
    found = client.post("/join", data={"code": entered})
    assert found.status_code == 303 and found.headers["Location"] == f"/join/{code}"


def test_join_link_with_a_lower_case_code_still_joins(client, facilitator):
    joined = client.post(f"/join/{facilitator.code.lower()}", data={"name": "Lee", "perspective": "staff"})
    assert joined.status_code == 303 and joined.headers["Location"] == f"/s/{facilitator.session_id}/"


def test_wrong_join_code_says_so_and_keeps_the_code(client, facilitator):
    wrong = "QQQQQQ" if facilitator.code != "QQQQQQ" else "RRRRRR"
    refused = client.post("/join", data={"code": wrong.lower()})
    assert refused.status_code == 404
    assert "No session has that code" in text(refused) and f'value="{wrong}"' in text(refused)


def test_empty_join_code_asks_for_one(client):
    refused = client.post("/join", data={"code": " "})
    assert refused.status_code == 422 and "Enter the join code" in text(refused)


def test_join_link_with_an_unknown_code_leads_to_the_code_form(client, facilitator):
    page = client.get("/join/WWWWWW", follow_redirects=True)
    assert page.status_code == 404 and "No session has that code" in text(page)


class Clock:
    """A clock the join-code pacers read, moved only by the test (and by their waits)."""

    def __init__(self):
        self.now, self.waits = 1000.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """What the view's time.sleep does here: note the wait (the clock stays, as if the
        tries all arrived at once)."""
        self.waits.append(seconds)


@pytest.fixture
def clock(monkeypatch):
    """A test clock for the join-code pacers, and no real sleeping."""
    clock = Clock()
    monkeypatch.setattr("ecsa.views.sessions.time.sleep", clock.sleep)
    return clock


@pytest.fixture
def limited_app(tmp_path, clock):
    """An app that allows three wrong join codes a minute per address (30 server-wide)."""
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "limited"), "JOIN_ATTEMPTS_PER_MINUTE": 3})
    for pacer in app.extensions["ecsa.join_pacers"]:
        pacer.clock = clock
    return app


def limited_session_code(app) -> str:
    """Create a session in the app and return its join code."""
    client = app.test_client()
    session_id = create(client).headers["Location"].split("/")[2]
    return registry(app).get(session_id).details["join_code"]


def wrong_code(right: str) -> str:
    """A well-formed code that is not `right`."""
    return "AAAAAA" if right != "AAAAAA" else "CCCCCC"


def from_address(app, address: str):
    """A browser on another device, seen by the server at `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_a_right_code_gets_in_after_ten_typos_from_the_same_network(limited_app, clock):
    """A room behind one NAT: everyone's typos count against one address, yet the right code works."""
    right, room = limited_session_code(limited_app), from_address(limited_app, "10.1.1.1")
    for _ in range(3):
        assert room.post("/join", data={"code": wrong_code(right)}).status_code == 404
    assert room.post("/join", data={"code": right}).status_code == 303
    assert clock.waits[-1] <= 1.0  # paced by a second at most, never refused
    joined = from_address(limited_app, "10.1.1.1").post(f"/join/{right}", data={"name": "Nia", "perspective": "staff"})
    assert joined.status_code == 303


def test_wrong_codes_past_the_limit_get_one_try_a_second(limited_app, clock):
    right, guesser = limited_session_code(limited_app), from_address(limited_app, "10.6.6.6")
    for _ in range(3):
        assert guesser.post("/join", data={"code": wrong_code(right)}).status_code == 404
    clock.waits.clear()
    for _ in range(6):  # all at once: each waits a second longer than the one before
        assert guesser.post("/join", data={"code": wrong_code(right)}).status_code == 404
    assert clock.waits == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    refused = guesser.post("/join", data={"code": right})  # a flood from one address is cut off unchecked
    assert refused.status_code == 429 and "Wait a few seconds" in text(refused)
    clock.now += 6  # the queue has drained
    assert guesser.post("/join", data={"code": right}).status_code == 303


def test_guessing_codes_in_the_join_link_is_paced_too(limited_app, clock):
    right, guesser = limited_session_code(limited_app), from_address(limited_app, "10.6.6.6")
    for _ in range(9):
        assert guesser.get(f"/join/{wrong_code(right)}").status_code == 404
    assert guesser.get(f"/join/{right}").status_code == 429
    assert guesser.post(f"/join/{right}", data={"name": "Mallory", "perspective": "other"}).status_code == 429
    assert len(registry(limited_app).by_code(right).participants()) == 1
    assert sum(clock.waits) == 15.0  # 0 + 1 + 2 + 3 + 4 + 5: the paced tries


def test_guesses_spread_over_many_addresses_are_paced_server_wide(limited_app, clock):
    right = limited_session_code(limited_app)
    for n in range(30):  # 3 wrong codes a minute per address, 30 server-wide
        assert from_address(limited_app, f"10.0.0.{n}").post("/join", data={"code": wrong_code(right)}).status_code == 404
    clock.waits.clear()
    assert from_address(limited_app, "10.0.1.1").post("/join", data={"code": wrong_code(right)}).status_code == 404
    assert from_address(limited_app, "10.0.1.2").post("/join", data={"code": right}).status_code == 303
    assert clock.waits == [0.0, pytest.approx(0.05)]


def test_empty_code_submissions_do_not_count_as_wrong_guesses(limited_app, clock):
    right, client = limited_session_code(limited_app), limited_app.test_client()
    for _ in range(5):
        assert client.post("/join", data={"code": ""}).status_code == 422
    assert client.post("/join", data={"code": right}).status_code == 303
    assert set(clock.waits) == {0.0}


def test_join_code_pacing_lifts_after_a_minute(limited_app, clock):
    right, guesser = limited_session_code(limited_app), from_address(limited_app, "10.6.6.6")
    for _ in range(9):
        guesser.post("/join", data={"code": wrong_code(right)})
    clock.now += 61
    clock.waits.clear()
    assert guesser.post("/join", data={"code": wrong_code(right)}).status_code == 404
    assert clock.waits == [0.0]


# --- the facilitator link -----------------------------------------------------------

def test_facilitator_link_makes_another_browser_the_facilitator(app, facilitator):
    laptop = app.test_client()
    arrived = laptop.get(facilitator.url(f"/facilitator/{facilitator.token}"))
    assert arrived.status_code == 303 and arrived.headers["Location"] == facilitator.url("/")
    assert laptop.get(facilitator.url("/settings")).status_code == 200
    assert "Fay Facilitator (facilitator)" in text(laptop.get(facilitator.url("/")))
    assert len(registry(app).get(facilitator.session_id).participants()) == 1


@pytest.mark.parametrize("token", ["wrong", "A" * 43])
def test_bad_facilitator_token_is_refused(app, facilitator, token):
    stranger = app.test_client()
    refused = stranger.get(facilitator.url(f"/facilitator/{token}"))
    assert refused.status_code == 403 and "not valid" in text(refused)
    assert stranger.get(facilitator.url("/settings")).status_code == 302


def test_facilitator_token_of_one_session_does_not_open_another(app, facilitator):
    other = app.test_client()
    other_id = create(other).headers["Location"].split("/")[2]
    assert app.test_client().get(f"/s/{other_id}/facilitator/{facilitator.token}").status_code == 403


def test_new_facilitator_link_replaces_the_old_one(app, facilitator):
    made = facilitator.post("/facilitator-link")
    assert made.status_code == 303 and made.headers["Location"] == facilitator.url("/share")
    new_session_id, new_token = FACILITATOR_LINK.search(text(facilitator.get("/share"))).groups()
    assert new_session_id == facilitator.session_id and new_token != facilitator.token
    assert app.test_client().get(facilitator.url(f"/facilitator/{facilitator.token}")).status_code == 403
    assert app.test_client().get(facilitator.url(f"/facilitator/{new_token}")).status_code == 303
    assert facilitator.get("/settings").status_code == 200  # this browser stays the facilitator
    assert "facilitator_link_replaced" in [e.type for e in registry(app).get(facilitator.session_id).audit()]


# --- settings -----------------------------------------------------------------------

SETTINGS = {"title": "Culture workshop", "organisation": "Other Trust", "date": "2027-01-15", "scope": ["3"]}


def test_facilitator_changes_title_date_and_sections_in_scope(app, facilitator):
    form = text(facilitator.get("/settings"))
    assert 'value="Leadership workshop"' in form and 'value="1" checked' in form and 'value="3" checked' not in form
    saved = facilitator.post("/settings", SETTINGS)
    assert saved.status_code == 303 and saved.headers["Location"] == facilitator.url("/")
    overview = text(facilitator.get("/"))
    assert "Culture workshop" in overview and "Section 3:" in overview and "Section 1:" not in overview
    details = registry(app).get(facilitator.session_id).details
    assert (details["title"], details["organisation"], details["date"], details["scope"]) == (
        "Culture workshop", "Other Trust", "2027-01-15", [3])


@pytest.mark.parametrize("htmx", [False, True])
def test_bad_settings_are_refused_with_the_message_and_what_was_typed(app, facilitator, htmx):
    before = registry(app).get(facilitator.session_id).details
    refused = facilitator.post("/settings", dict(SETTINGS, date="2027-02-31"), htmx=htmx)
    page = text(refused)
    assert refused.status_code == 422
    assert "must be a real date" in page and 'value="2027-02-31"' in page and 'value="Culture workshop"' in page
    assert 'value="3" checked' in page
    assert page.lstrip().startswith('<div id="settings_form">') == htmx
    assert registry(app).get(facilitator.session_id).details == before


# --- cookies and unknown sessions ---------------------------------------------------

def test_session_cookie_is_http_only_and_same_site_lax(client):
    created = create(client)
    cookie = created.headers["Set-Cookie"]
    assert cookie.startswith("ecsa=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_unknown_session_gives_a_not_found_page(client):
    for path in ("/s/nope/", "/s/nope/share", "/s/nope/i/1a", "/s/nope/record", "/s/nope/facilitator/abc"):
        missing = client.get(path)
        assert missing.status_code == 404 and "Page not found" in text(missing), path
    assert client.post("/s/nope/i/1a/notes", data={"notes": "x"}).status_code == 404


# --- the record: download and import ------------------------------------------------

def test_download_record_is_a_json_attachment_named_after_the_session(facilitator, participant):
    participant.post("/i/1a/notes", {"notes": "We have a strategy.", "base": ""})
    download = participant.get("/record")
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert download.headers["Content-Disposition"] == (
        'attachment; filename="ecsa-record-leadership-workshop-2026-12-01.json"')
    record = json.loads(download.data)
    assert record["session"]["title"] == "Leadership workshop"
    assert {p["name"] for p in record["participants"]} == {"Fay Facilitator", "Pat Participant"}
    assert next(i for i in record["indicators"] if i["id"] == "1a")["notes"] == "We have a strategy."


def import_form(data: bytes, name: str = "Fay Facilitator", perspective: str = "staff", filename: str = "r.json"):
    """The multipart import form."""
    return {"record": (io.BytesIO(data), filename), "name": name, "perspective": perspective}


def test_import_starts_a_new_session_continuing_from_the_record(app, facilitator):
    facilitator.post("/i/1a/evidence", {"text": "Board minutes", "source": ""})
    exported = facilitator.get("/record").data
    laptop = app.test_client()
    started = laptop.post("/import", data=import_form(exported), content_type="multipart/form-data")
    assert started.status_code == 303
    new_id = started.headers["Location"].split("/")[2]
    assert new_id != facilitator.session_id
    assert FACILITATOR_LINK.search(text(laptop.get(started.headers["Location"])))
    assert "Board minutes" in text(laptop.get(f"/s/{new_id}/i/1a"))
    details = registry(app).get(new_id).details
    assert details["continued_from"][0]["session_id"] == facilitator.session_id
    assert [p["name"] for p in registry(app).get(new_id).participants()] == ["Fay Facilitator"]


@pytest.mark.parametrize("data, message", [
    (b"not json at all", "not valid JSON"),
    (b'{"schema": "something-else"}', "not a valid session record"),
    (b"\xff\xfe", "not UTF-8 text"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
])
def test_importing_a_bad_file_is_refused_with_a_clear_message(app, client, data, message):
    refused = client.post("/import", data=import_form(data, name="Kim O'Hara"), content_type="multipart/form-data")
    page = text(refused)
    assert refused.status_code == 422 and message in page
    assert 'value="Kim O&#39;Hara"' in page and 'value="staff" checked' in page
    assert registry(app).directory.ids() == []


def test_importing_without_a_file_asks_for_one(client):
    refused = client.post("/import", data={"name": "Kim", "perspective": "staff"}, content_type="multipart/form-data")
    assert refused.status_code == 422 and "Choose a record file to import" in text(refused)


def test_importing_a_record_from_another_framework_is_refused(facilitator, client):
    record = json.loads(facilitator.get("/record").data)
    record["framework"]["version"] = "0.0-other"
    refused = client.post("/import", data=import_form(json.dumps(record).encode()), content_type="multipart/form-data")
    assert refused.status_code == 422 and "was made with framework" in text(refused)

