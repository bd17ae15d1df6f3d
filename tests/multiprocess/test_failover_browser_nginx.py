"""In Chromium, through nginx: two people type into one indicator's notes, the process
serving the session is killed with SIGKILL, and both pages reconnect by themselves (live.js,
the 503 "will retry" answer to the socket's handshake), keep what was typed meanwhile and
end with the same text as the server. The time from the kill to both pages being live
again is printed."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from playwright.sync_api import expect

from cluster_fixtures import fresh_cluster  # noqa: F401  (a fixture)
from people import INDICATOR, Browser, holder, server_notes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from steps import create_session as create_in_browser  # noqa: E402


def live_on(page, url: str) -> None:
    """Open a page and wait until its notes are live."""
    page.goto(url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(page.locator("#notes-text[data-live-notes]")).to_be_editable()


def type_into(page, words: str) -> None:
    """Type at the end of the notes, as a person would."""
    notes = page.locator("#notes-text")
    notes.click()
    notes.press("End")
    page.keyboard.type(words, delay=20)


def test_pages_reconnect_and_keep_every_word_when_their_process_is_killed(fresh_cluster, new_person):
    cluster = fresh_cluster
    fay, pat = new_person(), new_person()
    code = create_in_browser(fay, cluster.base, "Failover in a browser")
    session_id = re.search(r"/s/([A-Za-z0-9_-]+)/", fay.url)[1]
    pat.goto(f"{cluster.base}/join/{code}")
    pat.get_by_label("Your name", exact=True).fill("Pat")
    pat.get_by_label("Staff", exact=True).check()
    pat.get_by_role("button", name="Join").click()
    indicator = f"{cluster.base}/s/{session_id}/i/{INDICATOR}"
    for page in (fay, pat):
        live_on(page, indicator)
    type_into(fay, "Fay before. ")
    type_into(pat, "Pat before. ")
    reader = Browser(cluster.base)
    reader.http.cookies.update({c["name"]: c["value"] for c in fay.context.cookies()})
    serving = holder(reader, session_id)

    killed_at = time.monotonic()
    cluster.kill(serving)
    type_into(fay, "Fay during. ")  # typed while the session moves: kept, sent on reconnecting
    for page in (fay, pat):
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected", timeout=30_000)
    back = time.monotonic() - killed_at
    type_into(pat, "Pat after.")
    print(f"\nChromium through nginx: both pages live again {back:.2f} s after kill -9 of {serving} "
          f"(lease {cluster.lease_seconds} s)")

    assert holder(reader, session_id) != serving
    deadline = time.monotonic() + 15
    while True:
        text = server_notes(cluster.base, reader, session_id)
        pages = [page.locator("#notes-text").input_value() for page in (fay, pat)]
        if all(value == text for value in pages) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for words in ("Fay before.", "Pat before.", "Fay during.", "Pat after."):
        assert words in text, (words, text)
    assert pages == [text, text]
    assert back <= cluster.lease_seconds + 10
