"""The server keeps the secret of a rating round.

Until a round is revealed, nothing a participant can fetch (every GET route, every block,
the record, the CSV, the Excel and Word files, the report) or receive on their live socket
holds another person's rating; once revealed, the same routes show the distribution, so
the scan is not vacuous. In an anonymous session no name ever stands beside a value. Only
the facilitator runs a round, over HTTP, and the socket has no event for it at all.

The three raters rate 1, 3 and 5 so that the others' levels are distinctive: the viewer,
Sam, rated 3, so "1 – Not started" and "5 – Embedded/Leading" may appear only where every
level is always listed (the scale, the rating form's options, the agreed rating's choices).
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from conftest import HX, SESSION_FORM, Person
from ecsa.realtime import handlers, socketio
from ecsa.views.worksheets import BLOCKS

INDICATOR, QUIET = "1a", "1b"  # both rated; the viewer rated only INDICATOR
PEOPLE = {"Pat Parker": ("unpaid_carer", 1), "Sam Singh": ("person_using_services", 3), "Kim Kaur": ("staff", 5)}
VIEWER = "Sam Singh"
OTHERS_LEVELS = ("1 – Not started", "5 – Embedded/Leading")
# Where every level is shown whatever anyone rated: the scale, the rating form's radios and
# the agreed rating's options (and the Word report's key to the heatmap).
ALWAYS_LISTED = [
    re.compile(r'<dt class="nhsuk-summary-list__key">[^<]*</dt>'),
    re.compile(r'<label class="nhsuk-label nhsuk-radios__label" for="vote-\d+">[^<]*</label>'),
    re.compile(r"<option value=\"\d*\"[^>]*>[^<]*</option>"),
]
# What only a revealed round shows.
DISTRIBUTION_MARKS = ("ecsa-distribution", "ecsa-round-stats", "Ratings differ", "By perspective", "data-value",
                      "Who</th>", "Ratings given for indicator")
# The pieces of a document in which a name and a level would pair up: a table row (HTML or
# Word) whole, and outside tables a paragraph, an item, a heading.
ROW = re.compile(r"<(?:w:)?tr\b.*?</(?:w:)?tr>", re.S)
CHUNK = re.compile(r"<(?:p|li|div|section|h\d|caption|dl|ul|table|w:p|si|row)\b")
REASON_MAX = 500


@pytest.fixture(autouse=True)
def no_folds(monkeypatch):
    """No notes fold on a timer in these tests."""
    monkeypatch.setattr(handlers, "schedule_fold", lambda workshop: None)


# ---- a session with a round open --------------------------------------------------------------

def start_session(app, **options) -> Person:
    """A facilitator (Fay, staff) creates a session on sections 1 and 2 with these rating options."""
    client = app.test_client()
    form = dict(SESSION_FORM, anonymous_offered="yes") | {key: "yes" for key, on in options.items() if on}
    created = client.post("/sessions", data=form)
    assert created.status_code == 303, created.get_data(as_text=True)
    session_id = created.headers["Location"].split("/")[2]
    share = client.get(created.headers["Location"]).get_data(as_text=True)
    token = re.search(r"/facilitator/([A-Za-z0-9_-]+)", share)[1]
    return Person(client, session_id, app.extensions["ecsa"].get(session_id).details["join_code"], token)


def join_all(app, fay: Person) -> dict[str, Person]:
    """Pat, Sam and Kim join from their own browsers."""
    people = {}
    for name, (perspective, _) in PEOPLE.items():
        client = app.test_client()
        assert client.post(f"/join/{fay.code}", data={"name": name, "perspective": perspective}).status_code == 303
        people[name] = Person(client, fay.session_id, fay.code)
    return people


def rate(people: dict[str, Person], indicator: str = INDICATOR, names=tuple(PEOPLE)) -> None:
    """Each named person rates the indicator privately."""
    for name in names:
        assert people[name].post(f"/i/{indicator}/vote", {"value": str(PEOPLE[name][1])}).status_code == 303


def workshop_of(app, person: Person):
    """The session as the server holds it."""
    return app.extensions["ecsa"].get(person.session_id)


def ids(app, person: Person) -> dict[str, str]:
    """Participant id by name."""
    return {p["name"]: p["id"] for p in workshop_of(app, person).participants()}


def with_items(fay: Person) -> None:
    """An evidence item and an action on the indicator, so their edit forms have real ids."""
    assert fay.post(f"/i/{INDICATOR}/evidence", {"text": "Board minutes", "source": ""}).status_code == 303
    assert fay.post(f"/i/{INDICATOR}/action", {"what": "Ask carers", "owner": "", "due": "",
                                               "status": "open"}).status_code == 303


@pytest.fixture
def open_round(app):
    """A named session: Pat, Sam and Kim have rated 1a (1, 3, 5) and Pat and Kim 1b; nothing revealed."""
    fay = start_session(app)
    people = join_all(app, fay)
    with_items(fay)
    rate(people)
    rate(people, QUIET, ("Pat Parker", "Kim Kaur"))
    return fay, people


# ---- every GET a participant can reach --------------------------------------------------------

def reachable(app, person: Person, token: str = "not-the-facilitator-token") -> list[tuple[str, dict]]:
    """Every GET route of the app filled with this session's real values: every indicator in
    scope, every block (as htmx asks for it), every item's edit form. (url, headers) pairs."""
    workshop = workshop_of(app, person)
    sheet = workshop.worksheet(INDICATOR)
    values = {"session_id": [person.session_id], "code": [person.code], "token": [token],
              "indicator_id": [i.id for i in workshop.indicators()]}
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        if "kind" in rule.arguments:
            urls += [(f"/s/{person.session_id}/i/{INDICATOR}/{kind}/{item['id']}/edit", HX)
                     for kind, listed in (("evidence", "evidence"), ("action", "actions")) for item in sheet[listed]]
            continue
        for filled in _fillings(rule.arguments, values):
            url = rule.build(filled, append_unknown=False)[1]
            urls.append((url, {}))
            if rule.endpoint == "worksheets.indicator":
                urls += [(f"{url}?block={block}", HX) for block in sorted(BLOCKS)]
            if rule.endpoint == "worksheets.overview":
                urls.append((f"{url}?block=progress", HX))
    return urls


