"""Three-way merge of plain text, so a saved form never overwrites someone else's words.

A participant without JavaScript submits the whole notes text together with the text
they started from (the *base*). Meanwhile others may have saved. Both sides' edits are
computed against the base and replayed together; where they touch the same stretch of
the base, both versions are kept (theirs first), because duplicated words can be tidied
by a person while lost words cannot be recovered.
"""

from __future__ import annotations

import re
from itertools import accumulate

from diff_match_patch import diff_match_patch

Edit = tuple[int, int, str]  # replace base[start:end] with text

# Diff whole words, spaces and runs of other symbols (emoji sequences stay whole), never
# single characters: a character diff splits "Monday" -> "Tuesday" into "Mon" -> "Tues",
# and keeping both sides of that clash would leave "Tues" and no "Tuesday".
TOKEN = re.compile(r"\w+|\s+|[^\w\s]+")

# A diff of two 20,000-character notes that share nothing could take minutes; past this
# many seconds diff-match-patch settles for a coarser diff (a stretch replaced whole).
# That costs nothing here: where edits overlap, the merge keeps both sides' text.
DIFF_SECONDS = 0.02


class _BoundedDiff(diff_match_patch):
    """diff-match-patch with every step bounded by its timeout."""

    def diff_halfMatch(self, text1, text2):
        """Never: this speed-up searches for a long common middle without looking at the
        clock, and on repetitive text (the same word thousands of times) it alone took
        longer than the whole time allowed. The bisection it skips is bounded."""
        return None


def diff(old: str, new: str) -> list[tuple[int, str]]:
    """diff-match-patch's (operation, text) list from old to new, done within DIFF_SECONDS."""
    differ = _BoundedDiff()
    differ.Diff_Timeout = DIFF_SECONDS
    return differ.diff_main(old, new, checklines=False)


def _as_characters(*texts: list[str]) -> list[str]:
    """Each list of tokens as a string with one character per token (the same token, the
    same character), so a character diff of these strings is a diff of the tokens; this
    is diff-match-patch's own linesToChars, for tokens."""
    codes: dict[str, str] = {}
    return ["".join(codes.setdefault(token, chr(len(codes))) for token in tokens) for tokens in texts]


def edits(base: str, changed: str) -> list[Edit]:
    """The edits that turn base into changed, as non-overlapping base ranges."""
    base_tokens, changed_tokens = TOKEN.findall(base), TOKEN.findall(changed)
    offsets = [0, *accumulate(len(token) for token in base_tokens)]
    found: list[list] = []  # [first base token, end base token, first changed token, end changed token]
    i = j = 0
    for operation, coded in diff(*_as_characters(base_tokens, changed_tokens)):
        n = len(coded)
        if operation == diff_match_patch.DIFF_EQUAL:
            i, j = i + n, j + n
            continue
        if not (found and found[-1][1] == i and found[-1][3] == j):  # a delete next to an insert is one edit
            found.append([i, i, j, j])
        if operation == diff_match_patch.DIFF_DELETE:
            i += n
        else:
            j += n
        found[-1][1], found[-1][3] = i, j
    return [(offsets[i1], offsets[i2], "".join(changed_tokens[j1:j2])) for i1, i2, j1, j2 in found]


def _apply(base: str, start: int, end: int, side: list[Edit]) -> str:
    """One side's version of base[start:end], given that side's edits inside it."""
    out, pos = [], start
    for i1, i2, text in side:
        out.append(base[pos:i1])
        out.append(text)
        pos = i2
    out.append(base[pos:end])
    return "".join(out)


def _cluster(theirs: list[Edit], ours: list[Edit]) -> list[tuple[int, int, list[Edit], list[Edit]]]:
    """Group both sides' edits into base ranges where they overlap each other."""
    tagged = sorted([(e, 0) for e in theirs] + [(e, 1) for e in ours], key=lambda t: (t[0][0], t[0][1]))
    clusters: list[list] = []
    for edit, side in tagged:
        last = clusters[-1] if clusters else None
        if last and (edit[0] < last[1] or (edit[0] == last[1] and edit[0] == last[0] == edit[1] == last[1])):
            last[1] = max(last[1], edit[1])
            last[2 + side].append(edit)
        else:
            clusters.append([edit[0], edit[1], [], []])
            clusters[-1][2 + side].append(edit)
    return [tuple(c) for c in clusters]  # type: ignore[misc]


def _both(their_text: str, our_text: str) -> str:
    """Keep both versions of a contested stretch, on separate lines so no words run together."""
    joiner = "" if their_text[-1:].isspace() or our_text[:1].isspace() else "\n"
    return their_text + joiner + our_text


def merge(base: str, theirs: str, ours: str) -> str:
    """Merge two edited versions of base; overlapping edits keep both sides' text."""
    if theirs == base or theirs == ours:
        return ours
    if ours == base:
        return theirs
    out, pos = [], 0
    for start, end, their_edits, our_edits in _cluster(edits(base, theirs), edits(base, ours)):
        out.append(base[pos:start])
        their_text = _apply(base, start, end, their_edits)
        our_text = _apply(base, start, end, our_edits)
        if not their_edits:
            out.append(our_text)
        elif not our_edits or their_text == our_text:
            out.append(their_text)
        else:
            out.append(_both(their_text, our_text))
        pos = end
    out.append(base[pos:])
    return "".join(out)
