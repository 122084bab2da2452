"""The load generator behind `assistant bench`: what it counts is what the speed goals are judged on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from assistant.bench_loads import Loads, report
from assistant.load import load_once


@pytest.fixture
def flaky_server() -> Iterator[str]:
    """A REST webhook on loopback that answers, and refuses every fifth message with a 503."""
    received = 0

    async def webhook(request: web.Request) -> web.Response:
        nonlocal received
        body = await request.json()
        received += 1
        if received % 5 == 0:
            return web.Response(status=503, text="bận")
        return web.json_response([{"recipient_id": body["sender"], "text": "Xin chào"}])

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


def test_a_load_counts_answers_and_names_its_failures(flaky_server: str) -> None:
    result = load_once("flaky-sat", [flaky_server], users=4, think_s=0, seconds=1.0, warmup_s=0.2)
    answered = len(result.latencies_ms)
    assert answered > 20 and result.throughput == pytest.approx(answered / 1.0)
    assert result.errors > 0 and set(result.error_kinds) == {"HTTP 503"}
    assert 3 * result.errors <= answered <= 5 * result.errors  # one in five refused, as the server did
    assert result.quantile(50) <= result.quantile(95) <= result.quantile(100)

    lines = report(Loads(seconds=1.0), {"ours": (result, result), "ours_lost": 0})
    assert any(line.startswith("| ours, saturation (1 process, SQLite) |") for line in lines)
    failed = next(line for line in lines if line.startswith("What the failed requests were"))
    assert f"flaky-sat: HTTP 503 × {result.error_kinds['HTTP 503']}" in failed
