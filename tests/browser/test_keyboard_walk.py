"""A workshop done with the keyboard alone, checking after every step where focus is.

Nothing is clicked: every step is Tab, Shift+Tab, arrows, Space, Enter and typing, as
someone who cannot use a mouse works. After each step the test asserts which element has
focus, so a swap that drops focus to <body> (and sends the next Tab back to the skip link)
fails here. The pages are the real ones in Chromium with the app's CSP.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

MAX_TABS = 80

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {tag: 'BODY'};
  const item = el.closest('li.ecsa-item');
  return {
    tag: el.tagName, id: el.id, type: el.type || '', name: el.getAttribute('name') || '',
    text: (el.innerText || el.value || '').trim().slice(0, 200), href: el.getAttribute('href') || '',
    item: item ? item.id : '', inside: (el.closest('[id]:not(li)') || {}).id || '',
    checked: !!el.checked
  };
}"""


def focused(page) -> dict:
    return page.evaluate(FOCUSED)


def tab_to(page, matches, what: str, backwards: bool = False) -> dict:
    """Press Tab (or Shift+Tab) until the focused element matches; fail after MAX_TABS."""
    seen = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        now = focused(page)
        if matches(now):
            return now
        seen.append(now.get("id") or now.get("text", "")[:30] or now["tag"])
    raise AssertionError(f"{what} was not reached in {MAX_TABS} presses of Tab; focus went: {seen}")


def by_id(element_id):
    return lambda f: f.get("id") == element_id


def button(words):
    return lambda f: f["tag"] == "BUTTON" and f["text"] == words


def announced(page, words: str) -> None:
    expect(page.locator("#announcer")).to_contain_text(words)


def type_into(page, element_id: str, text: str, what: str) -> None:
    tab_to(page, by_id(element_id), what)
    page.keyboard.type(text)


@pytest.fixture
def people(browser):
    """A function opening a fresh browser (own cookies) for one more person, en-GB."""
    contexts = []

    def person(width=1024):
        context = browser.new_context(viewport={"width": width, "height": 800}, locale="en-GB")
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield person
    for context in contexts:
        context.close()


def type_date(page, field: str) -> None:
    """Type 1 December 2026 into a date field, whichever order the browser shows (Chromium
    follows its own locale, not the page's: mm/dd/yyyy in en-US, dd/mm/yyyy in en-GB)."""
    page.keyboard.type("12012026")
    if page.locator(field).input_value() == "2026-01-12":  # it was day first: go back and swap
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        page.keyboard.type("0112")


def create_by_keyboard(page, base: str) -> str:
    """Start a session by keyboard; focus lands on the Invite page's heading."""
    page.goto(base + "/")
    type_into(page, "title", "Keyboard workshop", "the session title")
    type_into(page, "organisation", "Example NHS Trust", "the organisation")
    tab_to(page, by_id("date"), "the date")
    type_date(page, "#date")
    assert page.locator("#date").input_value() == "2026-12-01"
    tab_to(page, by_id("scope-1"), "section 1")
    page.keyboard.press("Space")
    type_into(page, "name", "Fay", "your name")
    now = tab_to(page, lambda f: f["name"] == "perspective", "the perspective")
    page.keyboard.press("Space")
    assert focused(page)["checked"], now
    tab_to(page, button("Create session"), "Create session")
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name="Invite people to Keyboard workshop", level=1)
    expect(heading).to_be_focused()
    announced(page, "Invite people")
    return page.locator(".ecsa-join-code__code").inner_text().replace(" ", "")


