"""Discussion notes as CRDT documents (pycrdt, the Yrs binding that speaks Yjs's format).

Everyone types into the same notes at once; each keystroke arrives as a Yjs update,
which merges with every other update whatever the order, so no one's words are lost.

Rewriting the session's TinyDB file per keystroke would be slow, so each update is
appended to a per-session log (length, CRC32, payload) and fsynced before it is
acknowledged. Now and then the documents are *folded* into the TinyDB worksheets
(plain text for the record, plus the CRDT state) and the log starts again. A torn
record at the end of the log (a crash mid-append) fails its CRC and is dropped: it was
never acknowledged.

Every update is read by `yupdate` before pycrdt sees it: only plain text inserted into or
deleted from the "notes" text, and only on top of what the document already holds. An
update that builds on one the server lacks is refused (the page resyncs), never kept
waiting, so the document holds exactly what was acknowledged and the log replays in one
pass, one apply per record.
"""

from __future__ import annotations

import base64
import os
import struct
import threading
import zlib

from diff_match_patch import diff_match_patch
from pycrdt import Doc, Text

from . import textmerge, yupdate
from .storage import atomic_write
from .worksheet import NOTES_MAX, NotesMoved
from .yupdate import NeedsResync, Refused  # noqa: F401 (what callers catch)

ROOT = "notes"  # the one root text of a notes document
HEADER = struct.Struct(">II")  # payload length, CRC32 of payload
MAX_UPDATE_BYTES = 256 * 1024
# The most an indicator's CRDT state may take: the text (at most NOTES_MAX characters) and
# the marks left by deleted text (a few bytes each), with room for a long discussion.
STATE_MAX_BYTES = 256 * 1024
# A state grows by at most this many bytes per byte of update applied: each struct or
# deleted range of a few bytes can split two stored items, each split costing a header.
GROWTH_PER_UPDATE_BYTE = 16
# Past this the log is folded at once rather than after the usual pause, so it stays
# small however fast updates arrive (each is at most MAX_UPDATE_BYTES).
LOG_FOLD_BYTES = 1024 * 1024


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


def read_update(update: bytes) -> yupdate.Update:
    """A page's update, read and bounded before any lock is taken (Refused unless it is
    plain text for the notes, of at most MAX_UPDATE_BYTES)."""
    if not isinstance(update, (bytes, bytearray)) or not update or len(update) > MAX_UPDATE_BYTES:
        raise Refused("The update is empty or too big.")
    return yupdate.read(update, ROOT, NOTES_MAX)


def text_edits(old: str, new: str) -> list[tuple[int, int, str]]:
    """The CRDT edits that turn old into new: (UTF-8 offset in old, bytes to delete, text
    to insert), last first so each leaves the offsets of those after it valid.

    Found by textmerge's bounded diff: slow for long notes, so call it holding no lock.
    (pycrdt indexes text in UTF-8 bytes; Python strings in code points.)
    """
    edits: list[list] = []
    offset = 0
    for operation, text in textmerge.diff(old, new):
        size = len(text.encode("utf-8"))
        if operation == diff_match_patch.DIFF_EQUAL:
            offset += size
        elif operation == diff_match_patch.DIFF_DELETE:
            edits.append([offset, size, ""])
            offset += size
        elif edits and edits[-1][0] + edits[-1][1] == offset and not edits[-1][2]:
            edits[-1][2] = text  # inserted where text was just deleted: one replacement
        else:
            edits.append([offset, 0, text])
    return [tuple(edit) for edit in reversed(edits)]


