"""The system's Chromium, and a built site served to it on localhost: for the browser tests
(tests/test_browser.py) and the explorer's benchmark (explorer_speed.py)."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Where to look, in order; none found: Playwright's own browser, if it has been installed.
BROWSERS = [
    os.environ.get("CHROMIUM", ""),
    "chromium",
    "chromium-browser",
    "google-chrome",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def find() -> str | None:
    return next((path for b in BROWSERS if b and (path := shutil.which(b))), None)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: str | Path) -> Iterator[str]:
    """``directory`` on http://127.0.0.1:<port>/, as `mkdocs serve` would show it: its URL."""
    handler = functools.partial(Quiet, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