def test_a_workshop_can_be_run_with_the_keyboard_alone_and_focus_is_always_where_expected(live_server, people):
    fay = people()
    code = create_by_keyboard(fay, live_server)

    # The Invite page's link to the worksheet, then an indicator from the overview.
    tab_to(fay, lambda f: f["tag"] == "A" and f["text"] == "Go to the worksheet", "Go to the worksheet")
    fay.keyboard.press("Enter")
    expect(fay.get_by_role("heading", name="Keyboard workshop", level=1, exact=True)).to_be_focused()
    tab_to(fay, lambda f: f["href"].endswith("/i/1a"), "indicator 1a on the overview")
    fay.keyboard.press("Enter")
    expect(fay.get_by_role("heading", name="Indicator 1a", level=1)).to_be_focused()
    announced(fay, "1a")

    # A participant joins with the keyboard: an empty name first, then a right one.
    pat = people(360)
    pat.goto(f"{live_server}/join/{code}")
    tab_to(pat, button("Join session"), "Join session")
    pat.keyboard.press("Enter")
    expect(pat.locator(".nhsuk-error-summary")).to_be_focused()
    expect(pat).to_have_title("Error: Join Keyboard workshop – ECSA Workshop")
    tab_to(pat, lambda f: f["href"] == "#name", "the error summary's link to the name")
    pat.keyboard.press("Enter")
    assert focused(pat)["id"] == "name"
    pat.keyboard.type("Pat")
    tab_to(pat, lambda f: f["name"] == "perspective", "the perspective")
    pat.keyboard.press("Space")
    tab_to(pat, button("Join session"), "Join session")
    pat.keyboard.press("Enter")
    expect(pat.get_by_role("heading", name="Keyboard workshop", level=1, exact=True)).to_be_focused()

    # Notes: typed where the caret is; focus stays in them.
    type_into(fay, "notes-text", "Agreed by keyboard.", "the discussion notes")
    assert focused(fay)["id"] == "notes-text"

    # Evidence: an empty one is refused (focus on the field, the error said), then added.
    tab_to(fay, button("Add evidence"), "Add evidence")
    fay.keyboard.press("Enter")
    expect(fay.locator("#evidence-new-text")).to_be_focused()
    announced(fay, "Enter")
    fay.keyboard.type("Board minutes, March 2026")
    tab_to(fay, button("Add evidence"), "Add evidence")
    fay.keyboard.press("Enter")
    new_item = fay.locator("#evidence li.ecsa-item").filter(has_text="Board minutes, March 2026")
    expect(new_item).to_be_focused()
    announced(fay, "Added: Board minutes, March 2026")
    # The next Tab goes on from the new item, to its own Edit link (not back to the top).
    fay.keyboard.press("Tab")
    now = focused(fay)
    assert now["item"] and now["text"].startswith("Edit"), now

    # Edit, then Cancel, keep focus on the item.
    fay.keyboard.press("Enter")
    expect(fay.locator("#evidence li.ecsa-item textarea")).to_be_focused()
    tab_to(fay, lambda f: f["tag"] == "A" and f["text"] == "Cancel", "Cancel")
    fay.keyboard.press("Enter")
    expect(new_item.get_by_role("link", name="Edit", exact=False)).to_be_focused()

    # Rating: arrows choose, Save my rating keeps focus on itself.
    tab_to(fay, lambda f: f["name"] == "value" and f["type"] == "radio", "your own rating")
    fay.keyboard.press("ArrowRight")
    tab_to(fay, button("Save my rating"), "Save my rating")
    fay.keyboard.press("Enter")
    expect(fay.locator("#ratings")).to_contain_text("Fay")
    expect(fay.get_by_role("button", name="Save my rating")).to_be_focused()
    announced(fay, "Save my rating: done.")

    # An action: added, focus on it.
    type_into(fay, "action-new-what", "Publish the strategy", "what needs to happen")
    tab_to(fay, button("Add action"), "Add action")
    fay.keyboard.press("Enter")
    expect(fay.locator("#actions li.ecsa-item").filter(has_text="Publish the strategy")).to_be_focused()

    # The agreed rating, with its reason, then the lock: focus on the indicator's status.
    tab_to(fay, by_id("agreed"), "the agreed rating", backwards=True)
    fay.keyboard.press("ArrowDown")
    fay.keyboard.press("ArrowDown")
    type_into(fay, "agreed-rationale", "The board has a plan.", "the reason")
    tab_to(fay, button("Set agreed rating"), "Set agreed rating")
    fay.keyboard.press("Enter")
    expect(fay.get_by_role("button", name="Set agreed rating")).to_be_focused()
    tab_to(fay, button("Lock as agreed"), "Lock as agreed", backwards=True)
    fay.keyboard.press("Enter")
    expect(fay.locator("#status")).to_contain_text("Locked by Fay")
    expect(fay.locator("#status")).to_be_focused()


