"""Fixtures for the example_web browser tests: one stack and one browser per session.

The stack is what ``make demo-web`` runs (``example_web.launch``): the local tenant,
example_api under gunicorn and ``next start``, plus a recording proxy between the
Next.js server and the API. The browser is Debian's Chromium driven by Playwright
through its executable path (Playwright never downloads a browser here). Every
browser context aborts and records any request that is not for loopback.

Without node/npm or chromium these tests skip with one line saying how to run them;
with ``CI=true`` a missing tool is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

import pytest

from example_web import launch

from .recorder import RecordingProxy

if TYPE_CHECKING:
    from playwright.sync_api import Browser
    from playwright.sync_api import BrowserContext
    from playwright.sync_api import ConsoleMessage
    from playwright.sync_api import Page
    from playwright.sync_api import Request
    from playwright.sync_api import Response
    from playwright.sync_api import Route

ARTIFACTS = Path("/tmp/claimguard-example-web")
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
# Playwright adds --headless and a fresh temporary --user-data-dir itself. Without the
# background-networking flags Chromium tries to reach Google's services, and this
# machine's closed network refuses it.
CHROMIUM_ARGS = [
    "--no-sandbox",  # Chromium refuses to run as root otherwise
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
HOW_TO_RUN = (
    "run `make test` as root (it installs Debian's chromium) or `apt-get install chromium`;"
    " Node.js 20+ with npm is needed too"
)
TIMEOUT_MS = 15_000

_screenshots_taken: list[Path] = []
_preparation: dict[str, float] = {}


def missing_requirements() -> list[str]:
    missing = launch.missing_tools()
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("chromium")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright Python package (pip install -e '.[dev]')")
    return missing


def why_not_runnable() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    missing = missing_requirements()
    if not missing:
        return None
    return f"example_web browser tests need {', '.join(missing)}: {HOW_TO_RUN}"


@pytest.fixture(scope="session")
def web_requirements() -> None:
    reason = why_not_runnable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run them: {reason}")
        pytest.skip(reason)


@dataclass
class WebStack:
    """The running example: ``url`` for the browser, ``proxy`` for what the API got."""

    stack: launch.Stack
    proxy: RecordingProxy
    timings: dict[str, float]

    @property
    def url(self) -> str:
        return self.stack.web_url

    @property
    def issuer(self) -> str:
        return self.stack.issuer


@pytest.fixture(scope="session")
def web(web_requirements: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    yield from _run_stack(tmp_path_factory, "example-web")


@pytest.fixture(scope="session")
def web_dpop(
    web_requirements: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebStack]:
    """A second stack with DPoP on (``EXAMPLE_WEB_DPOP=1``; example_api requires DPoP
    and its nonces). Started only by the tests that ask for it."""
    yield from _run_stack(tmp_path_factory, "example-web-dpop", dpop=True)


def _run_stack(
    tmp_path_factory: pytest.TempPathFactory, name: str, *, dpop: bool = False
) -> Iterator[WebStack]:
    run_dir = tmp_path_factory.mktemp(name)
    try:
        timings = launch.prepare(run_dir / "logs")
    except launch.LaunchError as error:
        pytest.fail(str(error))
    for step, took in timings.items():  # a second stack finds everything up to date
        _preparation[step] = max(_preparation.get(step, 0.0), took)
    proxies: list[RecordingProxy] = []

    def through_proxy(api_url: str) -> str:
        proxies.append(RecordingProxy(api_url))
        return proxies[-1].url

    try:
        stack = launch.start(run_dir, web_api_url=through_proxy, api_workers=1, dpop=dpop)
    except launch.LaunchError as error:
        for proxy in proxies:
            proxy.close()
        pytest.fail(str(error))
    try:
        yield WebStack(stack, proxies[0], timings)
    finally:
        stack.stop()
        for proxy in proxies:
            proxy.close()


@pytest.fixture(scope="session")
def browser(web_requirements: None) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where each role's page is saved; emptied once per run, outside the repository."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


def save_screenshot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    _screenshots_taken.append(path)
    print(f"screenshot: {path}")
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _preparation:
        terminalreporter.write_sep("-", "example_web")
        done = [f"{name.replace('_', ' ')} {took:.1f} s" for name, took in _preparation.items()]
        terminalreporter.write_line("prepared: " + ", ".join(done) + " (0.0 s: up to date)")
    if _screenshots_taken:
        terminalreporter.write_line("screenshots:")
        for path in _screenshots_taken:
            terminalreporter.write_line(f"  {path}")


# --------------------------------------------------------------------------------------
# What the browser did: every request's host, every response it received.


@dataclass
class Received:
    url: str
    status: int
    headers: str
    body: bytes


@dataclass
class Traffic:
    """Shared by every browser context of the session."""

    blocked: list[str] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)
    console_errors: list[str] = field(default_factory=list)
    responses: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def guard(self, route: Route, request: Request) -> None:
        """Let loopback through; abort and record anything else."""
        host = urlsplit(request.url).hostname or ""
        scheme = urlsplit(request.url).scheme
        with self.lock:
            self.hosts.add(host)
        if (scheme in {"http", "https"} and host in LOOPBACK_HOSTS) or scheme in {"data", "blob"}:
            route.continue_()
        else:
            with self.lock:
                self.blocked.append(request.url)
            route.abort("blockedbyclient")

    def console(self, message: ConsoleMessage) -> None:
        # Chromium logs every 4xx/5xx answer to fetch() as an error: those are the
        # point of these tests. Anything else (hydration, CSP, script errors) is not.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            with self.lock:
                self.console_errors.append(message.text)

    def keep(self, response: Response) -> None:
        try:
            body = response.body()
        except Exception:  # redirects and aborted loads have no body
            body = b""
        headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
        with self.lock:
            self.responses.append(Received(response.url, response.status, headers, body))


@pytest.fixture(scope="session")
def traffic() -> Traffic:
    return Traffic()


@dataclass
class Visitor:
    """One browser context (its own cookies) on the example app."""

    context: BrowserContext
    page: Page
    web: WebStack

    def sign_in(self, user: str) -> None:
        password = launch.users()[user]["password"]
        page = self.page
        page.goto(self.web.url + "/")
        page.click("[data-testid=login]")
        # The tenant's own login form, on the tenant's origin.
        page.wait_for_selector("#username")
        assert page.url.startswith(self.web.stack.tenant_url + "/interaction/"), page.url
        page.fill("#username", user)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(self.web.url + "/")
        self.wait_idle()

    def wait_idle(self) -> None:
        """Until React has hydrated and no call to the API is in flight."""
        self.page.wait_for_selector("[data-testid=panel][data-ready=true][data-busy=false]")


@pytest.fixture
def visit(
    browser: Browser, web: WebStack, traffic: Traffic
) -> Iterator[Any]:  # a factory: visit() -> Visitor
    yield from _visitors(browser, web, traffic)


@pytest.fixture
def visit_dpop(
    browser: Browser, web_dpop: WebStack, traffic: Traffic
) -> Iterator[Any]:  # a factory: visit_dpop() -> Visitor, on the DPoP stack
    yield from _visitors(browser, web_dpop, traffic)


def _visitors(browser: Browser, web: WebStack, traffic: Traffic) -> Iterator[Any]:
    contexts: list[BrowserContext] = []

    def open_visitor() -> Visitor:
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", traffic.guard)
        context.on("response", traffic.keep)
        context.on("console", traffic.console)
        contexts.append(context)
        return Visitor(context, context.new_page(), web)

    yield open_visitor
    for context in contexts:
        context.close()
    with traffic.lock:
        assert traffic.blocked == [], f"the browser tried to leave loopback: {traffic.blocked}"
