"""What the session produces, in real browsers: the heatmap updating live, and the HTML
report printed to PDF with a page per section and no menu."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from playwright.sync_api import expect
from steps import create_session

A4_HEIGHT = 841.89  # points


def test_heatmap_updates_live_when_the_facilitator_agrees_a_rating(live_server, new_person):
    fay = new_person()
    code = create_session(fay, live_server, "Heatmap workshop")
    session = fay.url.split("/s/")[1].split("/")[0]
    pat = new_person(width=360)
    pat.goto(f"{live_server}/join/{code}")
    pat.get_by_label("Your name", exact=True).fill("Pat")
    pat.get_by_label("Unpaid carer", exact=True).check()
    pat.get_by_role("button", name="Join session").click()
    expect(pat.get_by_role("heading", name="Where we stand")).to_be_visible()
    expect(pat.locator("#connection")).to_have_attribute("data-state", "connected")
    cell = pat.locator("#progress a.ecsa-heat", has_text="1a")
    expect(cell).to_have_class(re.compile(r"ecsa-heat--0"))

    fay.goto(f"{live_server}/s/{session}/i/1a")
    fay.get_by_label("Agreed rating (facilitator)", exact=True).select_option("3")
    fay.get_by_label("The group's reason for this rating").fill("Strategy signed off; carers not yet asked.")
    fay.get_by_role("button", name="Set agreed rating").click()
    expect(fay.locator("#ratings")).to_contain_text("Agreed rating: 3 – Developing")

    expect(cell).to_have_class(re.compile(r"ecsa-heat--3"), timeout=3_000)
    expect(cell).to_contain_text("3")
    agreed = pat.locator("#progress .ecsa-counts tbody tr").first.locator("td").nth(2)
    expect(agreed).to_have_text("1")
    # The same data as a table, and a phone never scrolls sideways.
    pat.get_by_text("The heatmap as a table").click()
    expect(pat.locator("#heatmap-table tr", has=pat.locator("th", has_text=re.compile("^1a$")))).to_contain_text(
        "Developing")
    assert pat.evaluate("document.documentElement.scrollWidth") <= 360
    assert pat.errors == [] and fay.errors == []


def test_report_prints_a_page_per_section_without_the_menu(live_server, new_person):
    fay = new_person()
    fay.goto(live_server + "/")
    form = {"title": "Board paper", "organisation": "Example NHS Trust", "date": "2026-12-01",
            "scope": ["1", "2"], "name": "Fay", "perspective": "staff"}
    created = fay.request.post(live_server + "/sessions", data=urlencode(form, doseq=True),
                               headers={"Origin": live_server, "Content-Type": "application/x-www-form-urlencoded"})
    session = created.url.split("/s/")[1].split("/")[0]
    fay.goto(f"{live_server}/s/{session}/report")
    expect(fay.get_by_role("heading", name="Board paper", level=1)).to_be_visible()

    fay.emulate_media(media="print")
    expect(fay.locator(".ecsa-session-nav")).to_be_hidden()
    expect(fay.locator(".ecsa-header")).to_be_hidden()
    expect(fay.get_by_role("link", name="Download this report as a Word document")).to_be_hidden()
    pdf = fay.pdf(format="A4", outline=True, tagged=True)

    starts = section_starts(pdf)
    for title in ("Section 1: Leadership", "Section 2: Organisational culture", "Action plan"):
        assert title in starts, f"{title} is not a heading in the PDF's outline"
    pages = [starts[t] for t in ("Section 1: Leadership", "Section 2: Organisational culture", "Action plan")]
    assert len({page for page, _ in pages}) == 3, "each section begins its own page"
    assert all(page > 0 for page, _ in pages), "the title page and summary come first"
    assert all(top > A4_HEIGHT - 120 for _, top in pages), "each section begins at the top of its page"


def section_starts(pdf: bytes) -> dict[str, tuple[int, float]]:
    """Per outline title (a heading), the page (from 0) and height where it last begins: the
    report's own section headings come after the summary's heatmap headings of the same name."""
    text = pdf.decode("latin-1")
    order = page_order(text)
    starts = {}
    for title, ref, top in re.findall(r"/Title \((.*?)\)\s*/Dest \[(\d+) 0 R /XYZ [-\d.]+ ([-\d.]+)", text):
        starts[title] = max(starts.get(title, (-1, 0.0)), (order.index(int(ref)), float(top)))
    return starts


def page_order(text: str) -> list[int]:
    """The PDF's page objects in reading order (walking its page tree)."""
    def body(number: int) -> str:
        start = re.search(rf"(?m)^{number} 0 obj", text).end()
        return text[start:text.index("endobj", start)]

    root = re.search(r"/Type /Catalog.*?/Pages (\d+) 0 R", text, re.S)[1]
    pages, stack = [], [int(root)]
    while stack:
        node = stack.pop(0)
        content = body(node)
        if re.search(r"/Type /Pages\b", content):
            stack[:0] = [int(kid) for kid in re.findall(r"(\d+) 0 R", re.search(r"/Kids \[(.*?)\]", content, re.S)[1])]
        else:
            pages.append(node)
    return pages