def test_a_live_update_never_moves_the_focus_of_the_person_using_the_page(live_server, people):
    fay = people()
    code = create_by_keyboard(fay, live_server)
    session = fay.url.split("/s/")[1].split("/")[0]
    indicator = f"{live_server}/s/{session}/i/1a"

    def add_evidence(text):
        answer = fay.request.post(indicator + "/evidence", form={"text": text, "source": ""}, max_redirects=0)
        assert answer.status == 303, answer.status

    add_evidence("First evidence")
    pat = people(360)
    pat.goto(f"{live_server}/join/{code}")
    pat.get_by_label("Your name", exact=True).fill("Pat")
    pat.get_by_label("Staff", exact=True).check()
    pat.get_by_role("button", name="Join session").click()
    expect(pat.get_by_role("heading", name="Keyboard workshop", level=1, exact=True)).to_be_visible()
    pat.goto(indicator)
    expect(pat.locator("#connection")).to_have_attribute("data-state", "connected")

    # On an Edit link (no id) while someone adds evidence: the list is replaced, focus stays.
    tab_to(pat, lambda f: f["text"].startswith("Edit") and f["item"], "the first item's Edit link")
    add_evidence("Second evidence")
    expect(pat.locator("#evidence")).to_contain_text("Second evidence")
    expect(pat.locator("#evidence li.ecsa-item").first.get_by_role("link", name="Edit", exact=False)).to_be_focused()
    announced(pat, "Fay added evidence to 1a")

    # A change to another indicator is not announced here, nor is the person's own.
    answer = fay.request.post(indicator.replace("/i/1a", "/i/1b") + "/evidence",
                              form={"text": "Elsewhere", "source": ""}, max_redirects=0)
    assert answer.status == 303
    pat.wait_for_timeout(1000)
    expect(pat.locator("#announcer")).not_to_contain_text("1b")

    # Typing in the notes while the list changes: the caret stays where it was.
    type_into(pat, "notes-text", "Our notes", "the notes")
    pat.keyboard.press("ArrowLeft")
    add_evidence("Third evidence")
    expect(pat.locator("#evidence")).to_contain_text("Third evidence")
    assert pat.evaluate("() => [document.activeElement.id, document.activeElement.selectionStart]") == ["notes-text", 8]

    # The facilitator locks meanwhile: the notes go read-only; focus goes to their heading,
    # not to the top of the page.
    agreed = fay.request.post(indicator + "/agreed", form={"agreed": "2", "rationale": "A start."}, max_redirects=0)
    assert agreed.status == 303, agreed.status
    fay.goto(indicator)
    fay.get_by_role("button", name="Lock as agreed").click()
    expect(pat.locator("#status")).to_contain_text("Locked by Fay")
    expect(pat.locator("#notes-heading")).to_be_focused()

    # Back to the overview by the pager's link: focus lands on this indicator's line there.
    tab_to(fay, lambda f: f["href"].endswith("#overview-1a"), "the pager's Overview link")
    fay.keyboard.press("Enter")
    expect(fay.locator("#overview-1a a").first).to_be_focused()


def test_an_answer_arriving_after_the_person_moved_on_does_not_take_their_focus(live_server, people):
    """Add evidence, then straight into the notes before the answer comes: the new item is
    announced, but focus stays in the notes, so what is typed next lands there."""
    fay = people()
    create_by_keyboard(fay, live_server)
    session = fay.url.split("/s/")[1].split("/")[0]
    fay.goto(f"{live_server}/s/{session}/i/1a")
    expect(fay.locator("#connection")).to_have_attribute("data-state", "connected")
    fay.get_by_label("What the evidence is", exact=True).fill("Board minutes")
    # The click and the move to the notes in one go: no answer can arrive in between.
    fay.evaluate("""() => {
      document.querySelector('#evidence form.ecsa-add-form button[type=submit]').click();
      document.getElementById('notes-text').focus();
    }""")
    expect(fay.locator("#evidence_list")).to_contain_text("Board minutes")
    announced(fay, "Added: Board minutes")
    fay.keyboard.type("Typed on.")
    assert focused(fay).get("id") == "notes-text"
    expect(fay.locator("#notes-text")).to_have_value("Typed on.")
