"""What a person does in the browser, shared by the browser tests."""

from __future__ import annotations

from playwright.sync_api import expect


def create_session(page, base: str, title: str) -> str:
    """The facilitator (Fay, staff) creates a session for section 1; returns the join code."""
    page.goto(base + "/")
    page.get_by_label("Session title", exact=True).fill(title)
    page.get_by_label("Organisation", exact=True).fill("Example NHS Trust")
    page.get_by_label("Workshop date", exact=True).fill("2026-12-01")
    page.get_by_label("Section 1: Leadership").check()
    page.get_by_label("Your name", exact=True).fill("Fay")
    page.get_by_label("Staff", exact=True).check()
    page.get_by_role("button", name="Create session").click()
    expect(page.get_by_role("heading", name="Your private facilitator link")).to_be_visible()
    return page.locator(".ecsa-join-code__code").inner_text().replace(" ", "")
