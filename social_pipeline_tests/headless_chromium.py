"""Headless Chromium driven over the DevTools protocol: open a page, wait for text, click, shoot.

`chromium --screenshot` takes one picture of a page as first rendered; the Dagster UI draws
plots only after a click (an asset's Events tab, "Plots"), so the browser test drives the
page itself. The protocol is JSON over one websocket (`websockets` comes with Dagster).
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect


class Page:
    """One tab of a headless Chromium of its own (a fresh profile), closed on exit."""

    def __init__(self, chromium: str, profile: Path, size: tuple[int, int] = (1600, 1000)) -> None:
        shutil.rmtree(profile, ignore_errors=True)
        profile.mkdir(parents=True)
        self._proc = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--window-size={size[0]},{size[1]}",
                "--remote-debugging-port=0",  # the chosen port is written to DevToolsActivePort
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self._ws = self._connect(profile / "DevToolsActivePort")

    def _connect(self, port_file: Path, timeout: float = 30.0) -> ClientConnection:
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"chromium did not open its DevTools port ({port_file})")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.loads(resp.read())
        page = next(t for t in targets if t["type"] == "page")
        return connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One protocol call; events arriving meanwhile are dropped."""
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=60))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for_text(self, *texts: str, timeout: float = 30.0) -> str:
        """The page's text once it shows every one of `texts`; the last text seen otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.text()
            if all(t in seen for t in texts) or time.monotonic() > deadline:
                return seen
            time.sleep(0.25)

    def click(self, label: str) -> bool:
        """Click the first button whose text is `label`; False when there is none."""
        return bool(
            self.evaluate(
                "(() => { const b = [...document.querySelectorAll('button')]"
                f".find(e => e.innerText.trim() === {json.dumps(label)});"
                " if (b) { b.click(); return true; } return false; })()"
            )
        )

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        if getattr(self, "_ws", None) is not None:
            self._ws.close()
        self._proc.kill()
        self._proc.wait(timeout=10)

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
