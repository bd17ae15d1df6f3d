"""Durable, single-writer TinyDB storage: one JSON file per workshop session.

Each ``SessionFile.transaction()`` holds the file's lock and reaches disk as ONE
atomic, fsynced replacement. Corrupt files are reported, never overwritten.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
from contextlib import contextmanager, suppress
from typing import Iterator

import orjson
import tinydb
from tinydb.storages import Storage

from . import memory

SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A JSON escape of half a surrogate pair: parsed, it is text that cannot be written back.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
TMP_MARKER = ".tmp-"


def _is_tmp_name(name: str) -> bool:
    """True for temp files left behind by atomic_write."""
    return name.startswith(".") and TMP_MARKER in name


def _fsync_dir(folder: str) -> None:
    """Make a rename/creation inside ``folder`` durable."""
    if os.name == "nt":  # Windows cannot open directories; NTFS journals renames
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, data: bytes, mode: int = 0o600) -> None:
    """Write bytes so that the file is either the old or the new content, durably."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    # Same folder (rename is atomic only within one filesystem); hidden and
    # not ending in .json so open_all never mistakes it for a session.
    tmp = os.path.join(folder, f".{name}{TMP_MARKER}{secrets.token_hex(6)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)  # the umask may have removed bits
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # content on disk before the rename points at it
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)  # the rename itself must survive a power cut


class CorruptSessionFile(Exception):
    """A session file on disk that is not a valid TinyDB JSON document."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(
            f"Session file {self.path} cannot be loaded ({reason}); "
            "it was left unchanged on disk."
        )


class FileRetired(Exception):
    """A session file this process no longer serves: its room moved to another process."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(f"session file {os.fspath(path)} is served by another process now")


def _check_layout(data: object) -> str | None:
    """Return why ``data`` is not {table: {doc_id: {...}}}, or None if it is."""
    if not isinstance(data, dict):
        return f"top level is a JSON {type(data).__name__}, not an object of tables"
    for table, docs in data.items():
        if not isinstance(docs, dict):
            return f"table {table!r} is not a JSON object"
        for doc_id, doc in docs.items():
            if not (doc_id.isascii() and doc_id.isdigit()) or not isinstance(doc, dict):
                return f"table {table!r} has an invalid document {doc_id!r}"
    return None


def _load(path: str) -> tuple[bytes, dict]:
    """Read and validate a session file; raise CorruptSessionFile if unusable."""
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.strip():
        raise CorruptSessionFile(path, "the file is empty")
    try:
        data = parse_json(raw)
    except UnicodeDecodeError as e:
        raise CorruptSessionFile(path, f"not UTF-8 text: {e}") from e
    except json.JSONDecodeError as e:
        raise CorruptSessionFile(path, f"invalid JSON: {e}") from e
    problem = _check_layout(data)
    if problem:
        raise CorruptSessionFile(path, problem)
    if SURROGATE_ESCAPE.search(raw):  # rare, so the full check runs only then
        try:
            _encode(data)
        except UnicodeEncodeError:
            raise CorruptSessionFile(path, "it holds text that is not valid Unicode") from None
    return raw, data


