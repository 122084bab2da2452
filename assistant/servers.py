"""``assistant serve`` processes started on this machine, for measurements and end-to-end tests.

``assistant bench`` (:mod:`assistant.bench`, :mod:`assistant.bench_loads`), ``assistant evaluate
--conversations`` without ``--url`` (:mod:`assistant.conversations`) and the tests' live servers
(``tests/live.py``) start servers here: on 127.0.0.1, a free port each, ready once ``/health`` answers 200.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from assistant.settings import ROOT

__all__ = ["free_port", "launch", "start_server"]


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(
    port: int, env: dict[str, str], log: Path, *, timeout: float = 180.0
) -> tuple[subprocess.Popen[bytes], float]:
    """Start ``assistant serve --port PORT`` with ``env`` and wait for ``/health`` 200.

    The output is appended to ``log``.

    Returns:
        The process and the seconds it took to become ready.

    Raises:
        RuntimeError: the process exited, or was not ready within ``timeout`` (it is killed then).
    """
    started = time.perf_counter()
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/health"
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited; see {log}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server not ready in {timeout:.0f} s; see {log}")


def start_server(database_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """Load the catalogue, start ``assistant serve`` and wait for it; return the process, URL and seconds taken."""
    port = free_port()
    env = dict(os.environ, ASSISTANT_DATABASE_URL=database_url, PORT=str(port), ASSISTANT_PORT=str(port))
    subprocess.run(
        [sys.executable, "-m", "assistant.cli", "procedures", "load"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    process, seconds = launch(port, env, log)
    return process, f"http://127.0.0.1:{port}", seconds
