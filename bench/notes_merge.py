"""How long a notes save of 20,000 characters takes to merge: `python -m bench.notes_merge`.

A save without JavaScript merges the submitted text three ways with the notes as they
stand (textmerge.merge) and finds the CRDT edits that turn the notes into the result
(notes.text_edits); both diff, and both run before the session's lock is taken. This
prints the time of each for the worst inputs known (texts sharing nothing, one word
repeated thousands of times, a repeated pattern shifted by one word, a long common middle
between different ends) and for the usual one (a small edit in a long note). Numbers
only: it never fails, whatever they are.
"""

from __future__ import annotations

import random
import statistics
import time

from ecsa.notes import text_edits
from ecsa.textmerge import DIFF_SECONDS, merge
from ecsa.worksheet import NOTES_MAX

REPEATS = 5
WORDS = ["care", "carers", "the", "board", "ward", "naïve", "日本語", "😀", "and", "listening", "events"]


def random_words(rng: random.Random, characters: int) -> str:
    """Random words, punctuation and line breaks adding up to this many characters."""
    out, size = [], 0
    while size < characters:
        word = rng.choice(WORDS) + rng.choice([" ", " ", ", ", ". ", ".\n"])
        out.append(word)
        size += len(word)
    return "".join(out)[:characters]


def random_letters(rng: random.Random, characters: int) -> str:
    """Random letters and spaces: thousands of distinct short words."""
    return "".join(rng.choice("abcdefghijklmnop      ") for _ in range(characters))


def cases(rng: random.Random) -> dict[str, tuple[str, str, str]]:
    """name -> (base, theirs, ours), each about NOTES_MAX characters."""
    n = NOTES_MAX
    long_note = random_words(rng, n - 40)
    care = "care " * (n // 5)
    replaced = random_letters(rng, n)
    return {
        "three unrelated texts (random letters)": tuple(random_letters(rng, n) for _ in range(3)),
        "the whole note replaced by another": (replaced, replaced, random_letters(rng, n)),
        "three unrelated texts (random words)": tuple(random_words(rng, n) for _ in range(3)),
        "one word repeated, edits in the middle": (
            care, care[:n // 2] + "board " + care[n // 2:], care[:n // 3] + care[n // 3 + 5:]),
        "a pattern shifted by one word": ("a b " * (n // 4), "b a " * (n // 4), "a b " * (n // 4 - 1) + "c "),
        "a long common middle, different ends": (
            "x " + "a b " * (n // 4 - 1), "y " + "a b " * (n // 4 - 1) + "z", "w " + "a b " * (n // 4 - 1) + "v"),
        "a small edit in a long note (the usual)": (
            long_note, long_note[:6_000] + "Fay adds a line.\n" + long_note[6_000:],
            long_note[:15_000] + long_note[15_030:] + "Pat ends here."),
    }


def timed(function, *args) -> float:
    """The slowest of REPEATS runs, in milliseconds."""
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        function(*args)
        times.append((time.perf_counter() - started) * 1000)
    return max(times)


def main() -> None:
    """Print one line per case: merge, CRDT edits, and both (a whole save's diffing)."""
    rng = random.Random(2026)
    print(f"Notes save of {NOTES_MAX:,} characters; each diff gives up after {DIFF_SECONDS * 1000:.0f} ms; "
          f"slowest of {REPEATS} runs")
    print(f"{'case':42} {'merge ms':>9} {'edits ms':>9} {'save ms':>9}")
    totals = []
    for name, (base, theirs, ours) in cases(rng).items():
        merged = merge(base, theirs, ours)
        merge_ms, edits_ms = timed(merge, base, theirs, ours), timed(text_edits, theirs, merged)
        totals.append(merge_ms + edits_ms)
        print(f"{name:42} {merge_ms:9.1f} {edits_ms:9.1f} {merge_ms + edits_ms:9.1f}")
    print(f"worst save: {max(totals):.1f} ms; median case: {statistics.median(totals):.1f} ms")


if __name__ == "__main__":
    main()
