"""Time of one durable write as a session record grows from 10 KB to 5 MB.

The write is the real one: `Workshop.change` with a vote, which folds notes, authorises,
applies, appends to the audit log and commits the whole TinyDB file with one atomic,
fsynced replacement. The record is grown with audit events shaped like a long workshop's
(evidence with text), in this process's temporary folder on the same disk as the repo.
"""

from __future__ import annotations

import os
import tempfile
import time

from .servers import OUT, ROOT
from .stats import summary_ms

FILLER_TEXT = "Staff survey comment about dignity, respect and being listened to on the ward. " * 4


def filler_events(actor_id: str, count: int, start: int) -> list[dict]:
    """Audit entries like the ones evidence leaves (about 500 bytes each)."""
    return [{"type": "evidence_added", "actor_id": actor_id, "actor_name": "Fay Facilitator",
             "indicator": "1a", "at": "2026-12-01T10:00:00Z",
             "data": {"id": f"{start + i:012x}", "text": FILLER_TEXT, "source": ""}} for i in range(count)]


def grow(workshop, actor, target_bytes: int) -> int:
    """Append audit entries until the session file is at least target_bytes; returns its size."""
    while (size := workshop.file.size_bytes()) < target_bytes:
        missing = max(1, (target_bytes - size) // 600)  # entries are ~520 B: approach from below
        with workshop.file.transaction() as db:
            db.table("audit").insert_multiple(filler_events(actor.id, missing, size))
    return size


def time_writes(workshop, actor, repeats: int) -> tuple[list[float], list[float]]:
    """Time `repeats` real changes (a vote each); also time encoding the file alone."""
    from ecsa.events import Event
    from ecsa.storage import _encode
    writes, encodes = [], []
    for i in range(repeats):
        event = Event.by(actor, "vote_cast", "1a", value=i % 5 + 1)
        start = time.perf_counter()
        workshop.change(actor, event)
        writes.append(time.perf_counter() - start)
        start = time.perf_counter()
        _encode(workshop.file.storage.read())
        encodes.append(time.perf_counter() - start)
    return writes, encodes


def run(sizes_kb: tuple[int, ...], repeats: int) -> list[dict]:
    """One row per record size: write p50/p95/max, of which JSON encoding p50."""
    from ecsa.framework import load_framework
    from ecsa.workshops import Workshops
    rows = []
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT) as folder:
        framework = load_framework(str(ROOT / "framework.json"))
        registry = Workshops(os.path.join(folder, "sessions"), framework)
        details = {"title": "Storage", "organisation": "Bench", "date": "2026-12-01", "scope": [1]}
        workshop, actor, _ = registry.create(details, "Fay Facilitator", "staff")
        for kb in sizes_kb:
            grow(workshop, actor, kb * 1024)
            writes, encodes = time_writes(workshop, actor, repeats)
            rows.append(dict(summary_ms(writes), target_kb=kb, size_bytes=workshop.file.size_bytes(),
                             encode_p50=summary_ms(encodes)["p50"]))
    return rows