def _fillings(arguments, values: dict) -> list[dict]:
    """Every combination of real values for a rule's arguments."""
    combos = [{}]
    for name in sorted(arguments):
        assert name in values, f"a GET route takes <{name}>: teach this scan real values for it"
        combos = [dict(combo, **{name: value}) for combo in combos for value in values[name]]
    return combos


def fetch_all(app, person: Person) -> dict[str, str]:
    """What this person gets from every reachable GET route, as text (files unpacked). Every
    route answers in full, but those for the facilitator only, for a link's secret token (we
    send a wrong one) or for joining (a joined browser is sent on)."""
    answers = {}
    for url, headers in reachable(app, person):
        response = person.client.get(url, headers=headers)
        may_refuse = any(part in url for part in ("/settings", "/facilitator/", "/screen", "/join"))
        assert response.status_code in ((200, 303, 403, 404) if may_refuse else (200,)), (url, response.status_code)
        answers[url] = readable(url, response.data)
    return answers


def readable(url: str, body: bytes) -> str:
    """A response as text to scan: the XML inside an Excel or Word file, else the body."""
    if url.endswith((".xlsx", ".docx")):
        with zipfile.ZipFile(io.BytesIO(body)) as package:
            return "\n".join(package.read(name).decode("utf-8") for name in package.namelist()
                             if name.endswith(".xml"))
    return body.decode("utf-8")


def shown(text: str) -> str:
    """The text without the places that list every level whatever anyone rated."""
    for listed in ALWAYS_LISTED:
        text = listed.sub("", text)
    return text


def others_levels_in(text: str) -> list[str]:
    """The others' levels (1 and 5) where they could only come from their ratings."""
    return [level for level in OTHERS_LEVELS if level in shown(text)]


def names_beside_levels(text: str, names) -> list[str]:
    """The chunks (rows, paragraphs, items) that hold both a person's name and a rating level."""
    levels = [f"{value} – " for value in range(1, 6)]
    text = shown(text)
    return [chunk for chunk in ROW.findall(text) + CHUNK.split(ROW.sub("", text))
            if any(name in chunk for name in names) and any(level in chunk for level in levels)]


def valued_under(record: dict, who: set[str]) -> list:
    """Every part of a record that names one of these people (by id or name) and holds a
    `value` (a rating) within it; the agreed rating, set by the facilitator, aside."""
    found, stack = [], [record]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            named = any(isinstance(item.get(key), str) and item[key] in who
                        for key in ("participant_id", "actor_id", "name", "actor_name", "id"))
            if named and _holds_value(item):
                found.append(item)
            stack.extend(value for key, value in item.items() if key != "agreed_rating")
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _holds_value(item) -> bool:
    """Whether a `value` key is anywhere within item."""
    if isinstance(item, dict):
        return "value" in item or any(_holds_value(v) for v in item.values())
    return isinstance(item, list) and any(_holds_value(v) for v in item)


