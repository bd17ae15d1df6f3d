"""A strict reader of Yjs updates (binary format v1), run before pycrdt sees the bytes.

pycrdt trusts what it decodes: five bytes claiming 3×10⁸ clients make it reserve half a
gigabyte; formatting attributes of any size are stored forever next to one character;
an update built on one the server never received waits inside the document, and in the
log, for good. So each update is read here first, the way Yjs reads it (lib0 varUint and
varString; yjs src/utils/encoding.js readClientsStructRefs, then DeleteSet.js
readDeleteSet), and refused unless it only inserts plain text into, or deletes from, the
one root text, and builds only on what the server's document already holds.

The format: the number of clients; per client the number of structs, the client id and
its first clock, then each struct: an info byte whose low five bits say what it is
(0 GC, 10 Skip, otherwise an item with content of that kind), for an item its origin
(if info & 0x80) and right origin (if info & 0x40), its parent only when it has neither
(1 and a root name, or 0 and a parent item's id), its key in a map (if info & 0x20), then
its content. Then the delete set: the number of clients; per client its id, the number
of ranges and each range's clock and length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

GC, DELETED, STRING, SKIP = 0, 1, 4, 10  # the struct and content kinds the notes accept
HAS_ORIGIN, HAS_RIGHT_ORIGIN, HAS_PARENT_SUB = 0x80, 0x40, 0x20
MAX_NUMBER = 2 ** 53 - 1  # lib0 refuses larger numbers: JavaScript cannot hold them exactly
MAX_CLOCK = 2 ** 32 - 1   # Yrs (inside pycrdt) keeps clocks in 32 bits
MAX_VARUINT_BYTES = 8     # 8 × 7 bits hold every number up to MAX_NUMBER
# Client sections, structs and deleted ranges in one update. Reading is Python (about ten
# milliseconds per 10,000, holding the interpreter); a keystroke makes a handful, a page
# back from a long time offline a few hundred.
MAX_PARTS = 10_000

ID = tuple[int, int]  # (client, clock)


class Refused(ValueError):
    """Not an update the notes take: malformed, too big, or more than plain text."""


class NeedsResync(ValueError):
    """The update builds on something the server does not hold yet (an update that was
    lost or is still on its way): the sender should exchange state vectors and send
    everything the server lacks, which then applies whole."""


class Struct(NamedTuple):
    """One struct of an update: clocks [clock, clock + length) of one client."""

    client: int
    clock: int
    length: int
    kind: int
    origin: ID | None = None
    right_origin: ID | None = None


@dataclass
class Update:
    """An update read and found to be plain-text notes, with its original bytes."""

    raw: bytes
    structs: list[Struct] = field(default_factory=list)
    deletes: list[tuple[int, int, int]] = field(default_factory=list)  # (client, clock, length)
    inserted: int = 0  # characters of text it inserts
    parts: int = 0  # client sections, structs and deleted ranges declared so far


class _Reader:
    """lib0's decoding over bytes, refusing anything that claims more than is there."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def left(self) -> int:
        """How many bytes are still unread."""
        return len(self.data) - self.pos

    def byte(self) -> int:
        """One byte."""
        if self.pos >= len(self.data):
            raise Refused("The update ends too early.")
        self.pos += 1
        return self.data[self.pos - 1]

    def number(self) -> int:
        """A varUint: seven bits a byte, least significant first, high bit = more follows."""
        if self.pos < len(self.data) and self.data[self.pos] < 0x80:  # most numbers: one byte
            self.pos += 1
            return self.data[self.pos - 1]
        value = 0
        for shift in range(0, 7 * MAX_VARUINT_BYTES, 7):
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if value > MAX_NUMBER:
                    break
                return value
        raise Refused("The update holds a number too large to be exact.")

    def count(self, least_bytes_each: int) -> int:
        """A number of things to follow, each at least least_bytes_each bytes long: a count
        the remaining bytes cannot hold is refused before anything is reserved for it."""
        count = self.number()
        if count * least_bytes_each > self.left():
            raise Refused("The update claims more than it holds.")
        return count

    def string(self) -> str:
        """A varString: its length in bytes, then UTF-8."""
        size = self.number()
        if size > self.left():
            raise Refused("The update ends too early.")
        raw = self.data[self.pos:self.pos + size]
        self.pos += size
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("The update's text is not UTF-8.") from None

    def id(self) -> ID:
        """An item's id: client, clock."""
        return self.number(), self.number()


