"""Discussion notes converge: many people typing at once over a bad network lose nothing.

Five simulated browsers (pycrdt documents, speaking Yjs's update format like the real
page) and the server's `SessionNotes` edit one indicator's notes at random: inserts
(Latin, non-Latin, emoji), deletes anywhere. Every message goes through a simulated
network that delays, duplicates and reorders it, both ways; the server fans out what
it applied to everyone else, as the socket handler does, and pages resync now and then
by exchanging state vectors. An update that arrives before one it builds on is refused
with a request to resync, and the page resyncs, as notes.js does. Mid-run the server
folds its notes into "TinyDB" (a dict here) and restarts from its log, sometimes with a
torn record at the log's end.

At the end every page shows the server's text, the server holds every update it ever
acknowledged, and a server reloaded from its log holds the same.

Each seed is one test; a failure names its seed. Replay one with
    ECSA_CONVERGENCE_SEED=<seed> python -m pytest -q tests/test_notes_convergence.py
"""

from __future__ import annotations

import base64
import os
import random

import pytest
from pycrdt import Doc, Text

from ecsa import notes as notes_module
from ecsa.notes import NeedsResync, SessionNotes, encode_record, text_of

INDICATOR = "1a"
SEED_COUNT = 200
INITIAL_TEXT = "Agenda: 日本語 😀\n"
INITIAL_TOKENS = "agenda|議題|"

if os.environ.get("ECSA_CONVERGENCE_SEED"):
    SEEDS = [int(os.environ["ECSA_CONVERGENCE_SEED"])]
else:
    SEEDS = list(range(SEED_COUNT))

WORDS = ["care", "carers", "naïve", "Ελληνικά", "日本語", "中文", "русский", "עברית", "العربية", "हिन्दी",
         "😀", "👍🏽", "👩‍👩‍👧", "🇬🇧", "e\u0301", "Zürich", "ß", "\n", " ", "—", "𝔘𝔫𝔦"]


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch):
    """The log's fsync is what the crash test checks; here it would only cost time."""
    monkeypatch.setattr(notes_module.os, "fsync", lambda fd: None)


def byte_offset(text: str, index: int) -> int:
    """pycrdt indexes Text by UTF-8 bytes: the byte offset of a character boundary."""
    return len(text[:index].encode("utf-8"))


def local_edit(doc: Doc, edit) -> bytes:
    """Run an edit on a page's own document; the Yjs update it produced."""
    before = doc.get_state()
    edit(doc.get("notes", type=Text))
    return doc.get_update(before)


class Network:
    """Messages with a random delay, sometimes duplicated, delivered in shuffled order."""

    def __init__(self, rng: random.Random, max_delay: int = 8, duplicate: float = 0.15):
        self.rng, self.max_delay, self.duplicate = rng, max_delay, duplicate
        self.queue: list[tuple[int, object, tuple]] = []  # (due tick, destination, message)

    def send(self, now: int, destination, message: tuple) -> None:
        """Queue a message (and, now and then, a copy of it with its own delay)."""
        copies = 1
        while copies < 3 and self.rng.random() < self.duplicate:
            copies += 1
        for _ in range(copies):
            self.queue.append((now + self.rng.randint(0, self.max_delay), destination, message))

    def due(self, now: int) -> list[tuple[object, tuple]]:
        """The messages due by now, in random order."""
        ready = [(dest, msg) for due, dest, msg in self.queue if due <= now]
        self.queue = [item for item in self.queue if item[0] > now]
        self.rng.shuffle(ready)
        return ready


