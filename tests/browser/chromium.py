"""Drive a headless Chromium from tests through the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe``: it reads protocol
messages from file descriptor 3 and writes its replies to file descriptor 4,
each message a JSON object ended by a NUL byte. A pipe needs no port, no
websocket library and no driver binary, so the only requirement is the
``chromium`` binary itself (Debian: ``apt-get install chromium``).

Usage::

    with HeadlessChromium.start(profile_dir) as browser:
        page = browser.new_page()
        page.open("file:///…/index.html")
        page.evaluate("document.title")
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Where Debian, Ubuntu and most images install Chromium, tried in order.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Flags that keep a test browser quiet and isolated: no sandbox (tests often
#: run as root in containers, where the sandbox cannot start), no GPU, no
#: first-run pages and no background traffic to Google services.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)

#: Seconds to wait for one protocol reply or page load.
REPLY_TIMEOUT_S = 30.0


class BrowserError(RuntimeError):
    """Raised when Chromium exits, times out or returns a protocol error."""


def find_chromium() -> str | None:
    """Return the path of a Chromium binary, or None when none is installed.

    The ``CHROMIUM`` environment variable, when set, names the binary to use.
    """
    configured = os.environ.get("CHROMIUM")
    if configured:
        return shutil.which(configured)
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class HeadlessChromium:
    """A running headless Chromium and its protocol pipe."""

    process: subprocess.Popen
    to_browser: int
    from_browser: int
    next_id: int = 1
    pending: bytes = b""
    #: Protocol events received while waiting for replies, oldest first.
    events: list[dict] = field(default_factory=list)

    @classmethod
    def start(cls, profile_dir: Path, binary: str | None = None) -> HeadlessChromium:
        """Start Chromium with an empty profile in ``profile_dir``."""
        binary = binary or find_chromium()
        if binary is None:
            raise BrowserError("no Chromium binary found; install the 'chromium' package")
        profile_dir.mkdir(parents=True, exist_ok=True)

        # Two pipes: the browser reads fd 3 and writes fd 4.
        browser_reads, we_write = os.pipe()
        we_read, browser_writes = os.pipe()

        def place_pipe_descriptors() -> None:
            # Duplicate first, so that a pipe end already numbered 3 or 4 is not
            # closed by the other dup2; dup2 also clears close-on-exec.
            read_end, write_end = os.dup(browser_reads), os.dup(browser_writes)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "about:blank"]
        logger.info("starting %s", " ".join(command))
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=place_pipe_descriptors,
        )
        os.close(browser_reads)
        os.close(browser_writes)
        browser = cls(process, we_write, we_read)
        browser.call("Browser.getVersion")
        return browser

    def __enter__(self) -> HeadlessChromium:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Ask Chromium to quit and wait for it; kill it when it does not."""
        try:
            self.call("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for descriptor in (self.to_browser, self.from_browser):
            try:
                os.close(descriptor)
            except OSError:
                pass

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one protocol command and return its ``result``."""
        message_id = self.next_id
        self.next_id += 1
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")

        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") != message_id:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise BrowserError(f"{method} failed: {reply['error']}")
            return reply.get("result", {})

    def wait_for_event(self, method: str, session: str, deadline: float) -> dict:
        """Return the first event ``method`` of ``session``, reading more when needed."""
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(index)
            self.events.append(self._read_message(deadline))

    def new_page(self, width: int = 1280, height: int = 900) -> Page:
        """Open a blank tab of the given viewport size in CSS pixels."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page

    def _read_message(self, deadline: float) -> dict:
        import select

        while b"\0" not in self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"Chromium sent no reply within {REPLY_TIMEOUT_S:.0f} s")
            ready, _, _ = select.select([self.from_browser], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium exited (status {self.process.poll()})")
            self.pending += chunk
        message, self.pending = self.pending.split(b"\0", 1)
        return json.loads(message)


@dataclass
class Page:
    """One tab, addressed through its protocol session."""

    browser: HeadlessChromium
    session: str

    def call(self, method: str, params: dict | None = None) -> dict:
        """Send a protocol command to this tab."""
        return self.browser.call(method, params, self.session)

    def open(self, url: str) -> None:
        """Load ``url`` and wait for its load event."""
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        reply = self.call("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise BrowserError(f"loading {url} failed: {reply['errorText']}")
        self.browser.wait_for_event("Page.loadEventFired", self.session, deadline)

    def evaluate(self, expression: str) -> Any:
        """Evaluate a JavaScript expression in the page and return its JSON value."""
        reply = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression!r} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def click(self, selector: str) -> None:
        """Click the centre of the first element matching ``selector`` with the mouse."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        if box is None:
            raise BrowserError(f"no element matches {selector!r}")
        for event in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                {"type": event, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    def press_key(self, key: str, code: str, key_code: int) -> None:
        """Press and release one key on the focused element, e.g. ('Enter', 'Enter', 13)."""
        for event in ("rawKeyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                {
                    "type": event,
                    "key": key,
                    "code": code,
                    "windowsVirtualKeyCode": key_code,
                    "nativeVirtualKeyCode": key_code,
                },
            )
        if key == "Enter":
            # Chromium activates a focused button on the 'char' event of Enter.
            self.call("Input.dispatchKeyEvent", {"type": "char", "text": "\r", "key": key})

    def screenshot(self, path: Path) -> None:
        """Save a PNG of the whole page, beyond the viewport."""
        reply = self.call(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(reply["data"]))

    def console_errors(self) -> list[str]:
        """Return the errors the page logged so far: exceptions, CSP violations, failed loads."""
        errors = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            if event.get("method") == "Runtime.exceptionThrown":
                errors.append(json.dumps(event["params"]["exceptionDetails"])[:500])
            elif event.get("method") == "Log.entryAdded":
                entry = event["params"]["entry"]
                if entry.get("level") == "error":
                    errors.append(f"{entry.get('source')}: {entry.get('text')}")
        return errors