def utf16_length(text: str) -> int:
    """A string's length as Yjs counts it (and clocks advance): UTF-16 code units."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def read(data: bytes, root: str, max_inserted: int | None, max_parts: int | None = MAX_PARTS) -> Update:
    """Read an update, refusing (Refused) all but plain text inserted into or deleted from
    the root text, more than max_inserted characters of text, or more than max_parts
    structs, deleted ranges and sections (None: no limit, for updates the server made)."""
    reader, update, clients = _Reader(data), Update(bytes(data)), set()
    for _ in range(reader.count(3)):  # a client's section: struct count, client id, clock
        _read_client(reader, update, root, clients, max_parts)
    for _ in range(reader.count(2)):  # a client's deletes: client id, range count
        client, count = reader.number(), reader.count(2)
        _check_parts(update, count, max_parts)
        for _ in range(count):
            clock, length = reader.number(), reader.number()
            _check_range(clock, length)
            update.deletes.append((client, clock, length))
    if reader.left():
        raise Refused("The update has bytes after its end.")
    if max_inserted is not None and update.inserted > max_inserted:
        raise Refused(f"One update may insert at most {max_inserted:,} characters.")
    return update


def _read_client(reader: _Reader, update: Update, root: str, clients: set[int], max_parts: int | None) -> None:
    """One client's structs, in clock order."""
    count, client, clock = reader.count(2), reader.number(), reader.number()
    _check_parts(update, count, max_parts)
    if client in clients:  # Yjs would keep only the last of two sections for one client
        raise Refused("The update lists a client twice.")
    clients.add(client)
    for _ in range(count):
        struct, text = _read_struct(reader, client, clock, root)
        _check_range(struct.clock, struct.length)
        update.structs.append(struct)
        update.inserted += len(text)
        clock += struct.length


def _read_struct(reader: _Reader, client: int, clock: int, root: str) -> tuple[Struct, str]:
    """One struct and the text it inserts ("" for all but text)."""
    info = reader.byte()
    kind = info & 0x1F
    if kind in (GC, SKIP):
        if info != kind:
            raise Refused("The update has a malformed struct.")
        return Struct(client, clock, reader.number(), kind), ""
    if kind not in (DELETED, STRING):
        raise Refused("Notes take plain text only: no formatting, embedded objects or other types.")
    if info & HAS_PARENT_SUB:
        raise Refused("Notes are one text, not a map.")
    origin = reader.id() if info & HAS_ORIGIN else None
    right_origin = reader.id() if info & HAS_RIGHT_ORIGIN else None
    if origin is None and right_origin is None:
        if reader.number() != 1 or reader.string() != root:  # 0: a parent item (a nested type)
            raise Refused(f"The update writes somewhere other than the {root!r} text.")
    text = reader.string() if kind == STRING else ""
    length = utf16_length(text) if kind == STRING else reader.number()
    return Struct(client, clock, length, kind, origin, right_origin), text


def _check_parts(update: Update, more: int, max_parts: int | None) -> None:
    """Count a section and the parts it declares; refuse an update declaring more than
    max_parts in all, before reading them."""
    update.parts += 1 + more
    if max_parts is not None and update.parts > max_parts:
        raise Refused(f"One update may hold at most {max_parts:,} edits.")


def _check_range(clock: int, length: int) -> None:
    """A run of clocks must be one that pycrdt can hold, and not empty."""
    if length < 1 or clock + length > MAX_CLOCK:
        raise Refused("The update has an empty or impossible range of clocks.")


def read_state_vector(data: bytes, most_clients: int | None = MAX_PARTS) -> dict[int, int]:
    """A state vector ({client: clock}): how many clocks of each client a document holds.
    A page's names at most most_clients (None: the server's own, however many)."""
    reader, vector = _Reader(data), {}
    count = reader.count(2)
    if most_clients is not None and count > most_clients:
        raise Refused("The state vector names too many clients.")
    for _ in range(count):
        client, clock = reader.number(), reader.number()
        if clock > MAX_CLOCK:
            raise Refused("The state vector has an impossible clock.")
        vector[client] = clock
    if reader.left():
        raise Refused("The state vector has bytes after its end.")
    return vector


def check_applies(update: Update, held: dict[int, int]) -> dict[int, int]:
    """The state vector a document holding `held` will hold once the update is applied;
    NeedsResync if any part of the update builds on clocks that neither holds.

    Each client's structs must continue from what is held (a Skip is a gap: what follows
    it must not start past the end of what is held); origins, right origins and deleted
    ranges must point at clocks the document or the update holds. pycrdt would otherwise
    keep the update pending, invisible, in the document.
    """
    after = dict(held)
    for struct in update.structs:
        reach = after.get(struct.client, 0)
        if struct.kind != SKIP:
            if struct.clock > reach:
                raise NeedsResync("This edit builds on one the server has not received.")
            after[struct.client] = max(reach, struct.clock + struct.length)
    for struct in update.structs:
        for client, clock in filter(None, (struct.origin, struct.right_origin)):
            if (client == struct.client and clock >= struct.clock) or clock >= after.get(client, 0):
                raise NeedsResync("This edit is next to text the server has not received.")
    for client, clock, length in update.deletes:
        if clock + length > after.get(client, 0):
            raise NeedsResync("This edit deletes text the server has not received.")
    return after
