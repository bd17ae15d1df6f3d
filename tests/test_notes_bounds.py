"""Notes stay bounded whatever is sent: saves of long notes merge quickly and never diff
under the session's lock, and live updates are read strictly before pycrdt sees them, so
nothing but plain text is stored, nothing waits forever, and the log stays small.

Updates are real Yjs updates made by pycrdt, or hand-made where no Yjs page would send
them (the `update` helper below writes Yjs's binary format v1).
"""

from __future__ import annotations

import base64
import os
import random
import sys
import time
from collections import Counter
from urllib.parse import urlencode

import pycrdt
import pytest
from diff_match_patch import diff_match_patch
from playwright.sync_api import expect
from pycrdt import Doc, Map, Text

from conftest import SESSION_FORM
from ecsa import notes as notes_module
from ecsa import textmerge, worksheet, yupdate
from ecsa.notes import NeedsResync, Refused, SessionNotes, encode_record, text_edits
from ecsa.realtime import handlers, socketio
from ecsa.textmerge import merge
from ecsa.worksheet import NOTES_MAX

INDICATOR = "1a"
WORDS = ["care", "carers", "the", "board", "ward", "naïve", "日本語", "😀", "👍🏽", "and", "\n", "—"]


@pytest.fixture(autouse=True)
def folds_only_when_asked(monkeypatch):
    """The fold timer would write TinyDB 2 s after typing; here only when a test folds."""
    monkeypatch.setattr(handlers, "schedule_fold", lambda workshop: None)


# ---- helpers ---------------------------------------------------------------------------

def words(rng: random.Random, characters: int) -> str:
    """Random words (several scripts, emoji) adding up to about this many characters."""
    out, size = [], 0
    while size < characters:
        word = rng.choice(WORDS) + rng.choice([" ", " ", ", ", ". "])
        out.append(word)
        size += len(word)
    return "".join(out)[:characters]


def local_edit(doc: Doc, edit) -> bytes:
    """Run an edit on a page's document; the Yjs update it produced."""
    before = doc.get_state()
    edit(doc.get("notes", type=Text))
    return doc.get_update(before)


