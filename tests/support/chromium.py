"""A real headless Chromium, driven over the DevTools protocol (CDP) with ``websockets``.

Used to check static pages the way a reader's browser sees them: images that
decode (``naturalWidth > 0``), links that resolve, and a screenshot.
Why not Selenium/Playwright: both need a matching driver or a browser download;
Debian's ``chromium`` plus CDP over one websocket needs neither.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

BINARIES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Chromium:
    """``with Chromium() as browser: browser.open(url); browser.evaluate(js); browser.screenshot(path)``."""

    def __init__(self, width: int = 1200, height: int = 900, timeout_s: float = 30.0):
        self._size = (width, height)
        self._timeout = timeout_s
        self._next_id = 0

    def __enter__(self) -> "Chromium":
        from websockets.sync.client import connect

        binary = find_chromium()
        if binary is None:
            raise RuntimeError("no chromium binary on PATH (apt-get install chromium)")
        self._profile = tempfile.mkdtemp(prefix="corpusmill-chromium-")
        port = _free_port()
        self._process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--remote-debugging-port={port}", f"--user-data-dir={self._profile}",
             f"--window-size={self._size[0]},{self._size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as resp:
                    pages = [t for t in json.load(resp) if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self._process.poll() is not None:
                self.__exit__(None, None, None)
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.2)
        self._ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=self._timeout)
        self.call("Page.enable")
        self.call("Runtime.enable")
        return self

    def __exit__(self, *_exc) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def call(self, method: str, params: dict | None = None, until_event: str | None = None) -> dict:
        """Send one CDP command; return its result (after ``until_event`` fired, if given)."""
        self._next_id += 1
        my_id = self._next_id
        self._ws.send(json.dumps({"id": my_id, "method": method, "params": params or {}}))
        result, event_seen = None, until_event is None
        deadline = time.monotonic() + self._timeout
        while result is None or not event_seen:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == my_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result = message.get("result", {})
            elif message.get("method") == until_event:
                event_seen = True
        return result

    def open(self, url: str) -> None:
        result = self.call("Page.navigate", {"url": url}, until_event="Page.loadEventFired")
        if result.get("errorText"):
            raise RuntimeError(f"{url}: {result['errorText']}")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: str) -> bytes:
        """A PNG of the whole page (beyond the viewport), written to ``path``."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = base64.b64decode(
            self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})["data"]
        )
        with open(path, "wb") as fh:
            fh.write(data)
        return data


PAGE_FACTS = """({
  images: [...document.images].map(i => ({src: i.src, complete: i.complete, width: i.naturalWidth})),
  links: [...document.links].map(a => a.href),
  title: document.title,
})"""


def broken_links(links: list[str]) -> list[str]:
    """Links that do not resolve: a ``file:`` URL to a missing file, or any other scheme (the page is offline)."""
    broken = []
    for link in links:
        parsed = urllib.parse.urlparse(link)
        if parsed.scheme != "file" or not os.path.isfile(urllib.parse.unquote(parsed.path)):
            broken.append(link)
    return broken


def check_static_page(index_path: str, screenshot_path: str) -> dict:
    """Open a local page; return its images, links, broken ones, and the screenshot size."""
    url = "file://" + urllib.parse.quote(os.path.abspath(index_path))
    with Chromium() as browser:
        browser.open(url)
        facts = browser.evaluate(PAGE_FACTS)
        png = browser.screenshot(screenshot_path)
    facts["broken_images"] = [i["src"] for i in facts["images"] if not i["complete"] or i["width"] <= 0]
    facts["broken_links"] = broken_links(facts["links"])
    facts["screenshot_bytes"] = len(png)
    return facts
