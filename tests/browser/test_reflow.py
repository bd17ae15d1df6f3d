"""Pages reflow on a phone: nothing scrolls sideways at 320 or 360 px (WCAG 1.4.10), and
no word of the rating scale is broken in the middle, at those widths or on a tablet (where
the scale becomes two columns and its key column is narrowest).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from steps import create_session

SIDEWAYS = """() => ({scroll: document.documentElement.scrollWidth, width: window.innerWidth,
  wide: Array.from(document.querySelectorAll('body *'))
    .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1 && el.getClientRects().length)
    .slice(0, 5).map(el => el.tagName + (el.id ? '#' + el.id : '') + '.' + el.className)})"""

# Each word of each key of the scale, with the number of lines it is laid out on.
BROKEN_WORDS = """() => {
  const broken = [];
  document.querySelectorAll('.ecsa-scale .nhsuk-summary-list__key').forEach(key => {
    const walker = document.createTreeWalker(key, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const pattern = /\\S+/g;
      for (let m = pattern.exec(node.data); m; m = pattern.exec(node.data)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0] + ' (on ' + lines.size + ' lines)');
      }
    }
  });
  return broken;
}"""


@pytest.fixture
def workshop(live_server, new_person):
    """A session with an indicator that has content: (base URL of the session, page)."""
    fay = new_person()
    create_session(fay, live_server, "A workshop with a rather long title for a small phone screen")
    session = fay.url.split("/s/")[1].split("/")[0]
    base = f"{live_server}/s/{session}"
    for path, form in (("/i/1a/evidence", {"text": "https://example.org/a/very/long/address/without/any/spaces/"
                                                   "in/it/at/all/that/must/wrap/somewhere", "source": ""}),
                       ("/i/1a/action", {"what": "Publish the strategy", "owner": "Jo", "due": "2027-01-31",
                                         "status": "open"}),
                       ("/i/1a/vote", {"value": "3"}), ("/i/1a/reveal", {})):
        assert fay.request.post(base + path, form=form, max_redirects=0).status == 303
    return base, fay  # 1a's round revealed: its distribution table has to fit too


PAGES = ["/", "/share", "/i/1a", "/i/1b", "/report", "/settings", "/screen"]


@pytest.mark.parametrize("width", [320, 360])
def test_no_page_scrolls_sideways_on_a_phone(workshop, live_server, width):
    base, page = workshop
    page.set_viewport_size({"width": width, "height": 800})
    for url in [live_server + "/", live_server + "/join"] + [base + path for path in PAGES]:
        page.goto(url)
        expect(page.locator("h1")).to_be_visible()
        found = page.evaluate(SIDEWAYS)
        assert found["scroll"] <= found["width"], f"{url} at {width} px scrolls sideways: {found}"


@pytest.mark.parametrize("width", [320, 360, 641, 768, 1024])
def test_no_word_of_the_rating_scale_is_broken(workshop, width):
    base, page = workshop
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(base + "/i/1a")
    expect(page.locator(".ecsa-scale").first).to_be_visible()
    assert page.evaluate(BROKEN_WORDS) == []