def record_of(person: Person) -> dict:
    """The record this person downloads."""
    response = person.get("/record")
    assert response.status_code == 200
    return json.loads(response.data)


# ---- while the round is open --------------------------------------------------------------------

def test_no_route_shows_a_participant_anyone_elses_rating_before_the_reveal(app, open_round):
    fay, people = open_round
    sam, others = people[VIEWER], {"Pat Parker", "Kim Kaur"}
    answers = fetch_all(app, sam)
    assert len(answers) > 35 * len(BLOCKS)  # every indicator in scope, every block
    for url, text in answers.items():
        assert others_levels_in(text) == [], url
        assert [mark for mark in DISTRIBUTION_MARKS if mark in text] == [], url
        assert names_beside_levels(text, others) == [], url
    page = answers[sam.url(f"/i/{INDICATOR}")]
    assert "Your rating: <strong>3 – Developing</strong>" in page  # the viewer's own, and only theirs
    assert re.findall(r'name="value" type="radio" value="(\d)" checked', page) == ["3"]
    assert "Your rating" not in answers[sam.url(f"/i/{QUIET}")]
    assert re.search(r"<strong>3 of \d+</strong> have rated", page)
    assert "Rated: Pat Parker, Sam Singh, Kim Kaur" in page  # who has rated: yes; what: no


def test_no_answer_to_a_participants_own_posts_shows_anyone_elses_rating(app, open_round):
    """What a form post answers (a block for htmx, the whole page otherwise, refusals too)."""
    fay, people = open_round
    sam, others = people[VIEWER], {"Pat Parker", "Kim Kaur"}
    posts = [("/notes", {"notes": "Carers were not asked.", "base": ""}),
             ("/evidence", {"text": "Survey", "source": ""}),
             ("/action", {"what": "Ask carers", "owner": "", "due": "", "status": "open"}),
             ("/vote", {"value": "3"}), ("/vote", {"value": "9"}), ("/reveal", {}), ("/round", {}),
             ("/agreed", {"agreed": "5", "rationale": "Because."}), ("/lock", {}),
             ("/timer", {"do": "start", "minutes": "5"})]
    for path, data in posts:
        for htmx in (True, False):
            answer = sam.post(f"/i/{INDICATOR}{path}", data, htmx=htmx)
            text = answer.get_data(as_text=True)
            if answer.status_code == 303:
                text = sam.client.get(answer.headers["Location"]).get_data(as_text=True)
            assert others_levels_in(text) == [], (path, htmx)
            assert [mark for mark in DISTRIBUTION_MARKS if mark in text] == [], (path, htmx)
            assert names_beside_levels(text, others) == [], (path, htmx)


def test_a_participants_record_holds_only_their_own_unrevealed_rating(app, open_round):
    fay, people = open_round
    who = ids(app, fay)
    exported = record_of(people[VIEWER])
    others = {who["Pat Parker"], who["Kim Kaur"], "Pat Parker", "Kim Kaur"}
    assert valued_under(exported, others) == []
    sheet = next(i for i in exported["indicators"] if i["id"] == INDICATOR)
    [open_] = sheet["rounds"]
    assert open_["withheld"] is True and open_["ballots"] == []
    assert [(v["name"], v["value"]) for v in open_["votes"]] == [(VIEWER, 3)]
    assert sorted(r["name"] for r in open_["raters"]) == sorted(PEOPLE)  # that they rated is no secret
    cast = [e for e in exported["audit"] if e["type"] == "vote_cast"]
    assert len(cast) == 5
    assert all("value" not in e["data"] for e in cast if e["actor_id"] != who[VIEWER])
    assert [e["data"]["value"] for e in cast if e["actor_id"] == who[VIEWER]] == [3]