class Server:
    """The socket handlers' part in notes: apply, acknowledge, fan out; answer syncs."""

    def __init__(self, log_path: str, rng: random.Random):
        self.log_path, self.rng = log_path, rng
        self.store: dict[str, tuple[str | None, str]] = {}  # TinyDB's worksheets: state, text
        self.notes = self.open()
        self.acknowledged: list[bytes] = []  # every update the server said ok to, in order

    def stored(self, indicator: str) -> tuple[str | None, str]:
        return self.store.get(indicator, (None, INITIAL_TEXT))

    def open(self) -> SessionNotes:
        return SessionNotes(self.log_path, self.stored)

    def apply(self, update: bytes, author: str) -> None:
        self.notes.apply(INDICATOR, update, author)
        self.acknowledged.append(update)

    def fold(self) -> None:
        """What Workshop.fold_notes does: write text and state to TinyDB, then reset the log."""
        for indicator, (text, state, _authors) in self.notes.fold().items():
            assert text_of(doc_from(base64.b64decode(state))) == text
            self.store[indicator] = (state, text)
        self.notes.folded()

    def restart(self, torn_tail: bool) -> None:
        """A new process on the same log and TinyDB: it must hold what the old one held."""
        before_text = self.notes.text(INDICATOR)
        before_vector = self.notes.state_vector(INDICATOR)
        before_state = self.notes.state(INDICATOR)
        if torn_tail:  # a crash mid-append: that record was never acknowledged
            record = encode_record(INDICATOR, "torn", self.rng.randbytes(self.rng.randint(1, 40)))
            with open(self.log_path, "ab") as log:
                log.write(record[:self.rng.randint(1, len(record) - 1)])
        self.notes = self.open()
        assert self.notes.text(INDICATOR) == before_text
        assert vector(self.notes.state_vector(INDICATOR)) == vector(before_vector)
        assert same_content(self.notes.state(INDICATOR), before_state)


def varuints(data: bytes):
    """The unsigned LEB128 integers that Yjs encodings are made of."""
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            yield value
            value = shift = 0


def vector(state_vector: bytes) -> dict[int, int]:
    """A state vector as {client id: clock} (its encoding's order is not fixed)."""
    numbers = list(varuints(state_vector))
    return dict(zip(numbers[1::2], numbers[2::2]))


def settled(*updates: bytes) -> Doc:
    """A document with these updates applied, each integrated once what it builds on is there.

    pycrdt does not always retry a pending update when what it waits for arrives (applying
    it again does integrate it), so this applies them all again until nothing changes.
    """
    doc, text = doc_from(*updates), None
    while text != text_of(doc):
        text = text_of(doc)
        for update in updates:
            doc.apply_update(update)
    return doc


def doc_from(*updates: bytes) -> Doc:
    doc = Doc()
    for update in updates:
        doc.apply_update(update)
    return doc


def same_content(state_a: str, state_b: str) -> bool:
    """Two base64 states hold the same updates (once anything missing arrives, the same text)."""
    a, b = base64.b64decode(state_a), base64.b64decode(state_b)
    return (text_of(doc_from(a, b)) == text_of(doc_from(a)) == text_of(doc_from(b))
            and vector(doc_from(a, b).get_state()) == vector(doc_from(a).get_state())
            == vector(doc_from(b).get_state()))


class Page:
    """One person's browser: its own pycrdt document, sending each local edit as an update."""

    def __init__(self, name: str, rng: random.Random):
        self.name, self.rng, self.doc = name, rng, Doc()
        self.text = self.doc.get("notes", type=Text)
        self.tokens: list[str] = []  # what this page inserted (insert-only runs)

    def value(self) -> str:
        return str(self.text)

    def random_edit(self, insert_only: bool, counter: int) -> bytes | None:
        """Insert words, or delete a random range, at character boundaries."""
        current = self.value()
        if insert_only:
            token = f"{self.name}.{counter}.{self.rng.choice(WORDS).strip() or 'x'}"
            self.tokens.append(token)
            # Insert right after a separator only, so no token is ever split by another.
            boundaries = [0] + [i + 1 for i, ch in enumerate(current) if ch == "|"]
            at = byte_offset(current, self.rng.choice(boundaries))
            return local_edit(self.doc, lambda text: text.insert(at, token + "|"))
        if current and self.rng.random() < 0.35:
            start = self.rng.randrange(len(current))
            end = min(len(current), start + self.rng.randint(1, 6))
            a, b = byte_offset(current, start), byte_offset(current, end)
            return local_edit(self.doc, lambda text: text.__delitem__(slice(a, b)))
        words = "".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(1, 3)))
        at = byte_offset(current, self.rng.randint(0, len(current)))
        return local_edit(self.doc, lambda text: text.insert(at, words))


