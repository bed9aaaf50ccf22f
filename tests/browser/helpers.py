"""What every browser test uses: Playwright's assertions, and the check that a page is clean."""

from __future__ import annotations

from typing import Any


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def clean(session: Any) -> None:
    """The page settled without a Content-Security-Policy violation or a console error."""
    session.page.wait_for_load_state("networkidle")
    assert session.csp_violations() == [], session.csp_violations()
    assert session.console_errors == [], (session.console_errors, session.failed_requests)