def test_the_facilitators_record_carries_every_rating_and_their_pages_none(app, open_round):
    """The facilitator's record holds every rating, so that a session continued from it loses
    nothing; but the ratings are hidden from the facilitator too until the reveal."""
    fay, people = open_round
    sheet = next(i for i in record_of(fay)["indicators"] if i["id"] == INDICATOR)
    assert sorted(v["value"] for v in sheet["rounds"][0]["votes"]) == [1, 3, 5]
    assert sheet["rounds"][0]["withheld"] is False
    answers = fetch_all(app, fay)
    del answers[fay.url("/record")]
    for url, text in answers.items():
        assert [level for level in OTHERS_LEVELS + ("3 – Developing",) if level in shown(text)] == [], url
        assert [mark for mark in DISTRIBUTION_MARKS if mark in text] == [], url


def page_on(app, person: Person, indicator: str | None):
    """A live page of this person's, showing an indicator (or the overview, with None)."""
    page = socketio.test_client(app, flask_test_client=person.client, auth={"session": person.session_id})
    assert page.emit("where", {"indicator": indicator}, callback=True) == {"ok": True}
    page.get_received()
    return page


def strings_in(message) -> list[str]:
    """Every piece of text in a socket message (each pushed block's html among them)."""
    found, stack = [], [message]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def test_no_push_to_a_participant_carries_anyone_elses_rating(app):
    fay = start_session(app)
    people = join_all(app, fay)
    sam, others = people[VIEWER], {"Pat Parker", "Kim Kaur"}
    pages = [page_on(app, sam, INDICATOR), page_on(app, sam, QUIET), page_on(app, sam, None)]
    rate(people)
    rate(people, QUIET, ("Pat Parker", "Kim Kaur"))
    messages = [m for page in pages for m in page.get_received()]
    changed = [m["args"][0] for m in messages if m["name"] == "changed"]
    # Recounts as people arrive (present_changed) come on the presence list's timer: scanned
    # below like every message, but not counted here.
    rated = [change for change in changed if change["type"] == "vote_cast"]
    with_html = [html for change in changed for html in change.get("html", {}).values()]
    assert len(rated) == 3 * 5 and sum(len(c.get("html", {})) for c in rated) == 2 * 5  # all three pages
    assert any("Rated: Pat Parker, Sam Singh, Kim Kaur" in html for html in with_html)
    for message in messages:
        for text in strings_in(message):
            assert others_levels_in(text) == [], text
            assert [mark for mark in DISTRIBUTION_MARKS if mark in text] == [], text
            assert names_beside_levels(text, others) == [], text
    for change in changed:
        assert "value" not in change and "rated" in change["message"]


# ---- after the reveal: the same routes show it (the scan above is not vacuous) -------------------

def test_after_the_reveal_the_same_routes_show_everyones_rating(app, open_round):
    fay, people = open_round
    assert fay.post(f"/i/{INDICATOR}/reveal").status_code == 303
    sam = people[VIEWER]
    answers = fetch_all(app, sam)
    indicator, report = answers[sam.url(f"/i/{INDICATOR}")], answers[sam.url("/report")]
    for text in (indicator, answers[sam.url(f"/i/{INDICATOR}?block=ratings")], report,
                 answers[sam.url("/report.docx")]):
        assert others_levels_in(text) == list(OTHERS_LEVELS)
        assert names_beside_levels(text, {"Pat Parker"}) and names_beside_levels(text, {"Kim Kaur"})
    assert "ecsa-distribution" in indicator and "Ratings differ" in indicator and "By perspective" in indicator
    assert others_levels_in(answers[sam.url(f"/i/{QUIET}")]) == []  # 1b's round is still hidden
    exported = record_of(sam)
    who = ids(app, fay)
    assert valued_under(exported, {who["Pat Parker"]}) and valued_under(exported, {who["Kim Kaur"]})
    sheet = next(i for i in exported["indicators"] if i["id"] == INDICATOR)
    assert sorted(v["value"] for v in sheet["rounds"][0]["votes"]) == [1, 3, 5]
    quiet = next(i for i in exported["indicators"] if i["id"] == QUIET)
    assert quiet["rounds"][0]["votes"] == [] and quiet["rounds"][0]["withheld"] is True
    shown_cast = [e["data"].get("value") for e in exported["audit"] if e["type"] == "vote_cast"]
    assert sorted(v for v in shown_cast if v is not None) == [1, 3, 5]  # 1a's; 1b's still withheld


