"""Crash-test child: write transactions forever, printing `ack <i>` after each commit.

Usage: python tests/crash_writer.py <session file>
The parent kills this process with SIGKILL at a random moment and then checks
that every acknowledged transaction is on disk.
"""
import importlib.util
import os
import sys

# Load ecsa/storage.py by path so the child neither needs the package's
# __init__ (which may import Flask) nor pays for it at every start.
_HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "ecsa_storage", os.path.join(_HERE, os.pardir, "ecsa", "storage.py"))
storage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(storage)

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