def simulate(seed: int, insert_only: bool = False, pages: int = 5, ops: int = 40, tmp_path=None):
    """Run one seeded session; returns the server and the pages once everything is delivered."""
    rng = random.Random(seed)
    server = Server(str(tmp_path / "notes.log"), rng)
    if insert_only:  # the final text must be exactly these tokens and the inserted ones
        server.store[INDICATOR] = (None, INITIAL_TOKENS)
    # The notes as first loaded (from plain text, as after importing a record).
    initial = server.initial = server.notes.missing(INDICATOR, Doc().get_state())
    network = Network(rng, max_delay=rng.choice([0, 3, 8, 15]), duplicate=rng.choice([0.0, 0.15, 0.4]))
    browsers = [Page(f"p{i}", rng) for i in range(pages)]
    SERVER = "server"

    def deliver(now: int) -> None:
        for destination, message in network.due(now):
            if destination == SERVER:
                kind, sender, payload = message
                if kind == "update":
                    try:
                        server.apply(payload, sender.name)
                    except NeedsResync:  # acknowledged {"ok": false, "resync": true}
                        network.send(now, sender, ("resync",))
                        continue
                    for other in browsers:  # emit(..., to=room, include_self=False)
                        if other is not sender:
                            network.send(now, other, ("update", payload))
                else:  # notes_sync: what the page lacks, and the server's state vector
                    reply = server.notes.missing(INDICATOR, payload)
                    network.send(now, sender, ("synced", reply, server.notes.state_vector(INDICATOR)))
            elif message[0] == "update":
                destination.doc.apply_update(message[1])
            elif message[0] == "resync":  # notes.js: exchange state vectors, send what the server lacks
                network.send(now, SERVER, ("sync", destination, destination.doc.get_state()))
            else:  # the sync answer: take what we lack, send what the server lacks
                _, reply, vector = message
                destination.doc.apply_update(reply)
                mine = destination.doc.get_update(vector)
                if mine != Doc().get_update():
                    network.send(now, SERVER, ("update", destination, mine))

    # Pages open: each asks for the notes as they stand.
    for page in browsers:
        network.send(0, SERVER, ("sync", page, page.doc.get_state()))
    now = 0
    for counter in range(ops):
        now += 1
        page = rng.choice(browsers)
        update = page.random_edit(insert_only, counter)
        if update:
            network.send(now, SERVER, ("update", page, update))
        roll = rng.random()
        if roll < 0.05:
            network.send(now, SERVER, ("sync", page, page.doc.get_state()))
        elif roll < 0.12:
            server.fold()
        elif roll < 0.17:
            server.restart(torn_tail=rng.random() < 0.5)
        deliver(now)
    while network.queue:  # everything in flight arrives, and what the server fans out too
        now += 1
        deliver(now)

    # Durability: the server holds its starting notes and every update it acknowledged,
    # whatever folds and restarts happened (and nothing else: no text doubled by a restart).
    expected = text_of(settled(initial, *server.acknowledged))
    assert server.notes.text(INDICATOR) == expected, f"seed {seed}: the server lost or doubled an update"

    # A final state-vector exchange, as a page does on reconnect, without the network.
    for page in browsers:
        page.doc.apply_update(server.notes.missing(INDICATOR, page.doc.get_state()))
        mine = page.doc.get_update(server.notes.state_vector(INDICATOR))
        if mine != Doc().get_update():
            server.apply(mine, page.name)
    for page in browsers:  # what the others sent in their final exchange
        page.doc.apply_update(server.notes.missing(INDICATOR, page.doc.get_state()))
    return server, browsers


def check(seed: int, server: Server, browsers: list[Page]) -> None:
    expected = server.notes.text(INDICATOR)
    for page in browsers:
        assert page.value() == expected, f"seed {seed}: {page.name} differs from the server"
    if random.Random(seed).random() < 0.5:
        server.fold()
    server.restart(torn_tail=True)
    assert server.notes.text(INDICATOR) == expected, f"seed {seed}: reloaded server differs"


@pytest.mark.parametrize("seed", SEEDS)
def test_every_page_converges_with_the_server(seed, tmp_path):
    server, browsers = simulate(seed, tmp_path=tmp_path)
    check(seed, server, browsers)


@pytest.mark.parametrize("seed", SEEDS)
def test_no_inserted_word_is_lost_or_doubled(seed, tmp_path):
    server, browsers = simulate(seed, insert_only=True, tmp_path=tmp_path)
    check(seed, server, browsers)
    tokens = server.notes.text(INDICATOR).split("|")
    assert tokens[-1] == "", f"seed {seed}: the text does not end with a whole token"
    inserted = INITIAL_TOKENS.split("|")[:-1] + [token for page in browsers for token in page.tokens]
    assert sorted(tokens[:-1]) == sorted(inserted), f"seed {seed}: tokens lost or doubled"


def open_notes(log: str, store: dict) -> SessionNotes:
    """The notes of one indicator as a server process opens them: the log over the store."""
    return SessionNotes(log, lambda indicator: store.get(indicator, (None, "")))


