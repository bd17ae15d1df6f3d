"""Crash-test child: write transactions forever, printing `ack <i>` after each commit.

Usage: python tests/crash_writer.py <session file>
The parent kills this process with SIGKILL at a random moment and then checks
that every acknowledged transaction is on disk.
"""
import os
import sys

# The package's domain modules load no Flask (tests/test_domain_imports.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from ecsa import storage  # noqa: E402 (after the path is set)

PAD = "lorem ipsum dolor sit amet, " * 80  # ~2 KB so each write takes a moment


def main(path: str) -> None:
    """Loop: one doc + counter update per transaction, ack after commit."""
    session = storage.SessionFile(path)
    with session.reading() as db:
        i = len(db.table("docs"))
    out = sys.stdout
    while True:
        with session.transaction() as db:
            db.table("docs").insert({"n": i, "pad": PAD})
            counter = db.table("counter")
            if len(counter):
                counter.update({"value": i + 1}, doc_ids=[1])
            else:
                counter.insert({"value": i + 1})
        out.write(f"ack {i}\n")
        out.flush()
        i += 1


if __name__ == "__main__":
    main(sys.argv[1])