def parse_json(raw: bytes):
    """Parse JSON bytes: orjson first (a 5 MB file holds the GIL, and so every other
    request, for 65 ms instead of 92), the standard library for what orjson refuses, so
    that what is accepted, and each error's wording, stay as they were."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8"))


def _encode(data: dict) -> bytes:
    """Serialise the whole database compactly, as UTF-8 (text that cannot be written as
    UTF-8 raises UnicodeEncodeError).

    orjson writes the very bytes `json.dumps(data, ensure_ascii=False, separators=(",", ":"))`
    did, 17 times faster: 5 ms instead of 86 ms for a 5 MB session, all of it holding the GIL.
    """
    try:
        return orjson.dumps(data)
    except TypeError as error:  # orjson's word for a surrogate (and for a non-JSON value)
        if "surrogates" in str(error):
            raise UnicodeEncodeError("utf-8", "", 0, 1, str(error)) from None
        raise


class DurableStorage(Storage):
    """Keeps the parsed JSON in memory; writes inside a transaction are buffered and committed once."""

    def __init__(self, path: str | os.PathLike, written: tuple[bytes, dict] | None = None):
        self.path = os.fspath(path)
        # The committed bytes are what rollback returns to: TinyDB mutates the
        # documents of the dict that read() hands out in place. A file just written by
        # create() comes with its bytes and tables, rather than being read back.
        self._committed, self._data = written or _load(self.path)
        self._in_transaction = False

    def read(self) -> dict | None:
        """Return the live in-memory tables (TinyDB's own MemoryStorage does the same)."""
        return self._data

    def write(self, data: dict) -> None:
        """Buffer inside a transaction; outside one, write durably at once."""
        self._data = data
        if not self._in_transaction:
            try:
                self.commit()
            except BaseException:
                self.rollback()
                raise

    def begin(self) -> None:
        """Start buffering writes."""
        self._in_transaction = True

    def commit(self) -> None:
        """Write the buffered state with one atomic_write (the caller rolls back on error)."""
        # Serialise even if write() was never called, so memory and disk
        # cannot drift apart after an in-place mutation by TinyDB.
        encoded = _encode(self._data)
        if encoded != self._committed:
            atomic_write(self.path, encoded)
        self._committed = encoded
        self._in_transaction = False

    def rollback(self) -> None:
        """Drop uncommitted changes by re-parsing the last committed bytes."""
        self._data = json.loads(self._committed)
        self._in_transaction = False


# TinyDB caches, per table, the next document id and query results, in private attributes
# that a rollback must reset. Reset in place only under the version this was written for (the
# pin in requirements.txt); under any other, checked once here, public calls only.
TINYDB_WRITTEN_FOR = "4.9.0"
TINYDB_FITS = tinydb.__version__ == TINYDB_WRITTEN_FOR
if not TINYDB_FITS:
    logging.getLogger(__name__).warning(
        "storage: written for tinydb %s but %s is installed; a rolled-back change gets a new "
        "TinyDB object (Table objects held across a rollback would keep stale caches)",
        TINYDB_WRITTEN_FOR, tinydb.__version__)


def _forget_caches(db: tinydb.TinyDB) -> tinydb.TinyDB:
    """The TinyDB to use after a rollback: `db` with every table's caches reset (the
    next document id and query results may reflect the dropped change)."""
    if TINYDB_FITS:
        # In place: Table objects survive, and callers may hold them.
        for table in db._tables.values():
            table._next_id = None
            table.clear_cache()
        return db
    storage = db.storage
    return tinydb.TinyDB(storage=lambda: storage)  # no tables made yet: no caches


class SessionFile:
    """One session's TinyDB file with its single-writer lock."""

    def __init__(self, path: str | os.PathLike, written: tuple[bytes, dict] | None = None):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            atomic_write(self.path, _encode({}))
        self.db = tinydb.TinyDB(self.path, storage=DurableStorage, written=written)
        self._lock = threading.RLock()  # re-entrant so nested blocks join
        self._depth = 0
        self._doomed = False  # an inner block failed; the outer must not commit
        self._retired = False  # its room moved to another process: no more reads or writes here

    @property
    def storage(self) -> DurableStorage:
        """The DurableStorage behind self.db."""
        return self.db.storage  # type: ignore[return-value]

    @contextmanager
    def transaction(self) -> Iterator[tinydb.TinyDB]:
        """Run the block as one all-or-nothing, durable change."""
        with self._lock:
            self._refuse_if_retired()
            if self._depth:
                yield from self._joined()
                return
            self._depth, self._doomed = 1, False
            self.storage.begin()
            try:
                yield self.db
                if self._doomed:
                    raise RuntimeError("a nested transaction failed; nothing was saved")
                self.storage.commit()
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth = 0

    def _joined(self) -> Iterator[tinydb.TinyDB]:
        """Body of a nested transaction: it commits or fails with the outer one."""
        self._depth += 1
        try:
            yield self.db
        except BaseException:
            self._doomed = True  # even if the outer block swallows the error
            raise
        finally:
            self._depth -= 1

    def _rollback(self) -> None:
        """Restore the committed state and drop what TinyDB cached from the dropped change."""
        self.storage.rollback()
        self.db = _forget_caches(self.db)

    @contextmanager
    def reading(self) -> Iterator[tinydb.TinyDB]:
        """Give consistent read access under the lock; nothing is written."""
        with self._lock:
            self._refuse_if_retired()
            yield self.db

    def retire(self) -> None:
        """Refuse every later read and write (FileRetired): another process is taking the
        session over. Waits for a change in progress, which then is the last one here."""
        with self._lock:
            self._retired = True

    def _refuse_if_retired(self) -> None:
        if self._retired:
            raise FileRetired(self.path)

    def size_bytes(self) -> int:
        """Size of the committed file on disk."""
        return os.path.getsize(self.path)


class SessionDirectory:
    """The folder of session files: checks each at start-up, loads one when its room opens,
    creates new ones. It keeps no file open: an open file belongs to its session's room."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.path.abspath(os.fspath(folder))
        if not os.path.isdir(self.folder):
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
            os.chmod(self.folder, 0o700)  # makedirs' mode is filtered by umask
            _fsync_dir(os.path.dirname(self.folder))
        self._known: set[str] = set()  # sessions whose files were found usable
        self._creating: set[str] = set()  # ids being written by create(), outside the lock
        self._lock = threading.Lock()

    def path(self, session_id: str, suffix: str = ".json") -> str:
        """Where a session's file (or, with suffix ".notes.log", its notes log) lives."""
        return os.path.join(self.folder, f"{session_id}{suffix}")

    def open_all(self, check=None) -> list[CorruptSessionFile]:
        """Read every session file once and remember the usable ones; return (never
        overwrite) the others. `check(session_id, file)` may name a further reason
        (a string) not to serve a file that parsed."""
        problems: list[CorruptSessionFile] = []
        for name in sorted(os.listdir(self.folder)):
            path = os.path.join(self.folder, name)
            if _is_tmp_name(name):
                # Only a writer killed mid-write leaves one; its target
                # still holds the previous complete version.
                with suppress(FileNotFoundError):
                    os.unlink(path)
                continue
            session_id, ext = os.path.splitext(name)
            if ext != ".json":
                continue
            problem = self._problem(session_id, path, check)
            if problem:
                problems.append(problem)
            else:
                with self._lock:
                    self._known.add(session_id)
        return problems

    def _problem(self, session_id: str, path: str, check) -> CorruptSessionFile | None:
        """Why one file found at start-up cannot be served, or None."""
        if not SESSION_ID_RE.fullmatch(session_id):
            return CorruptSessionFile(path, "file name is not a valid session id")
        try:
            file = SessionFile(path)
            reason = check(session_id, file) if check else None
        except CorruptSessionFile as e:
            return e
        except OSError as e:
            return CorruptSessionFile(path, f"unreadable: {e}")
        return CorruptSessionFile(path, reason) if reason else None

    def load(self, session_id: str) -> SessionFile | None:
        """A session's file, read from disk now (None if there is no usable one).

        Each call makes a new reader and writer of the file: only the room registry calls
        this, once per room, so a file has one writer (see ecsa/rooms.py).
        """
        with self._lock:
            if session_id not in self._known:
                return None
        return SessionFile(self.path(session_id))

    def create(self, session_id: str, tables: dict | None = None) -> SessionFile:
        """Create a session file holding tables (empty if None), written whole and durably.

        The file is encoded first (text that is not valid Unicode fails here, before
        anything touches the disk) and written outside the folder's lock, which every
        request takes: a 5 MB imported record never holds up other sessions' pages.
        """
        if not isinstance(session_id, str) or not SESSION_ID_RE.fullmatch(session_id):
            raise ValueError(f"invalid session id {session_id!r}: use 1-64 of A-Z a-z 0-9 _ -")
        encoded = _encode(tables or {})
        path = self.path(session_id)
        with self._lock:
            # Also refuse when only the file exists (e.g. a corrupt one):
            # creating must never overwrite anything on disk.
            if session_id in self._known or session_id in self._creating or os.path.lexists(path):
                raise ValueError(f"session {session_id!r} already exists")
            self._creating.add(session_id)
        try:
            atomic_write(path, encoded)
            session = SessionFile(path, written=(encoded, tables or {}))
            with self._lock:
                self._known.add(session_id)
            return session
        finally:
            with self._lock:
                self._creating.discard(session_id)

    def discover(self, session_id: str) -> None:
        """Serve a session whose file another process (sharing this folder) made after this
        one started; the file is read and checked when its room opens, like any other."""
        if SESSION_ID_RE.fullmatch(session_id) and os.path.isfile(self.path(session_id)):
            with self._lock:
                self._known.add(session_id)

    def set_aside(self, session_id: str) -> None:
        """Stop serving a session whose file turned out to be unusable (it stays on disk)."""
        with self._lock:
            self._known.discard(session_id)

    def compact(self) -> dict[str, str]:
        """Re-make the id kept for each session (see ecsa/memory.py: made while rooms were
        open, each would keep the memory around it resident); returns {id: its new copy}
        so that other indexes can share the copies."""
        with self._lock:
            copies = {session_id: memory.fresh(session_id) for session_id in self._known}
            self._known = set(copies.values())
        return copies

    def ids(self) -> list[str]:
        """Ids of all usable sessions, sorted."""
        with self._lock:
            return sorted(self._known)