def test_a_second_rounds_ratings_stay_hidden_while_the_firsts_are_shown(app, open_round):
    fay, people = open_round
    assert fay.post(f"/i/{INDICATOR}/reveal").status_code == 303
    assert fay.post(f"/i/{INDICATOR}/round").status_code == 303
    for name, value in (("Pat Parker", "2"), ("Kim Kaur", "4")):
        assert people[name].post(f"/i/{INDICATOR}/vote", {"value": value}).status_code == 303
    sam = people[VIEWER]
    sheet = next(i for i in record_of(sam)["indicators"] if i["id"] == INDICATOR)
    first, second = sheet["rounds"]
    assert sorted(v["value"] for v in first["votes"]) == [1, 3, 5] and first["withheld"] is False
    assert second["votes"] == [] and second["withheld"] is True
    assert sorted(r["name"] for r in second["raters"]) == ["Kim Kaur", "Pat Parker"]
    cast = [(e["data"].get("round"), e["data"].get("value")) for e in record_of(sam)["audit"]
            if e["type"] == "vote_cast" and e["indicator"] == INDICATOR]
    assert sorted(cast, key=str) == [(1, 1), (1, 3), (1, 5), (2, None), (2, None)]
    for url in (f"/i/{INDICATOR}", f"/i/{INDICATOR}?block=ratings", "/report"):
        text = sam.get(url, htmx="block" in url).get_data(as_text=True)
        assert 'id="round-1"' in text or "Round 1 of 2" in text, url
        assert 'id="round-2"' not in text, url
        counts = re.findall(r'(\d) – [^<]*</th>\s*<td class="[^"]*ecsa-num">(\d+)</td>', text)
        assert counts and {level: n for level, n in counts if level in "24"} == {"2": "0", "4": "0"}, url


# ---- anonymous sessions: never a name beside a value ------------------------------------------

@pytest.fixture
def anonymous_reveal(app):
    """An anonymous session: Pat, Sam and Kim rated 1a (1, 3, 5) and the facilitator revealed it."""
    fay = start_session(app, anonymous=True)
    people = join_all(app, fay)
    with_items(fay)
    rate(people)
    assert fay.post(f"/i/{INDICATOR}/reveal").status_code == 303
    return fay, people


def test_an_anonymous_round_shows_no_name_beside_a_value_anywhere(app, anonymous_reveal):
    fay, people = anonymous_reveal
    names = set(PEOPLE) | {"Fay Facilitator"}
    for viewer in (fay, people[VIEWER]):
        answers = fetch_all(app, viewer)
        for url, text in answers.items():
            assert names_beside_levels(text, names) == [], url
            assert "Who</th>" not in text and "By perspective" not in text, url
        page = answers[viewer.url(f"/i/{INDICATOR}")]
        assert "ecsa-distribution" in page and others_levels_in(page) == list(OTHERS_LEVELS)  # not vacuous
        assert others_levels_in(answers[viewer.url("/report.docx")]) == list(OTHERS_LEVELS)


def test_an_anonymous_record_has_ballots_and_raters_but_no_votes(app, anonymous_reveal):
    fay, people = anonymous_reveal
    who = ids(app, fay)
    everyone = set(who) | set(who.values())
    for viewer in (fay, people[VIEWER]):
        exported = record_of(viewer)
        assert exported["session"]["anonymous"] is True
        assert valued_under(exported, everyone) == []
        sheet = next(i for i in exported["indicators"] if i["id"] == INDICATOR)
        [round_] = sheet["rounds"]
        assert round_["votes"] == [] and round_["ballots"] == [1, 3, 5]
        assert sorted(r["name"] for r in round_["raters"]) == sorted(PEOPLE)
        cast = [e for e in exported["audit"] if e["type"] == "vote_cast"]
        assert len(cast) == 3 and all("value" not in e["data"] for e in cast)


def test_an_anonymous_sessions_stored_audit_log_says_who_rated_never_what(app, anonymous_reveal):
    """The audit log as the server keeps it (not only as exported) holds no rating's value."""
    fay, _ = anonymous_reveal
    cast = [e for e in workshop_of(app, fay).audit() if e.type == "vote_cast"]
    assert len(cast) == 3 and all("value" not in e.data for e in cast)


# ---- only the facilitator runs a round ----------------------------------------------------------

def snapshot(app, person: Person) -> tuple:
    """The indicator's worksheet and the length of the audit log."""
    workshop = workshop_of(app, person)
    return workshop.worksheet(INDICATOR), len(workshop.audit())


