"""Discussion notes as CRDT documents (pycrdt, the Yrs binding that speaks Yjs's format).

Everyone types into the same notes at once; each keystroke arrives as a Yjs update,
which merges with every other update whatever the order, so no one's words are lost.

Rewriting the session's TinyDB file per keystroke would be slow, so each update is
appended to a per-session log (length, CRC32, payload) and fsynced before it is
acknowledged. Now and then the documents are *folded* into the TinyDB worksheets
(plain text for the record, plus the CRDT state) and the log starts again. A torn
record at the end of the log (a crash mid-append) fails its CRC and is dropped: it was
never acknowledged.
"""

from __future__ import annotations

import base64
import os
import struct
import threading
import zlib
from difflib import SequenceMatcher

from pycrdt import Doc, Text, get_update

from .storage import atomic_write
from .worksheet import NOTES_MAX

HEADER = struct.Struct(">II")  # payload length, CRC32 of payload
CARRIED = ""  # the author of a pending part carried over a fold: not a new edit
MAX_UPDATE_BYTES = 256 * 1024


def new_doc() -> Doc:
    """An empty notes document usable from any request thread."""
    return Doc(allow_multithreading=True)


def text_of(doc: Doc) -> str:
    """The plain text of a notes document."""
    return str(doc.get("notes", type=Text))


def encode_record(indicator: str, author: str, update: bytes) -> bytes:
    """One log record: which indicator, who, and the update."""
    names = indicator.encode(), author.encode()
    payload = b"".join(struct.pack(">H", len(n)) + n for n in names) + update
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _decode_payload(payload: bytes) -> tuple[str, str, bytes]:
    """Split a record's payload into indicator, author and update."""
    fields, offset = [], 0
    for _ in range(2):
        (size,) = struct.unpack_from(">H", payload, offset)
        fields.append(payload[offset + 2: offset + 2 + size].decode())
        offset += 2 + size
    return fields[0], fields[1], payload[offset:]


