"""Browser tests: Playwright (sync API) driving Debian's chromium against pytest-django's live server.

Never downloads a browser: without /usr/bin/chromium the tests skip, or fail when
GUANXI_REQUIRE_BROWSER=1 (CI machines that must run them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


@pytest.fixture(autouse=True)
def _allow_async_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Playwright's sync API runs an asyncio event loop in this thread; Django's ORM, used by the
    test in the same thread, would otherwise refuse to run ("async unsafe").

    Set for the browser tests only (not at import): a variable left in os.environ would reach
    every later test's subprocesses, and ``check --deploy`` rightly fails on it (async.E001).
    """
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests"
    if os.environ.get("GUANXI_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GUANXI_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def browser(transactional_db: Any, live_server: Any) -> Iterator[Any]:
    """A fresh chromium per test.

    Function-scoped on purpose: while Playwright's sync API is active an asyncio loop counts
    as running in this thread, so Django's connection handler (an asgiref Local) hands out
    other connection objects than the test database's own. The database fixtures must set up
    and tear down (flush, serialized rollback) outside that window, before and after this one.
    """
    _require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        if os.environ.get("GUANXI_REQUIRE_BROWSER") == "1":
            pytest.fail(f"playwright is not installed: {exc}", pytrace=False)
        pytest.skip(f"playwright is not installed: {exc}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_org(transactional_db: Any, django_db_serialized_rollback: Any, org: Any) -> Any:
    """The root conftest's personas, in a transactional database the live server's thread can see.

    A transactional test empties the tables when it ends, including the roles and the approval
    policy the migrations seed; serialized rollback puts that seed data back before each test.
    """
    return org


class Session:
    """One browser context (its own cookies) with a page, plus helpers for guanxi's pages."""

    def __init__(self, browser: Any, base_url: str, **context_args: Any) -> None:
        self.base_url = base_url
        self.context = browser.new_context(base_url=base_url, locale="zh-CN", **context_args)
        self.context.set_default_timeout(TIMEOUT_MS)
        # Collected by every page: console errors, uncaught errors and CSP violations.
        self.context.add_init_script(
            "window.__cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push("
            "e.violatedDirective + ' ' + e.blockedURI));"
        )
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: self.console_errors.append(f"{m.text} [{m.location.get('url', '')}]")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.console_errors.append(f"pageerror: {e}"))
        # Chromium's console says only "Failed to load resource: 404"; keep the addresses too.
        self.failed_requests: list[str] = []
        self.page.on("response", lambda r: self.failed_requests.append(f"{r.status} {r.url}")
                     if r.status >= 400 else None)
        self.page.on("requestfailed", lambda r: self.failed_requests.append(f"failed {r.url}: {r.failure}"))

    def goto(self, path: str) -> Any:
        response = self.page.goto(path)
        assert response is not None and response.ok, f"GET {path}: {response.status if response else 'no response'}"
        self.wait_for_desk()
        return response

    def wait_for_desk(self) -> None:
        """On the desk, wait until its lazy panels have answered: leaving the page earlier aborts
        their requests, which the failed-request check would count against the next page."""
        self.page.wait_for_function(
            "() => !document.querySelector('[data-testid=desk] [aria-busy=true]')")

    def submit(self, target: Any) -> Any:
        """Click a submit button (selector or locator); the page it leads to must load without error."""
        locator = self.page.locator(target) if isinstance(target, str) else target
        with self.page.expect_navigation() as navigation:
            locator.click()
        response = navigation.value
        assert response is not None and response.ok, (
            f"{response.request.method if response else '?'} {response.url if response else self.page.url}: "
            f"{response.status if response else 'no response'}"
        )
        return response

    def login(self, username: str, password: str | None = None) -> None:
        from conftest import PASSWORD

        self.goto("/login/")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password or PASSWORD)
        self.submit("form:has(input[name=password]) button[type=submit]")
        assert not self.page.url.rstrip("/").endswith("/login"), f"login as {username} failed: {self.page.url}"
        self.wait_for_desk()  # login lands on the desk

    def logout(self) -> None:
        self.submit("form[action$='/logout/'] button[type=submit]")

    def html_lang(self) -> str:
        return self.page.get_attribute("html", "lang") or ""

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("window.__cspViolations || []"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def session_factory(browser: Any, live_server: Any) -> Iterator[Any]:
    sessions: list[Session] = []

    def make(**context_args: Any) -> Session:
        context_args.setdefault("viewport", {"width": 1280, "height": 800})
        s = Session(browser, live_server.url, **context_args)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        s.close()


@pytest.fixture
def session(session_factory: Any) -> Session:
    return session_factory()