@pytest.mark.parametrize("htmx", [False, True])
def test_a_participant_cannot_reveal_start_a_round_or_agree_over_http(app, open_round, htmx):
    fay, people = open_round
    sam = people[VIEWER]
    before = snapshot(app, fay)
    for path, data in (("/reveal", {}), ("/round", {}), ("/agreed", {"agreed": "5", "rationale": "Because."})):
        refused = sam.post(f"/i/{INDICATOR}{path}", data, htmx=htmx)
        assert refused.status_code == 403, path
        assert "Only the facilitator can do that." in refused.get_data(as_text=True)
    assert fay.post(f"/i/{INDICATOR}/reveal").status_code == 303
    revealed = snapshot(app, fay)
    assert sam.post(f"/i/{INDICATOR}/round", htmx=htmx).status_code == 403
    assert snapshot(app, fay) == revealed and revealed[1] == before[1] + 1


def test_the_socket_has_no_event_to_rate_reveal_start_a_round_or_agree(app, open_round):
    """Rounds go through the HTTP forms only; the socket refuses (leaves unanswered) any event it
    does not know, whoever sends it."""
    fay, people = open_round
    handled = set(socketio.server.handlers["/"])
    assert {"connect", "where", "notes_update"} <= handled
    assert [name for name in handled if re.search("vote|rat(e|ing)|reveal|round|agree|lock", name)] == []
    before = snapshot(app, fay)
    for person in (people[VIEWER], fay):
        page = page_on(app, person, INDICATOR)
        for name in ("vote", "vote_cast", "reveal", "round_revealed", "round", "round_started", "agreed",
                     "agreed_rating_set", "indicator_locked", "change", "event"):
            answer = page.emit(name, {"indicator": INDICATOR, "value": 5, "agreed": 5, "rationale": "Because."},
                               callback=True)
            assert answer is None, name  # nothing handled it
        assert page.is_connected()
    assert snapshot(app, fay) == before


# ---- bad input: a clear message, and nothing changes -----------------------------------------

def test_a_reveal_with_nothing_to_reveal_says_so(app, facilitator):
    before = snapshot(app, facilitator)
    refused = facilitator.post(f"/i/{INDICATOR}/reveal", htmx=True)
    assert refused.status_code == 409
    assert "Nobody has rated in round 1 yet, so there is nothing to reveal." in refused.get_data(as_text=True)
    assert snapshot(app, facilitator) == before


def test_a_new_round_before_the_reveal_is_refused(app, open_round):
    fay, _ = open_round
    before = snapshot(app, fay)
    refused = fay.post(f"/i/{INDICATOR}/round", htmx=True)
    assert refused.status_code == 409
    assert "Reveal the ratings of round 1 before starting a new round." in refused.get_data(as_text=True)
    assert snapshot(app, fay) == before


@pytest.mark.parametrize("value", ["0", "6", "-1", "3.5", "three", "²"])
def test_a_rating_outside_the_scale_is_refused(app, open_round, value):
    fay, people = open_round
    before = snapshot(app, fay)
    refused = people[VIEWER].post(f"/i/{INDICATOR}/vote", {"value": value}, htmx=True)
    assert refused.status_code == 422
    assert re.search(r'id="vote-error">.*?Select a rating</span>', refused.get_data(as_text=True), re.S)
    assert snapshot(app, fay) == before


def test_a_rationale_over_the_limit_is_refused_and_kept(app, open_round):
    fay, _ = open_round
    assert fay.post(f"/i/{INDICATOR}/reveal").status_code == 303
    before = snapshot(app, fay)
    too_long = "Carers said the plan never reached them; " * 13
    assert len(too_long) > REASON_MAX
    refused = fay.post(f"/i/{INDICATOR}/agreed", {"agreed": "2", "rationale": too_long}, htmx=True)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    said = f"Reason must be 500 characters or fewer (it is {len(too_long.strip())})"
    assert re.search(r'id="agreed-rationale-error">.*?' + re.escape(said), html, re.S), html
    assert too_long.strip() in html.replace("&#39;", "'")  # what was typed is kept
    assert '<option value="2" selected>' in html
    assert snapshot(app, fay) == before


def test_a_rating_after_the_reveal_is_refused_with_a_clear_message(app, open_round):
    fay, people = open_round
    assert fay.post(f"/i/{INDICATOR}/reveal").status_code == 303
    before = snapshot(app, fay)
    refused = people[VIEWER].post(f"/i/{INDICATOR}/vote", {"value": "4"}, htmx=True)
    assert refused.status_code == 409
    assert ("The ratings of round 1 have been revealed. To rate again, wait for the facilitator to start a new "
            "round.") in refused.get_data(as_text=True)
    assert snapshot(app, fay) == before