def read_records(raw: bytes) -> tuple[list[tuple[str, str, bytes]], int]:
    """The intact records in a log, and the length of the intact prefix."""
    records, offset = [], 0
    while offset + HEADER.size <= len(raw):
        length, crc = HEADER.unpack_from(raw, offset)
        payload = raw[offset + HEADER.size: offset + HEADER.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        records.append(_decode_payload(payload))
        offset += HEADER.size + length
    return records, offset


def _varuints(data: bytes, offset: int = 0):
    """The unsigned LEB128 integers Yjs encodes with, from offset on."""
    value = shift = 0
    for byte in data[offset:]:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            yield value
            value = shift = 0


def seed_update(text: str) -> bytes:
    """Plain-text notes as a first CRDT update: the same bytes for the same text, every time.

    Built under a client id taken from the text, so every process that loads the same plain
    text makes the same items. A random id would let a restart before the first fold rebuild
    the text as new items: the logged updates built on the old ones would never show, and a
    page still holding the old ones would send them back, doubling the notes.
    """
    doc = Doc(client_id=zlib.crc32(text.encode("utf-8")))
    doc.get("notes", type=Text).insert(0, text)
    return doc.get_update()


def waiting_part(doc: Doc, update: bytes) -> bytes | None:
    """What of an applied update the document holds only as pending, or None.

    An update that builds on one the server has not received (it arrived out of order, or
    after an update that was refused) waits inside the document, and pycrdt's get_update()
    leaves it out of the folded state: the log must keep it when a fold resets it, or an
    acknowledged update would be lost. (This errs on the safe side: it also counts items
    past a gap in a client's clocks, which pycrdt shows if their neighbours are there.)
    """
    vector = doc.get_state()
    rest = get_update(update, vector)  # only what lies beyond the document's clocks
    if rest == b"\x00\x00":
        return None  # no items, no deletes: the usual case
    if rest[:1] != b"\x00":
        return rest  # items the document does not hold yet
    numbers = list(_varuints(vector))
    clocks = dict(zip(numbers[1::2], numbers[2::2]))
    numbers = _varuints(rest, 1)  # the delete set: clients, then (clock, length) ranges of each
    for _ in range(next(numbers)):
        client, ranges = next(numbers), next(numbers)
        for _ in range(ranges):
            clock, length = next(numbers), next(numbers)
            if clock + length > clocks.get(client, 0):
                return rest  # deletes text the document has not received yet
    return None


def utf8_offset(text: str, index: int) -> int:
    """pycrdt indexes text in UTF-8 bytes; Python strings in code points."""
    return len(text[:index].encode("utf-8"))


class SessionNotes:
    """The live notes documents of one session and their durable update log."""

    def __init__(self, log_path: str, stored):
        self.log_path, self._stored = log_path, stored  # stored(indicator) -> (crdt_b64, text)
        self.docs: dict[str, Doc] = {}
        self.authors: dict[str, set[str]] = {}  # indicator -> who edited since the last fold
        self.waiting: dict[str, list[bytes]] = {}  # indicator -> parts of updates still pending
        self._lock = threading.RLock()
        self._replay_log()

    def _replay_log(self) -> None:
        """Apply the updates logged since the last fold, dropping a torn tail."""
        if not os.path.exists(self.log_path):
            return
        with open(self.log_path, "rb") as log:
            raw = log.read()
        records, intact = read_records(raw)
        if intact < len(raw):
            os.truncate(self.log_path, intact)
        for indicator, author, update in records:
            self.doc(indicator).apply_update(update)
            self._keep_waiting(indicator, update)
            if author != CARRIED:
                self.authors.setdefault(indicator, set()).add(author)

    def doc(self, indicator: str) -> Doc:
        """The indicator's notes document, loaded from the worksheet on first use."""
        with self._lock:
            if indicator not in self.docs:
                self.docs[indicator] = self._load(indicator)
            return self.docs[indicator]

    def _load(self, indicator: str) -> Doc:
        """A document from its folded CRDT state or, before any, from plain text."""
        doc, (state, text) = new_doc(), self._stored(indicator)
        if state:
            doc.apply_update(base64.b64decode(state))
        elif text:
            # The fold right after keeps this CRDT history; until then a restart rebuilds
            # the very same items (seed_update), so nothing built on them is lost or doubled.
            doc.apply_update(seed_update(text))
            self.authors.setdefault(indicator, set())
        return doc

    def _keep_waiting(self, indicator: str, update: bytes) -> None:
        """After applying an update: remember the part of it that waits for an earlier one,
        and let the parts that waited before try again (pycrdt does not always retry a
        pending update once what it waits for arrives: applying it again integrates it)."""
        doc = self.doc(indicator)
        for part in self._still_waiting(indicator):
            doc.apply_update(part)
        if part := waiting_part(doc, update):
            self.waiting.setdefault(indicator, []).append(part)

    def _still_waiting(self, indicator: str) -> list[bytes]:
        """The indicator's pending parts, dropping those that have since been integrated."""
        doc = self.doc(indicator)
        parts = [part for update in self.waiting.pop(indicator, []) if (part := waiting_part(doc, update))]
        if parts:
            self.waiting[indicator] = parts
        return parts

    def text(self, indicator: str) -> str:
        """The indicator's notes as they stand now."""
        return text_of(self.doc(indicator))

    def state_vector(self, indicator: str) -> bytes:
        """What this server has of the indicator's notes (for a client to send what is missing)."""
        return self.doc(indicator).get_state()

    def missing(self, indicator: str, state_vector: bytes) -> bytes:
        """The update a client with this state vector lacks."""
        return self.doc(indicator).get_update(state_vector)

    def apply(self, indicator: str, update: bytes, author: str) -> None:
        """Apply one update and durably log it (raises ValueError for a bad update).

        Applied to the live document directly (copying the document to try it first cost
        a few milliseconds per keystroke); the rare refused update is undone by rebuilding
        the document from its stored state and the log, which never held it.
        """
        if not update or len(update) > MAX_UPDATE_BYTES:
            raise ValueError("The update is empty or too big.")
        with self._lock:
            doc = self.doc(indicator)
            try:
                doc.apply_update(update)
                problem = self._refusal(doc)
                if problem is None:
                    self._append(indicator, author, update)
            except Exception as error:  # pycrdt raises plain exceptions for bad bytes
                problem = f"The update could not be read: {error}"
            if problem:
                self._reload(indicator)
                raise ValueError(problem)
            self._keep_waiting(indicator, update)
            self.authors.setdefault(indicator, set()).add(author)

    @staticmethod
    def _refusal(doc: Doc) -> str | None:
        """Why a document that just took an update must not keep it, if it must not."""
        # notes.js writes only the "notes" text; anything else would be kept (and grow
        # the stored state) without ever showing up in the record.
        if set(doc.keys()) - {"notes"}:
            return "The update changes something other than the notes."
        if len(text_of(doc)) > NOTES_MAX:
            return f"Notes are limited to {NOTES_MAX:,} characters; this edit was not saved."
        return None

    def _reload(self, indicator: str) -> None:
        """Rebuild an indicator's document from its stored state and the logged updates."""
        self.docs.pop(indicator, None)
        self.waiting.pop(indicator, None)
        doc = self.doc(indicator)
        if os.path.exists(self.log_path):
            with open(self.log_path, "rb") as log:
                records, _ = read_records(log.read())
            for logged, _author, update in records:
                if logged == indicator:
                    doc.apply_update(update)
                    self._keep_waiting(indicator, update)

    def replace_text(self, indicator: str, new_text: str, author: str) -> bytes:
        """Edit the notes to read new_text as CRDT operations (for forms without JavaScript)."""
        with self._lock:
            doc = self.doc(indicator)
            old, text, updates = text_of(doc), doc.get("notes", type=Text), []
            subscription = doc.observe(lambda event: updates.append(event.update))
            with doc.transaction():
                opcodes = SequenceMatcher(None, old, new_text, autojunk=False).get_opcodes()
                for tag, i1, i2, j1, j2 in reversed(opcodes):  # from the end: offsets stay valid
                    if tag in ("delete", "replace"):
                        del text[utf8_offset(old, i1):utf8_offset(old, i2)]
                    if tag in ("insert", "replace"):
                        text.insert(utf8_offset(old, i1), new_text[j1:j2])
            doc.unobserve(subscription)
            update = updates[0] if updates else b""
            if update:
                self._append(indicator, author, update)
                self.authors.setdefault(indicator, set()).add(author)
            return update

    def _append(self, indicator: str, author: str, update: bytes) -> None:
        """Append one record and fsync it: after this, the update survives kill -9."""
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, encode_record(indicator, author, update))
            os.fsync(fd)
        finally:
            os.close(fd)

    def state(self, indicator: str) -> str:
        """The indicator's whole CRDT state, base64-encoded for TinyDB (pending parts stay in the log)."""
        return base64.b64encode(self.doc(indicator).get_update()).decode()

    def fold(self) -> dict[str, tuple[str, str, set[str]]]:
        """Snapshot every document edited since the last fold: indicator -> (text, state, authors).

        The caller writes them to TinyDB and then calls `folded()`; until then the log
        still holds every update, so a crash in between loses nothing.
        """
        with self._lock:
            return {indicator: (self.text(indicator), self.state(indicator), authors)
                    for indicator, authors in self.authors.items()}

    def folded(self) -> None:
        """Start the log afresh once the folded state is durable in TinyDB, keeping only
        the parts of updates that still wait for an earlier one (the state lacks them)."""
        with self._lock:
            if self.authors:
                carried = [encode_record(indicator, CARRIED, part)
                           for indicator in list(self.waiting) for part in self._still_waiting(indicator)]
                atomic_write(self.log_path, b"".join(carried))
                self.authors.clear()