def uint(number: int) -> bytes:
    """lib0 varUint."""
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def string(text: str | bytes) -> bytes:
    """lib0 varString."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return uint(len(raw)) + raw


def text_item(text: str | bytes, origin=None, right=None, root: str = "notes") -> bytes:
    """An item inserting text: next to origin / right origin, or at the start of the root."""
    info = 4 | (0x80 if origin else 0) | (0x40 if right else 0)
    out = bytes([info])
    for id_ in (origin, right):
        if id_:
            out += uint(id_[0]) + uint(id_[1])
    if not origin and not right:
        out += uint(1) + string(root)
    return out + string(text)


def update(clients=(), deletes=()) -> bytes:
    """A Yjs update: clients as (client, first clock, [structs]), deletes as (client, [(clock, length)])."""
    out = uint(len(clients))
    for client, clock, structs in clients:
        out += uint(len(structs)) + uint(client) + uint(clock) + b"".join(structs)
    out += uint(len(deletes))
    for client, ranges in deletes:
        out += uint(client) + uint(len(ranges)) + b"".join(uint(c) + uint(n) for c, n in ranges)
    return out


def open_notes(tmp_path, text: str = "") -> SessionNotes:
    """One session's notes over a fresh log, the indicator's stored notes being text."""
    return SessionNotes(str(tmp_path / "notes.log"), lambda indicator: (None, text))


def log_size(notes: SessionNotes) -> int:
    return os.path.getsize(notes.log_path) if os.path.exists(notes.log_path) else 0


def pycrdt_calls(monkeypatch) -> list[bytes]:
    """Every update any pycrdt document is asked to apply from now on."""
    calls: list[bytes] = []
    apply = pycrdt.Doc.apply_update
    monkeypatch.setattr(pycrdt.Doc, "apply_update", lambda doc, data: (calls.append(data), apply(doc, data))[1])
    return calls


# ---- A. saving long notes ----------------------------------------------------------------

def test_a_long_note_saved_over_completely_different_text_keeps_every_word():
    """Two people replace 20,000 characters of notes with texts sharing nothing: every word
    of both is in the merge (a coarse diff keeps both sides, it never drops words)."""
    rng = random.Random(1)
    base, theirs, ours = (words(rng, NOTES_MAX) for _ in range(3))
    merged = Counter(merge(base, theirs, ours).split())
    for side in (theirs, ours):
        assert not Counter(side.split()) - merged


def test_a_long_note_of_one_repeated_word_keeps_both_small_edits_in_place():
    base = "care " * (NOTES_MAX // 5 - 10)
    middle = len(base) // 2
    theirs = base[:middle] + "board " + base[middle:]
    ours = base + "ward."
    assert merge(base, theirs, ours) == theirs + "ward."


def test_a_small_edit_in_a_long_note_merges_exactly():
    rng = random.Random(2)
    base = words(rng, 19_000)
    theirs = base[:5_000] + "Fay adds this. " + base[5_000:]
    ours = base[:15_000] + base[15_020:] + "Pat ends here."
    assert merge(base, theirs, ours) == base[:5_000] + "Fay adds this. " + base[5_000:15_000] + base[15_020:] \
        + "Pat ends here."


def test_crdt_edits_turn_any_notes_into_any_other():
    """The edits a form save makes to the CRDT leave it reading exactly the merged text:
    small changes, scripts and emoji, and 20,000 characters replaced by other ones."""
    rng = random.Random(3)
    pairs = [("", "new"), ("old", ""), ("Mood: 🙂 ok", "Mood: 👨‍👩‍👧 fine"), ("é日本", "e\u0301日本語")]
    pairs += [(words(rng, rng.randint(0, 80)), words(rng, rng.randint(0, 80))) for _ in range(200)]
    pairs.append((words(rng, NOTES_MAX), words(rng, NOTES_MAX)))
    for old, new in pairs:
        doc = Doc()
        text = doc.get("notes", type=Text)
        text.insert(0, old)
        with doc.transaction():
            for at, size, insert in text_edits(old, new):
                if size:
                    del text[at:at + size]
                if insert:
                    text.insert(at, insert)
        assert str(text) == new


def workshop_of(app, person):
    return app.extensions["ecsa"].get(person.session_id)


def typed_live(workshop, actor, words_: str) -> None:
    """Someone types words at the end of the live notes (a page's Yjs update)."""
    page = Doc()
    page.apply_update(workshop.notes.missing(INDICATOR, Doc().get_state()))
    workshop.apply_notes_update(actor, INDICATOR, local_edit(page, lambda text: text.insert(
        len(str(text).encode("utf-8")), words_)))


def test_no_diff_runs_while_the_session_is_locked(app, facilitator, monkeypatch):
    """A notes save diffs (merging, and finding the CRDT edits) holding neither the session
    file's lock nor the notes' lock: pages of the session never wait on a diff."""
    workshop = workshop_of(app, facilitator)
    rng = random.Random(4)
    base = words(rng, 9_000)
    assert facilitator.post(f"/i/{INDICATOR}/notes", {"base": "", "notes": base}).status_code == 303
    diffs, under_lock = [], []
    diff_main = diff_match_patch.diff_main

    def watched(self, *args, **kwargs):
        diffs.append(1)
        if workshop.file._lock._is_owned() or workshop.notes._lock._is_owned():
            under_lock.append(1)
        return diff_main(self, *args, **kwargs)

    monkeypatch.setattr(diff_match_patch, "diff_main", watched)
    edited = base[:3_000] + "Fay adds this. " + base[3_000:]
    assert facilitator.post(f"/i/{INDICATOR}/notes", {"base": base, "notes": edited}).status_code == 303
    assert diffs and not under_lock
    assert workshop.notes.text(INDICATOR) == edited == workshop.worksheet(INDICATOR)["notes"]


def test_a_save_merged_while_someone_types_is_merged_again_keeping_both(app, facilitator, participant, monkeypatch):
    workshop = workshop_of(app, facilitator)
    pat = next(workshop.actor(p["id"]) for p in workshop.participants() if p["name"] == "Pat Participant")
    facilitator.post(f"/i/{INDICATOR}/notes", {"base": "", "notes": "Start. "})
    merge_notes, merges = worksheet.merge_notes, []

    def typing_meanwhile(event, current):
        merges.append(current)
        if len(merges) == 1:  # Pat types while Fay's save is being merged, outside the lock
            typed_live(workshop, pat, "Pat typed.")
        return merge_notes(event, current)

    monkeypatch.setattr(worksheet, "merge_notes", typing_meanwhile)
    saved = facilitator.post(f"/i/{INDICATOR}/notes", {"base": "Start. ", "notes": "Fay wrote. Start. "})
    assert saved.status_code == 303
    assert merges == ["Start. ", "Start. Pat typed."]
    assert workshop.notes.text(INDICATOR) == "Fay wrote. Start. Pat typed."
    assert workshop.worksheet(INDICATOR)["notes"] == "Fay wrote. Start. Pat typed."


def test_a_save_whose_notes_keep_changing_is_refused_as_a_conflict(app, facilitator, participant, monkeypatch):
    workshop = workshop_of(app, facilitator)
    pat = next(workshop.actor(p["id"]) for p in workshop.participants() if p["name"] == "Pat Participant")
    merge_notes, merges = worksheet.merge_notes, []

    def typing_all_along(event, current):
        merges.append(current)
        typed_live(workshop, pat, f"word{len(merges)} ")
        return merge_notes(event, current)

    monkeypatch.setattr(worksheet, "merge_notes", typing_all_along)
    saved = facilitator.post(f"/i/{INDICATOR}/notes", {"base": "", "notes": "Fay's text"})
    assert saved.status_code == 409 and "kept changing" in saved.get_data(as_text=True)
    assert len(merges) == 3
    assert workshop.notes.text(INDICATOR) == "word1 word2 word3 "
    assert not [e for e in workshop.audit() if e.type == "notes_saved"]


# ---- B. what live updates may hold ---------------------------------------------------------

def test_plain_text_updates_from_pycrdt_are_read_as_pycrdt_applies_them():
    """For real updates the reader takes, the state vector it expects is the one pycrdt
    reaches: three pages typing and deleting (emoji count as Yjs counts them), often
    without the others' latest words, some updates lost on the way and then resent whole
    by a resync, and merged updates with a gap."""
    rng = random.Random(5)
    pages, server = [Doc() for _ in range(3)], Doc()

    def deliver(data: bytes) -> None:
        read = yupdate.read(data, "notes", NOTES_MAX)
        expected = yupdate.check_applies(read, notes_module.vector(server))
        server.apply_update(data)
        assert notes_module.vector(server) == expected

    for _ in range(400):
        page = rng.choice(pages)
        if rng.random() < 0.5:
            page.apply_update(server.get_update(page.get_state()))
        data = random_edit(page, rng)
        if rng.random() < 0.1:
            continue  # lost on the way
        try:
            deliver(data)
        except NeedsResync:
            deliver(page.get_update(server.get_state()))
    for page in pages:
        deliver(page.get_update(server.get_state()))
        page.apply_update(server.get_update(page.get_state()))
    assert len({str(page.get("notes", type=Text)) for page in pages + [server]}) == 1
    page = Doc(client_id=7)
    parts = [local_edit(page, lambda text: text.insert(0, word)) for word in ("ab", "😀", "cd")]
    gapped = yupdate.read(pycrdt.merge_updates(parts[0], parts[2]), "notes", NOTES_MAX)
    assert gapped.structs[1].kind == yupdate.SKIP
    with pytest.raises(NeedsResync):
        yupdate.check_applies(gapped, {})
    assert yupdate.check_applies(gapped, {7: 4}) == {7: 6}


def random_edit(page: Doc, rng: random.Random) -> bytes:
    """Insert a word or delete a few characters at random, at character boundaries."""
    current = str(page.get("notes", type=Text))
    if current and rng.random() < 0.3:
        start = rng.randrange(len(current))
        a, b = (len(current[:i].encode("utf-8")) for i in (start, min(len(current), start + 4)))
        return local_edit(page, lambda text: text.__delitem__(slice(a, b)))
    at = len(current[:rng.randint(0, len(current))].encode("utf-8"))
    return local_edit(page, lambda text: text.insert(at, rng.choice(WORDS)))


OTHER_CONTENT = {  # edits of a page holding the server's "hello", writing more than plain text
    "formatting": lambda doc: doc.get("notes", type=Text).format(0, 5, {"bold": True}),
    "attributes": lambda doc: doc.get("notes", type=Text).insert(5, "!", {"a": "y" * 1_000}),
    "embed": lambda doc: doc.get("notes", type=Text).insert_embed(0, {"image": "x"}),
    "map": lambda doc: doc.get("other", type=Map).__setitem__("k", "v"),
    "other root": lambda doc: doc.get("hidden", type=Text).insert(0, "x"),
}


@pytest.mark.parametrize("kind", sorted(OTHER_CONTENT))
def test_anything_but_plain_text_is_refused(tmp_path, kind):
    notes = open_notes(tmp_path, "hello")
    page = Doc()
    page.apply_update(notes.missing(INDICATOR, Doc().get_state()))
    before = page.get_state()
    OTHER_CONTENT[kind](page)
    with pytest.raises(Refused):
        notes.apply(INDICATOR, page.get_update(before), "pat")
    assert notes.text(INDICATOR) == "hello" and log_size(notes) == 0


HOSTILE = {
    "five-byte client count bomb": b"\x80\xbc\xc1\x96\x01",
    "struct count beyond the bytes": uint(1) + uint(10**6) + uint(1) + uint(0) + b"\x00" * 8,
    "delete range count beyond the bytes": uint(0) + uint(1) + uint(1) + uint(10**9) + b"\x00" * 4,
    "a number beyond 2^53": uint(1) + uint(1) + uint(2**60) + uint(0) + text_item("x") + uint(0),
    "a number of nine bytes": uint(1) + uint(1) + b"\x80" * 8 + b"\x01" + uint(0) + text_item("x") + uint(0),
    "a clock beyond what pycrdt holds": update([(1, 2**32, [text_item("x")])]),
    "trailing bytes": update([(1, 0, [text_item("x")])]) + b"\x00",
    "a parent item instead of the root": update([(1, 0, [bytes([4]) + uint(0) + uint(9) + uint(0) + string("x")])]),
    "a key inside a map": update([(1, 0, [bytes([4 | 0x20]) + uint(1) + string("notes") + string("k")
                                          + string("x")])]),
    "another root": update([(1, 0, [text_item("x", root="hidden")])]),
    "text that is not UTF-8": update([(1, 0, [text_item(b"\xff\xfe")])]),
    "an empty text item": update([(1, 0, [text_item("")])]),
    "an empty delete range": update([(1, 0, [text_item("x")])], [(1, [(0, 0)])]),
    "a client listed twice": update([(1, 0, [text_item("x")]), (1, 1, [text_item("y", origin=(1, 0))])]),
    "JSON content": update([(1, 0, [bytes([2]) + uint(1) + string("notes") + uint(1) + string("{}")])]),
    "a nested type": update([(1, 0, [bytes([7]) + uint(1) + string("notes") + uint(2)])]),
    "a GC struct with flags": update([(1, 0, [bytes([0x80]) + uint(1)])]),
    "an end mid-struct": update([(1, 0, [text_item("hello")])])[:-3],
    "more text than notes may hold": update([(1, 0, [text_item("x" * (NOTES_MAX + 1))])]),
    "more edits than an update may hold": update([(1, 0, [bytes([0]) + uint(1)] * (yupdate.MAX_PARTS + 1))]),
    "more empty sections than an update may hold": uint(0) + uint(50_000) + b"".join(
        uint(client) + uint(0) for client in range(50_000)),
}


def test_a_well_made_update_of_the_same_shapes_is_taken(tmp_path):
    """The hand-made updates below differ from this one only in what makes them hostile."""
    notes = open_notes(tmp_path)
    notes.apply(INDICATOR, update([(1, 0, [text_item("hi"), text_item("!", origin=(1, 1))])]), "pat")
    notes.apply(INDICATOR, update([(2, 0, [text_item("—", right=(1, 0))])], [(1, [(1, 1)])]), "pat")
    assert notes.text(INDICATOR) == "—h!"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_updates_are_refused_before_pycrdt_sees_them(tmp_path, monkeypatch, name):
    notes = open_notes(tmp_path)
    notes.text(INDICATOR)  # the document is loaded before the watch starts
    calls = pycrdt_calls(monkeypatch)
    with pytest.raises(Refused):
        notes.apply(INDICATOR, HOSTILE[name], "pat")
    assert calls == [] and log_size(notes) == 0 and notes.text(INDICATOR) == ""


def test_a_state_vector_bomb_is_refused_before_pycrdt_sees_it(tmp_path, monkeypatch):
    notes = open_notes(tmp_path, "hello")
    notes.text(INDICATOR)
    get_update, calls = pycrdt.Doc.get_update, []
    monkeypatch.setattr(pycrdt.Doc, "get_update", lambda doc, *args: (calls.append(args), get_update(doc, *args))[1])
    too_many = uint(yupdate.MAX_PARTS + 1) + b"".join(uint(c) + uint(1) for c in range(yupdate.MAX_PARTS + 1))
    for vector in (b"\x80\xbc\xc1\x96\x01", uint(1) + uint(5) + uint(2**40), uint(0) + b"\x00", too_many):
        with pytest.raises(Refused):
            notes.missing(INDICATOR, vector)
    assert calls == []


def server_holding(tmp_path, text: str = "hello"):
    """A server's notes and a page holding them, both reading text, typed by client 1."""
    page = Doc(client_id=1)
    first = local_edit(page, lambda t: t.insert(0, text))
    notes = open_notes(tmp_path)
    notes.apply(INDICATOR, first, "pat")
    return notes, page


BEYOND = {  # client 1 holds clocks 0-4 ("hello"); each of these builds on more
    "its first clock past what the server holds": update([(1, 6, [text_item("x", origin=(1, 4))])]),
    "a gap after a skip": update([(1, 5, [bytes([10]) + uint(2), text_item("x", origin=(1, 4))])]),
    "its origin past what the server holds": update([(2, 0, [text_item("x", origin=(1, 7))])]),
    "its right origin from an unknown page": update([(2, 0, [text_item("x", right=(3, 0))])]),
    "its origin later in its own page's clocks": update([(2, 0, [text_item("x", origin=(2, 0))])]),
    "a delete past what the server holds": update([], [(1, [(3, 4)])]),
}


@pytest.mark.parametrize("name", sorted(BEYOND))
def test_an_update_building_on_what_the_server_lacks_asks_for_a_resync(tmp_path, monkeypatch, name):
    notes, _ = server_holding(tmp_path)
    before, logged = notes.state(INDICATOR), log_size(notes)
    calls = pycrdt_calls(monkeypatch)
    with pytest.raises(NeedsResync):
        notes.apply(INDICATOR, BEYOND[name], "pat")
    assert calls == [] and notes.state(INDICATOR) == before and log_size(notes) == logged


def test_updates_built_on_one_never_sent_are_kept_nowhere(tmp_path):
    """The never-sent-base attack: 200 updates building on an update the server never got
    are each refused, and the log holds only what was applied."""
    notes, page = server_holding(tmp_path)
    logged = log_size(notes)
    local_edit(page, lambda text: text.insert(5, " never sent"))
    for i in range(200):
        with pytest.raises(NeedsResync):
            notes.apply(INDICATOR, local_edit(page, lambda text: text.insert(0, "x")), "pat")
    assert log_size(notes) == logged and notes.text(INDICATOR) == "hello"
    notes.apply(INDICATOR, page.get_update(notes.state_vector(INDICATOR)), "pat")  # the page's resync
    assert notes.text(INDICATOR) == str(page.get("notes", type=Text))


def test_log_replay_applies_each_record_once(tmp_path, monkeypatch):
    """A log written by an earlier version may hold records waiting on one never sent;
    a restart applies each record once (it retried every waiting one per record)."""
    page = Doc(client_id=1)
    local_edit(page, lambda text: text.insert(0, "never sent"))
    records = [local_edit(page, lambda text: text.insert(0, "x")) for _ in range(300)]
    with open(tmp_path / "notes.log", "wb") as log:
        log.write(b"".join(encode_record(INDICATOR, "pat", record) for record in records))
    calls = pycrdt_calls(monkeypatch)
    open_notes(tmp_path)
    assert len(calls) == len(records)


def test_a_long_log_is_folded_at_once(app, facilitator, monkeypatch):
    """Past LOG_FOLD_BYTES the notes are folded as the update is applied, without waiting
    for the fold timer (switched off here), so the log cannot grow between folds."""
    monkeypatch.setattr(notes_module, "LOG_FOLD_BYTES", 2_000, raising=False)
    workshop = workshop_of(app, facilitator)
    fay = workshop.actor(workshop.participants()[0]["id"])
    page = Doc()
    for i in range(100):
        workshop.apply_notes_update(fay, INDICATOR, local_edit(page, lambda text: text.insert(0, f"{i:03} ")))
        assert workshop.notes.log_bytes <= 2_000 and os.path.getsize(workshop.notes.log_path) <= 2_000
    typed = str(page.get("notes", type=Text))
    assert workshop.worksheet(INDICATOR)["notes"] == typed
    assert typed.endswith(workshop.stored_notes(INDICATOR)[1]) and workshop.stored_notes(INDICATOR)[1]


def test_notes_state_cannot_grow_past_its_bound(tmp_path, monkeypatch):
    """Deleted text leaves marks; a page leaving marks by the thousand is refused once the
    state would pass STATE_MAX_BYTES, and the refused update leaves nothing behind."""
    monkeypatch.setattr(notes_module, "STATE_MAX_BYTES", 20_000, raising=False)
    notes, page = server_holding(tmp_path, "x" * 2_000)
    rng = random.Random(6)
    with pytest.raises(Refused, match="editing history"):
        for _ in range(500):
            def scatter(text):
                for _ in range(20):  # replace single letters far apart: each leaves a mark
                    at = rng.randrange(1_999)
                    del text[at:at + 1]
                    text.insert(at, "y")
            notes.apply(INDICATOR, local_edit(page, scatter), "pat")
    assert len(base64.b64decode(notes.state(INDICATOR))) <= 20_000


# ---- through the socket, as pages send them ----------------------------------------------

def connect(app, person):
    return socketio.test_client(app, flask_test_client=person.client, auth={"session": person.session_id})


def send_notes(client, data: bytes) -> dict:
    return client.emit("notes_update", {"indicator": INDICATOR, "update": data}, callback=True)


def notes_log(app, person) -> bytes:
    path = os.path.join(os.path.dirname(workshop_of(app, person).file.path), f"{person.session_id}.notes.log")
    return open(path, "rb").read() if os.path.exists(path) else b""


def test_formatting_attack_leaves_the_session_as_it_was(app, facilitator):
    """One-character updates carrying 150 KB of formatting attributes are refused (not as
    a resync), so neither the log nor, after a fold, the session file grows."""
    typist = connect(app, facilitator)
    page = Doc()
    assert send_notes(typist, local_edit(page, lambda text: text.insert(0, "Notes."))) == {"ok": True}
    workshop_of(app, facilitator).fold_notes()
    size, log = os.path.getsize(workshop_of(app, facilitator).file.path), notes_log(app, facilitator)
    for i in range(5):  # each from a page holding what the server holds
        attacker = Doc()
        attacker.apply_update(workshop_of(app, facilitator).notes.missing(INDICATOR, Doc().get_state()))
        ack = send_notes(typist, local_edit(attacker, lambda text: text.insert(i, "x", {"a": "y" * 150_000})))
        assert ack["ok"] is False and "resync" not in ack and "plain text" in ack["error"]
    workshop_of(app, facilitator).fold_notes()
    assert notes_log(app, facilitator) == log == b""
    assert os.path.getsize(workshop_of(app, facilitator).file.path) == size


def test_an_update_built_on_a_lost_one_is_answered_with_resync(app, facilitator):
    """The server says resync (not a plain refusal); the page's sync then sends all it
    lacks, which applies whole."""
    typist = connect(app, facilitator)
    page = Doc()
    assert send_notes(typist, local_edit(page, lambda text: text.insert(0, "Kept. "))) == {"ok": True}
    local_edit(page, lambda text: text.insert(6, "Lost. "))  # never reaches the server
    ack = send_notes(typist, local_edit(page, lambda text: text.insert(12, "After.")))
    assert ack["ok"] is False and ack["resync"] is True and ack["error"]
    assert workshop_of(app, facilitator).notes.text(INDICATOR) == "Kept. "
    synced = typist.emit("notes_sync", {"indicator": INDICATOR, "state_vector": page.get_state()}, callback=True)
    mine = page.get_update(base64.b64decode(synced["state_vector"]))
    assert send_notes(typist, mine) == {"ok": True}
    assert workshop_of(app, facilitator).notes.text(INDICATOR) == "Kept. Lost. After."


def test_a_page_whose_edit_was_lost_resyncs_quietly(serving, new_person):
    """In a real browser: one notes update never reaches the server (as when the server
    restarts with it in flight). The next is answered with resync, and notes.js syncs and
    sends what the server lacks, without the "not saved" box."""
    base, app = serving
    page = new_person()
    created = page.request.post(f"{base}/sessions", data=urlencode(SESSION_FORM, doseq=True),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert created.ok, created.text()
    session_id = created.url.split("/s/")[1].split("/")[0]
    page.goto(f"{base}/s/{session_id}/i/{INDICATOR}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    area = page.locator("#notes-text[data-live-notes]")
    expect(area).to_be_editable()
    workshop = app.extensions["ecsa"].get(session_id)
    area.press_sequentially("Before. ", delay=10)
    page.evaluate("""() => {
        const live = window.ECSA.live, send = live.send;
        window.dropped = 0;
        live.send = function (name, payload, done) {
          if (name === "notes_update" && window.dropOne && !window.dropped) {
            window.dropped += 1;  // lost on the way: never sent, never answered
            return;
          }
          return send.apply(this, arguments);
        };
    }""")
    wait_until(lambda: workshop.notes.text(INDICATOR) == "Before. ")
    page.evaluate("() => { window.dropOne = true; }")
    area.press_sequentially("Lost and found.", delay=10)
    wait_until(lambda: workshop.notes.text(INDICATOR) == "Before. Lost and found.")
    expect(area).to_have_value("Before. Lost and found.")
    assert page.evaluate("() => window.dropped") == 1
    expect(page.locator("#unsent")).to_have_count(1)
    expect(page.locator("#unsent")).to_be_hidden()
    assert page.errors == []


def wait_until(condition, seconds: float = 5.0) -> None:
    """Wait for something the server does on its own threads."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server's notes"
        time.sleep(0.02)


def test_a_diff_that_runs_out_of_time_settles_for_a_coarse_one_keeping_every_word(monkeypatch):
    """With a clock that jumps a second at every look, no diff step may go on: 20,000
    characters replaced by 20,000 others come out as one replacement, and the merge of
    two such saves still keeps every word of both."""
    clock = iter(range(10**9))
    monkeypatch.setattr(sys.modules[diff_match_patch.__module__], "time", type("Clock", (), {
        "time": staticmethod(lambda: float(next(clock)))}))
    rng = random.Random(7)
    base, theirs, ours = ("x " + words(rng, NOTES_MAX - 4) + " y" for _ in range(3))
    assert [op for op, _ in textmerge.diff(base, theirs)] in ([-1, 1], [0, -1, 1, 0])
    merged = Counter(merge(base, theirs, ours).split())
    for side in (theirs, ours):
        assert not Counter(side.split()) - merged
