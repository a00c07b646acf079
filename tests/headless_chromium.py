"""Open a page in headless Chromium through chromedriver's W3C WebDriver HTTP API (no selenium needed).

Used by the report tests to check that ``index.html`` renders from disk with every image loaded. Needs the Debian
packages ``chromium`` and ``chromium-driver`` (.ci/test installs them on CI).
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--window-size=1280,2400"]
BINARIES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
MISSING = ("Headless Chromium is needed for this test: install the Debian packages chromium and chromium-driver "
           "(`apt-get install -y chromium chromium-driver`; .ci/test does this on CI).")

# What the page says about itself once loaded: every image, whether it decoded, and every resource URL it fetched.
PAGE_STATE = """
return {
  ready: document.readyState,
  title: document.title,
  images: Array.from(document.images).map(i => ({src: i.src.slice(0, 40), complete: i.complete,
                                                  width: i.naturalWidth, height: i.naturalHeight})),
  resources: performance.getEntriesByType('resource').map(r => r.name),
  captions: Array.from(document.querySelectorAll('figcaption')).map(c => c.innerText.length),
};
"""


def find_chromium() -> tuple[str, str] | None:
    driver = shutil.which("chromedriver")
    binary = next((b for b in BINARIES if Path(b).is_file()), None)
    return (driver, binary) if driver and binary else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(base: str, method: str, path: str, payload: dict | None = None, timeout: float = 60) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


def open_page(path: Path, screenshot: Path) -> dict:
    """Load ``path`` (file://), write a PNG screenshot, and return the page state (see PAGE_STATE)."""
    found = find_chromium()
    if found is None:
        raise RuntimeError(MISSING)
    driver, binary = found
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if _call(base, "GET", "/status", timeout=2)["value"].get("ready"):
                    break
            except OSError:
                time.sleep(0.1)
        capabilities = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": binary, "args": CHROMIUM_ARGS}}}}
        session = _call(base, "POST", "/session", capabilities)["value"]["sessionId"]
        try:
            _call(base, "POST", f"/session/{session}/url", {"url": path.resolve().as_uri()})
            state = _call(base, "POST", f"/session/{session}/execute/sync", {"script": PAGE_STATE, "args": []})["value"]
            png = _call(base, "GET", f"/session/{session}/screenshot")["value"]
            screenshot.write_bytes(base64.b64decode(png))
        finally:
            _call(base, "DELETE", f"/session/{session}")
        return state
    finally:
        process.terminate()
        process.wait(timeout=10)