class SessionNotes:
    """The live notes documents of one session and their durable update log.

    Lock order: the session file's lock first, then `_lock`. Loading a document reads the
    session file (`stored` takes its lock), so that happens holding `_lock` only in a thread
    that already holds the file's lock (`apply` and `edit`, whose callers do).
    """

    def __init__(self, log_path: str, stored):
        self.log_path, self._stored = log_path, stored  # stored(indicator) -> (crdt_b64, text)
        self.docs: dict[str, Doc] = {}
        self.authors: dict[str, set[str]] = {}  # indicator -> who edited since the last fold
        self._sizes: dict[str, int] = {}  # indicator -> the most its state can have grown to
        self.log_bytes = 0
        self._lock = threading.RLock()
        self._replay_log()

    def _replay_log(self) -> None:
        """Apply the updates logged since the last fold, dropping a torn tail.

        Each record applied whole when it was acknowledged, so each is applied once now, in
        order: replay time grows with the log, no faster. Each is read again first (a log
        is a file, and pycrdt trusts what it decodes): one holding more than plain text
        raises Refused, and the session is reported damaged rather than served.
        """
        if not os.path.exists(self.log_path):
            return
        with open(self.log_path, "rb") as log:
            raw = log.read()
        records, intact = read_records(raw)
        if intact < len(raw):
            os.truncate(self.log_path, intact)
        self.log_bytes = intact
        for indicator, author, update in records:
            yupdate.read(update, ROOT, max_inserted=None, max_parts=None)  # a form save's may be long
            self.doc(indicator).apply_update(update)
            self._grow(indicator, len(update))
            self.authors.setdefault(indicator, set())
            if author:  # records written by earlier versions may carry no author
                self.authors[indicator].add(author)

    def doc(self, indicator: str) -> Doc:
        """The indicator's notes document, loaded from the worksheet on first use."""
        with self._lock:
            if indicator in self.docs:
                return self.docs[indicator]
        stored = self._stored(indicator)  # takes the session file's lock (see the lock order)
        with self._lock:
            if indicator not in self.docs:
                self.docs[indicator] = self._load(indicator, *stored)
            return self.docs[indicator]

    def _load(self, indicator: str, state: str | None, text: str) -> Doc:
        """A document from its folded CRDT state or, before any, from plain text."""
        doc = new_doc()
        if state:
            doc.apply_update(base64.b64decode(state))
        elif text:
            # The fold right after keeps this CRDT history; until then a restart rebuilds
            # the very same items (seed_update), so nothing built on them is lost or doubled.
            doc.apply_update(seed_update(text))
            self.authors.setdefault(indicator, set())
        self._sizes[indicator] = len(doc.get_update())
        return doc

    def text(self, indicator: str) -> str:
        """The indicator's notes as they stand now."""
        return text_of(self.doc(indicator))

    def state_vector(self, indicator: str) -> bytes:
        """What this server has of the indicator's notes (for a client to send what is missing)."""
        return self.doc(indicator).get_state()

    def missing(self, indicator: str, state_vector: bytes) -> bytes:
        """The update a client with this state vector lacks (Refused for a malformed vector)."""
        yupdate.read_state_vector(state_vector)  # pycrdt would trust its counts
        return self.doc(indicator).get_update(state_vector)

    def apply(self, indicator: str, update: bytes | yupdate.Update, author: str) -> None:
        """Apply one update and durably log it, or refuse it leaving no trace.

        Raises Refused for an update that is not plain-text notes or would pass a limit, and
        NeedsResync for one that builds on something the document lacks. The update is
        best read beforehand, holding no lock (`read_update`). Applied to the live document
        directly (copying it first cost milliseconds per keystroke); the rare update refused
        after applying is undone by rebuilding the document from its stored state and the
        log, which never held it. The caller holds the session file's lock.
        """
        if not isinstance(update, yupdate.Update):
            update = read_update(update)
        with self._lock:
            doc = self.doc(indicator)
            expected = yupdate.check_applies(update, vector(doc))
            try:
                doc.apply_update(update.raw)
                problem = self._refusal(indicator, doc, expected, len(update.raw))
            except Exception as error:  # pycrdt raises plain exceptions for bytes it cannot use
                problem = f"The update could not be applied: {error}"
            if problem:
                self._reload(indicator)
                raise Refused(problem)
            self._append(indicator, author, update.raw)
            self.authors.setdefault(indicator, set()).add(author)

    def _refusal(self, indicator: str, doc: Doc, expected: dict[int, int], size: int) -> str | None:
        """Why a document that just took an update must not keep it, if it must not."""
        if vector(doc) != expected:  # parts that wait on each other, which no Yjs page sends
            return "The update could not be applied whole."
        if len(text_of(doc)) > NOTES_MAX:
            return f"Notes are limited to {NOTES_MAX:,} characters; this edit was not saved."
        if self._grown_past_limit(indicator, doc, size):
            return "These notes have too long an editing history to take more; this edit was not saved."
        return None

    def _grown_past_limit(self, indicator: str, doc: Doc, size: int) -> bool:
        """Whether the document's state now passes STATE_MAX_BYTES. Measuring it takes up to
        a millisecond, so only once the updates since the last measurement could have."""
        if self._grow(indicator, size) > STATE_MAX_BYTES:
            self._sizes[indicator] = len(doc.get_update())
        return self._sizes[indicator] > STATE_MAX_BYTES

    def _grow(self, indicator: str, size: int) -> int:
        """Raise the bound on the indicator's state by the most an update of size bytes adds."""
        self._sizes[indicator] = self._sizes.get(indicator, 0) + size * GROWTH_PER_UPDATE_BYTE
        return self._sizes[indicator]

    def _reload(self, indicator: str) -> None:
        """Rebuild an indicator's document from its stored state and the logged updates."""
        with self._lock:
            self.docs.pop(indicator, None)
            doc = self.doc(indicator)
            if os.path.exists(self.log_path):
                with open(self.log_path, "rb") as log:
                    records, _ = read_records(log.read())
                for logged, _author, update in records:
                    if logged == indicator:
                        doc.apply_update(update)

    def edit(self, indicator: str, old: str, edits: list[tuple[int, int, str]], author: str) -> bytes:
        """Make the edits `text_edits(old, new)` found, as CRDT operations, if the notes still
        read old (NotesMoved if not); returns the update, logged. The caller holds the
        session file's lock."""
        with self._lock:
            doc = self.doc(indicator)
            if text_of(doc) != old:
                raise NotesMoved("The notes changed while this save was merged.")
            text, updates = doc.get(ROOT, type=Text), []
            subscription = doc.observe(lambda event: updates.append(event.update))
            with doc.transaction():
                for at, size, insert in edits:
                    if size:
                        del text[at:at + size]
                    if insert:
                        text.insert(at, insert)
            doc.unobserve(subscription)
            update = updates[0] if updates else b""
            if update:
                self._append(indicator, author, update)
                self._grow(indicator, len(update))
                self.authors.setdefault(indicator, set()).add(author)
            return update

    def _append(self, indicator: str, author: str, update: bytes) -> None:
        """Append one record and fsync it: after this, the update survives kill -9."""
        record = encode_record(indicator, author, update)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, record)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.log_bytes += len(record)

    def fold_due(self) -> bool:
        """Whether the log has grown enough to fold now, not after the usual pause."""
        return self.log_bytes > LOG_FOLD_BYTES

    def state(self, indicator: str) -> str:
        """The indicator's whole CRDT state, base64-encoded for TinyDB."""
        update = self.doc(indicator).get_update()
        self._sizes[indicator] = len(update)
        return base64.b64encode(update).decode()

    def fold(self) -> dict[str, tuple[str, str, set[str]]]:
        """Snapshot every document edited since the last fold: indicator -> (text, state, authors).

        The caller writes them to TinyDB and then calls `folded()`; until then the log
        still holds every update, so a crash in between loses nothing.
        """
        with self._lock:
            return {indicator: (self.text(indicator), self.state(indicator), authors)
                    for indicator, authors in self.authors.items()}

    def folded(self) -> None:
        """Start the log afresh once the folded state is durable in TinyDB."""
        with self._lock:
            if self.authors or self.log_bytes:
                atomic_write(self.log_path, b"")
                self.authors.clear()
                self.log_bytes = 0


def vector(doc: Doc) -> dict[int, int]:
    """A document's state vector as {client: clock} (however many pages have typed in it)."""
    return yupdate.read_state_vector(doc.get_state(), most_clients=None)