def fold_and_restart(notes: SessionNotes, log: str, store: dict) -> SessionNotes:
    """Fold into the store as Workshop.fold_notes does, then open the notes as a new process."""
    for indicator, (text, state, _authors) in notes.fold().items():
        store[indicator] = (state, text)
    notes.folded()
    return open_notes(log, store)


def test_an_update_built_on_one_the_server_lacks_is_refused_leaving_nothing(tmp_path):
    """Out of order: update 2 arrives before update 1, which it builds on. It is refused
    with a request to resync, and nothing of it stays behind: not in the document, not in
    the log, not after a fold and a restart. Then 1 and 2 arrive in order and both show."""
    page = Doc()
    first = local_edit(page, lambda text: text.insert(0, "first "))
    second = local_edit(page, lambda text: text.insert(len(text), "second"))
    store, log = {}, str(tmp_path / "notes.log")
    notes = open_notes(log, store)
    with pytest.raises(NeedsResync):
        notes.apply(INDICATOR, second, "pat")
    assert notes.state_vector(INDICATOR) == Doc().get_state() and notes.authors == {}
    assert not os.path.exists(log) or os.path.getsize(log) == 0
    notes = fold_and_restart(notes, log, store)
    notes.apply(INDICATOR, first, "pat")
    notes.apply(INDICATOR, second, "pat")
    assert notes.text(INDICATOR) == "first second"


def test_a_delete_of_text_the_server_lacks_is_refused_until_the_text_arrives(tmp_path):
    page = Doc()
    first = local_edit(page, lambda text: text.insert(0, "keep drop"))
    second = local_edit(page, lambda text: text.__delitem__(slice(4, 9)))
    store, log = {}, str(tmp_path / "notes.log")
    notes = open_notes(log, store)
    with pytest.raises(NeedsResync):
        notes.apply(INDICATOR, second, "pat")
    notes = fold_and_restart(notes, log, store)
    notes.apply(INDICATOR, first, "pat")
    assert notes.text(INDICATOR) == "keep drop"
    notes.apply(INDICATOR, second, "pat")
    assert notes.text(INDICATOR) == "keep"


def test_notes_loaded_from_plain_text_are_not_doubled_by_a_restart_before_any_fold(tmp_path):
    """An imported record has notes as plain text only. A page loads them, the server
    restarts before anything folds, and the page resyncs: the notes must read the same."""
    log = str(tmp_path / "notes.log")

    def stored(indicator):
        return None, "Imported notes 😀"

    notes = SessionNotes(log, stored)
    page = doc_from(notes.missing(INDICATOR, Doc().get_state()))
    typed = local_edit(page, lambda text: text.insert(len(text), " and more"))
    notes.apply(INDICATOR, typed, "pat")
    notes = SessionNotes(log, stored)  # killed before the fold; the log is replayed
    assert notes.text(INDICATOR) == "Imported notes 😀 and more"
    mine = page.get_update(notes.state_vector(INDICATOR))  # the page's resync
    if mine != Doc().get_update():
        notes.apply(INDICATOR, mine, "pat")
    assert notes.text(INDICATOR) == "Imported notes 😀 and more"


def test_updates_arriving_out_of_order_show_once_resent_in_order(tmp_path):
    """An update refused for arriving before the one it builds on applies whole once that
    one has arrived, and the text reads as the page's, before a restart and after."""
    base = local_edit(Doc(), lambda text: text.insert(0, "ab"))
    page = doc_from(base)
    first = local_edit(page, lambda text: text.insert(1, "xyz"))
    inside = local_edit(page, lambda text: text.insert(3, "--"))  # builds on `first`
    before = local_edit(page, lambda text: text.insert(0, "!"))   # next to `base` only
    log = str(tmp_path / "notes.log")
    notes = SessionNotes(log, lambda indicator: (None, ""))
    notes.apply(INDICATOR, base, "pat")
    for early in (inside, before):  # each needs `first`: a page's clocks run without gaps
        with pytest.raises(NeedsResync):
            notes.apply(INDICATOR, early, "pat")
    assert notes.text(INDICATOR) == "ab"
    for update in (first, inside, before):
        notes.apply(INDICATOR, update, "pat")
    assert notes.text(INDICATOR) == str(page.get("notes", type=Text)) == "!axy--zb"
    assert SessionNotes(log, lambda indicator: (None, "")).text(INDICATOR) == "!axy--zb"
