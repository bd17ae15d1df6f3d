"""Nothing typed into the notes is lost when the facilitator locks the indicator meanwhile.

Pat types steadily into the discussion notes while Fay's browser clicks "Lock as agreed"
at a different moment of the typing each time. Every character that went into Pat's notes
must end up either in the notes saved with the lock or in Pat's "Not saved" box, exactly
once and in order. Fay then unlocks, and the next try begins.

"Went into Pat's notes" is what the textarea took (its input events): once the page has
turned read-only, further keys go nowhere, as in any read-only field.
"""

from __future__ import annotations

import time
from difflib import SequenceMatcher

from playwright.sync_api import expect
from test_live import NOTES, Served, no_errors, open_indicator, served, start_workshop  # noqa: F401

TRIES = 20
TYPED_PER_TRY = "abcdefghijklmnopq"

RECORD_TYPING = """() => {
  window.typed = '';
  document.addEventListener('input', event => {
    if (event.target.id === 'notes-text' && event.data) window.typed += event.data;
  }, true);
}"""

LOCK_AFTER = """ms => setTimeout(() => {
  document.querySelector('#status form[data-hx-post$="/lock"] button[type=submit]').click();
}, ms)"""


def unsent(page) -> str:
    return page.locator("#unsent-text").input_value()


def accounted(typed: str, saved: str, shown: str) -> tuple[int, int]:
    """(characters lost, characters extra) comparing what was typed with what was saved
    followed by what the Not saved box took."""
    got = saved + shown
    matched = sum(block.size for block in SequenceMatcher(None, typed, got, autojunk=False).get_matching_blocks())
    return len(typed) - matched, len(got) - matched


def one_try(served: Served, fay, pat, number: int, before_saved: str, before_box: str):
    """Pat types while Fay's page locks; returns what went into Pat's notes this try, what of
    it was saved, what of it the Not saved box took, and the saved notes and box in full."""
    typed_before = pat.evaluate("window.typed")
    area = pat.get_by_label(NOTES, exact=True)
    area.click()
    area.press("Control+End")
    lock_at = 20 + (number * 29) % 250  # ms into the typing: a different moment each try
    fay.evaluate(LOCK_AFTER, lock_at)
    pat.keyboard.type(f"<{number:02d}:{TYPED_PER_TRY}>", delay=10)
    expect(pat.get_by_label("Discussion notes (locked)")).to_be_visible()
    typed = pat.evaluate("window.typed")[len(typed_before):]

    # The box fills once the server has answered: wait until everything is accounted for
    # (or, failing that, until it stops changing or 3 s pass), then judge.
    deadline, last, stable_since = time.monotonic() + 3.0, None, time.monotonic()
    while True:
        saved_all, box = served.notes("1a"), unsent(pat)
        saved = saved_all[len(before_saved):] if saved_all.startswith(before_saved) else saved_all
        shown = box[len(before_box):].lstrip("\n") if box.startswith(before_box) else box
        state = (saved, shown)
        if state != last:
            last, stable_since = state, time.monotonic()
        if saved + shown == typed or time.monotonic() > deadline or \
                (shown and time.monotonic() - stable_since > 1.5):
            return typed, saved, shown, saved_all, box
        time.sleep(0.05)


def unlock(fay, pat) -> None:
    fay.get_by_label("Reason for unlocking", exact=True).fill("Next try")
    fay.get_by_role("button", name="Unlock").click()
    expect(fay.get_by_role("button", name="Lock as agreed")).to_be_visible()
    expect(pat.locator("#notes-text[data-live-notes]")).to_be_editable()


def test_every_character_typed_as_a_lock_lands_is_saved_or_shown_once(served, new_person):
    fay, (pat,) = start_workshop(served, new_person, "Pat")
    open_indicator(served, fay, "1a")
    open_indicator(served, pat, "1a")
    fay.get_by_label("Agreed rating (facilitator)", exact=True).select_option("3")
    fay.get_by_label("The group's reason for this rating").fill("Strategy signed off; carers not yet asked.")
    fay.get_by_role("button", name="Set agreed rating").click()
    expect(pat.locator("#ratings")).to_contain_text("Agreed rating: 3 – Developing")
    pat.evaluate(RECORD_TYPING)

    saved_so_far, box_so_far, chunks, results = "", "", [], []
    for number in range(TRIES):
        typed, saved, shown, saved_so_far, box_so_far = one_try(served, fay, pat, number, saved_so_far, box_so_far)
        lost, extra = accounted(typed, saved, shown)
        results.append((number, len(typed), len(saved), len(shown), lost, extra))
        if shown:
            chunks.append(shown)
        if number < TRIES - 1:
            unlock(fay, pat)

    tries_losing = sum(1 for r in results if r[4])
    tries_doubling = sum(1 for r in results if r[5])
    print(f"\n{TRIES} locks while typing: characters lost {sum(r[4] for r in results)} "
          f"(in {tries_losing} tries), extra characters {sum(r[5] for r in results)} (in {tries_doubling} tries); "
          f"tries where the lock cut the typing: {sum(1 for r in results if r[3])}")
    for r in results:
        print("  try {:2d}: typed {:2d}, saved {:2d}, not saved box {:2d}, lost {}, extra {}".format(*r))
    assert tries_losing == 0 and tries_doubling == 0, results
    # Nothing was added to the box late, after its try was judged: the box holds each
    # try's unsaved characters once, in order.
    assert unsent(pat) == "\n\n".join(chunks)
    assert any(r[3] for r in results), "no lock landed in the middle of the typing"
    expect(pat.locator("#unsent")).to_be_visible()
    no_errors(fay, pat)
