"""A small Chrome DevTools Protocol driver for a real headless Chromium (Debian's ``chromium``).

Why not Playwright or Selenium: Playwright downloads its own browser build, which
cannot be fetched here, and Selenium needs a matching chromedriver. Chromium's
own DevTools endpoint over a websocket (``websockets`` is already locked) needs
neither: we start the browser, send real mouse, keyboard and drag-and-drop
input, read the page with ``Runtime.evaluate`` and take screenshots.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection
from websockets.sync.client import connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The browser binary: ``$CHROMIUM``, or one on PATH or in /usr/bin (the test runner's PATH is minimal)."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/usr/local/bin", "/snap/bin"])
    for name in CANDIDATES:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


class BrowserError(AssertionError):
    pass


class Browser:
    """One headless Chromium with one page; every call blocks until Chromium answers."""

    def __init__(self, binary: str, profile: Path, width: int = 1360, height: int = 900) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a previous browser's port
        self.process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",  # tests run as root in CI
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(profile)},
            # Debian's chromium is a wrapper script whose browser outlives a signal to it: stop the whole group.
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.ws = self._connect(profile)
        for domain in ("Page", "Runtime", "Network"):
            self.send(f"{domain}.enable")

    def _connect(self, profile: Path) -> ClientConnection:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode} while starting")
            if time.monotonic() > deadline:
                raise BrowserError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self.port = port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        page = next(t for t in targets if t["type"] == "page")
        return connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)

    def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises are awaited)."""
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression!r} threw: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 30) -> Any:
        """Poll until ``expression`` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {what} ({expression})")
            time.sleep(0.15)

    def text(self, selector: str) -> str:
        return str(self.evaluate(f"document.querySelector({json.dumps(selector)})?.textContent ?? ''"))

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", f"{url} to load")

    def _center(self, selector: str) -> tuple[float, float]:
        box = self.wait_for(
            f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
                 if (!el) return null; el.scrollIntoView({{block: 'center'}});
                 const r = el.getBoundingClientRect();
                 return r.width ? [r.x + r.width / 2, r.y + r.height / 2] : null; }})()""",
            f"{selector} to be visible",
        )
        return float(box[0]), float(box[1])

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        x, y = self._center(selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def type(self, selector: str, text: str, replace: bool = True) -> None:
        """Focus the field and type (as an input method would), replacing its content by default."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        if replace:
            self.evaluate(f"document.querySelector({json.dumps(selector)}).select()")
        self.send("Input.insertText", text=text)

    def select(self, selector: str, value: str) -> None:
        self.evaluate(
            f"""(() => {{ const el = document.querySelector({json.dumps(selector)}); el.value = {json.dumps(value)};
                 el.dispatchEvent(new Event('change', {{bubbles: true}})); }})()"""
        )

    def drop_files(self, selector: str, paths: list[Path]) -> None:
        """Drag files from the desktop and drop them on the element (CDP's drag-and-drop input)."""
        x, y = self._center(selector)
        data = {"items": [], "files": [str(p) for p in paths], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            self.send("Input.dispatchDragEvent", type=kind, x=x, y=y, data=data)

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page, not only the viewport."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def drain(self) -> None:
        """Collect the events that arrived since the last call."""
        while True:
            try:
                message = json.loads(self.ws.recv(timeout=0.05))
            except TimeoutError:
                return
            if "method" in message:
                self.events.append(message)

    def exceptions(self) -> list[str]:
        self.drain()
        return [
            str(e["params"]["exceptionDetails"].get("exception", {}).get("description", e["params"]))
            for e in self.events
            if e["method"] == "Runtime.exceptionThrown"
        ]

    def requested_urls(self) -> list[str]:
        """URLs the page fetched, less those its Content-Security-Policy blocked before they left."""
        self.drain()
        blocked = {
            e["params"]["requestId"]
            for e in self.events
            if e["method"] == "Network.loadingFailed" and e["params"].get("blockedReason") == "csp"
        }
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e["method"] == "Network.requestWillBeSent" and e["params"]["requestId"] not in blocked
        ]

    def close(self) -> None:
        try:
            self.ws.close()
            # The browser may run in a session of its own: ask it to quit, then signal the group we started.
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/version", timeout=5) as answer:
                browser_url = json.load(answer)["webSocketDebuggerUrl"]
            with connect(browser_url, open_timeout=5) as browser:
                browser.send(json.dumps({"id": 1, "method": "Browser.close"}))
        except OSError:
            pass  # already gone
        finally:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
            time.sleep(0.5)
            self._signal_group(signal.SIGKILL)  # helpers that outlived the browser

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass
