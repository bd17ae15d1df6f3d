"""Notes saved at the same time are merged: nobody's words are lost, nothing is doubled."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from ecsa.textmerge import edits, merge

NOTES = "Board gets a quarterly report.\nPatient stories open every meeting.\nCarers are not asked yet.\n"


def test_unchanged_side_takes_the_other_sides_text():
    """If only one person changed the notes, their text is the result."""
    edited = NOTES.replace("quarterly", "monthly")
    assert merge(NOTES, NOTES, edited) == edited
    assert merge(NOTES, edited, NOTES) == edited


def test_non_overlapping_concurrent_edits_both_survive_exactly():
    """One person edits the first line while another adds a line at the end."""
    theirs = NOTES.replace("quarterly", "monthly")
    ours = NOTES + "Volunteers run the listening events.\n"
    expected = ("Board gets a monthly report.\nPatient stories open every meeting.\n"
                "Carers are not asked yet.\nVolunteers run the listening events.\n")
    assert merge(NOTES, theirs, ours) == expected
    assert merge(NOTES, ours, theirs) == expected


def test_edits_in_different_lines_of_the_same_paragraph_both_survive():
    """Two people fix different words of the same sentence."""
    base = "We ask carers twice a yaer and report to the bord."
    theirs = "We ask carers twice a year and report to the bord."
    ours = "We ask carers twice a yaer and report to the board."
    assert merge(base, theirs, ours) == "We ask carers twice a year and report to the board."


def test_overlapping_edits_keep_both_texts():
    """Two people rewrite the same word differently: both versions are kept, whole."""
    base = "The next review is on Monday."
    merged = merge(base, "The next review is on Tuesday.", "The next review is on Wednesday.")
    words = merged.replace(".", " ").split()
    assert "Tuesday" in words and "Wednesday" in words
    assert "Monday" not in merged


def test_overlapping_inserts_at_the_same_place_keep_both_texts():
    """Two people add a sentence at the very end: theirs first, then ours."""
    base = "Actions agreed."
    merged = merge(base, base + " Fay owns the survey.", base + " Pat books the room.")
    assert merged.startswith("Actions agreed.")
    assert merged.index("Fay owns the survey.") < merged.index("Pat books the room.")


def test_overlapping_edits_never_run_words_together():
    """Kept-both versions are separated, so the last word of one does not join the next."""
    merged = merge("rating", "emerging", "developing")
    assert set(merged.split()) == {"emerging", "developing"}


def test_identical_edits_are_not_duplicated():
    """Two people making the very same change get it once."""
    same = NOTES.replace("not asked yet", "asked every spring")
    assert merge(NOTES, same, same) == same


def test_identical_edit_alongside_other_edits_is_not_duplicated():
    """Both fix the same typo; one also adds a line: the fix appears once, the line too."""
    base = "Evidense from the survey.\n"
    theirs = "Evidence from the survey.\n"
    ours = "Evidence from the survey.\nAnd from complaints.\n"
    assert merge(base, theirs, ours) == "Evidence from the survey.\nAnd from complaints.\n"


def test_deletion_and_separate_insertion_both_apply():
    """One person deletes a line, another adds one elsewhere."""
    theirs = NOTES.replace("Patient stories open every meeting.\n", "")
    ours = "Summary first.\n" + NOTES
    assert merge(NOTES, theirs, ours) == (
        "Summary first.\nBoard gets a quarterly report.\nCarers are not asked yet.\n")


def test_emoji_and_non_latin_text_merge_without_damage():
    """Emoji (with modifiers and joiners) and non-Latin scripts survive a concurrent merge."""
    base = "Feedback 👍🏽 from the ward.\nகருத்து நன்று.\n"
    theirs = base.replace("Feedback", "Feedback 👨‍👩‍👧")
    ours = base + "意见很好。🇬🇧\n"
    merged = merge(base, theirs, ours)
    assert merged == "Feedback 👨‍👩‍👧 👍🏽 from the ward.\nகருத்து நன்று.\n意见很好。🇬🇧\n"


def test_overlapping_emoji_edits_keep_both_whole():
    """Two people change the same emoji: both whole emoji sequences are kept."""
    merged = merge("Mood: 🙂", "Mood: 👨‍👩‍👧", "Mood: 👍🏽")
    assert "👨‍👩‍👧" in merged and "👍🏽" in merged


WORDS = st.text(alphabet="abcde", min_size=1, max_size=4)


@st.composite
def insertions(draw, base_words: list[str]) -> list[str]:
    """The base words with some words inserted at random word positions."""
    words = list(base_words)
    for _ in range(draw(st.integers(0, 4))):
        words.insert(draw(st.integers(0, len(words))), draw(WORDS))
    return words


@st.composite
def two_inserting_sides(draw):
    """A base text and two sides that each only insert words into it."""
    base_words = draw(st.lists(WORDS, max_size=12))
    return base_words, draw(insertions(base_words)), draw(insertions(base_words))


@settings(max_examples=300, deadline=None)
@given(two_inserting_sides())
def test_every_inserted_word_appears_in_the_merge(sides):
    """Whatever two people insert at the same time, each of their words is in the merge."""
    base, theirs, ours = (" ".join(words) for words in sides)
    merged = Counter(merge(base, theirs, ours).split())
    for side in (theirs, ours):
        missing = Counter(side.split()) - merged
        assert not missing, f"lost {dict(missing)} merging {base!r} / {theirs!r} / {ours!r}"


def replay(base: str, changes: list) -> str:
    """Base with a list of edits applied, last first so earlier offsets stay right."""
    for start, end, text in reversed(changes):
        base = base[:start] + text + base[end:]
    return base


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_edits_describe_any_change_exactly(base, changed):
    """The edits found between any two texts (any script, emoji, control characters) rebuild the change."""
    assert replay(base, edits(base, changed)) == changed
