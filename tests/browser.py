"""A real headless Chromium driven over the DevTools protocol, for the widget's end-to-end test.

Only what the test needs: open a page, run JavaScript in it and wait for a condition. The protocol is JSON
over a WebSocket (``websockets`` comes with Rasa), so no browser-driver package is needed; the browser is
Debian's ``chromium`` (``apt-get install chromium``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from typing import Any

import httpx
import websockets

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class BrowserError(RuntimeError):
    """The browser did not start, or a page script failed."""


class Browser:
    """One headless Chromium with one page."""

    def __init__(self) -> None:
        if CHROMIUM is None:
            raise BrowserError("chromium is not installed (apt-get install chromium)")
        # chromium's helper processes may still be writing the profile as it quits
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True)
        self._process = subprocess.Popen(  # noqa: S603 - our own arguments
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}",
                "--window-size=420,800",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._socket: Any = None
        try:
            self._socket = self._loop.run_until_complete(self._connect(self._devtools_url()))
        except Exception:
            self.close()
            raise

    def _devtools_url(self) -> str:
        assert self._process.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if not line and self._process.poll() is not None:
                break
            found = _LISTENING.search(line)
            if found:
                return found.group(1)
        raise BrowserError("chromium did not start")

    async def _connect(self, browser_url: str) -> Any:
        http = browser_url.replace("ws://", "http://").split("/devtools/")[0]
        targets = httpx.get(http + "/json/list", timeout=5).json()
        page = next(t for t in targets if t.get("type") == "page")
        return await websockets.connect(page["webSocketDebuggerUrl"], max_size=None)

    async def _call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self._socket.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def open(self, url: str) -> None:
        """Load ``url`` and wait until its document (and deferred scripts) ran."""
        self._loop.run_until_complete(self._call("Page.navigate", url=url))
        self.wait_for("document.readyState === 'complete'")

    def run(self, script: str) -> Any:
        """Evaluate ``script`` in the page and return its (JSON) value."""
        result = self._loop.run_until_complete(
            self._call("Runtime.evaluate", expression=script, returnByValue=True, awaitPromise=True)
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{script!r}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, condition: str, timeout: float = 20.0) -> Any:
        """Wait until the JavaScript ``condition`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.run(condition)
            if value:
                return value
            time.sleep(0.1)
        raise BrowserError(f"timed out waiting for {condition!r}")

    def viewport(self, width: int, height: int) -> None:
        """Emulate a screen of ``width`` × ``height`` CSS pixels (a phone at 360 px, a desktop at 1280 px)."""
        self._loop.run_until_complete(
            self._call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=width < 600,
            )
        )

    def media(self, feature: str, value: str) -> None:
        """Emulate a media feature (``prefers-reduced-motion: reduce``); an empty value ends the emulation."""
        features = [{"name": feature, "value": value}] if value else []
        self._loop.run_until_complete(self._call("Emulation.setEmulatedMedia", features=features))

    def screenshot(self, path: str) -> None:
        """Save what the page shows as a PNG."""
        import base64

        shot = self._loop.run_until_complete(self._call("Page.captureScreenshot", format="png"))
        with open(path, "wb") as out:
            out.write(base64.b64decode(shot["data"]))

    def press(self, key: str) -> None:
        """Press one key as a keyboard does (``Tab``, ``Enter``, ``Escape``), to the focused element."""
        codes = {"Tab": 9, "Enter": 13, "Escape": 27}
        text = "\r" if key == "Enter" else ""
        for kind in ("keyDown", "keyUp"):
            params: dict[str, Any] = {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": codes[key]}
            if kind == "keyDown" and text:
                params["text"] = text
            self._loop.run_until_complete(self._call("Input.dispatchKeyEvent", **params))

    def type(self, text: str) -> None:
        """Type ``text`` into the focused element."""
        self._loop.run_until_complete(self._call("Input.insertText", text=text))

    def close(self) -> None:
        """Quit the browser and remove its profile."""
        if self._socket is not None:
            self._loop.run_until_complete(self._socket.close())
        self._loop.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        if self._process.stderr:
            self._process.stderr.close()
        self._profile.cleanup()
