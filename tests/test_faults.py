"""Faults on the real services: PostgreSQL or Redis unavailable for a few seconds under a running server, and
Zalo's send API failing for a while.

The server reaches PostgreSQL and Redis through a TCP forwarder on loopback that the test pauses (every
connection cut, new ones refused) and resumes: the machine's servers keep running for everyone else. While a
service is away the citizen gets a polite reply or a clean 503 (never a 500 or a traceback); once it is back the
same process answers again, without a restart. A Zalo event met by the outage is refused (503: Zalo delivers it
again); its answer, while Zalo's API fails, is retried, kept, and delivered once when Zalo is back.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.assistant.channels.fakes import FakePlatform
from tests.assistant.channels.test_zalo import ACCESS_TOKEN, APP_ID, OA_SECRET, USER, event, signed
from tests.live import LiveServer
from tests.postgres import throwaway_database

pytestmark = pytest.mark.slow
REDIS_DB = 7
#: How long the service stays away.
OUTAGE_SECONDS = 4.0


class Forwarder:
    """A pausable TCP forwarder ``127.0.0.1:<port>`` → ``127.0.0.1:<target>``, on its own event loop thread."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.paused = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Forwarder:
        self._thread.start()
        assert self._ready.wait(10), "forwarder did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.paused:  # the service is "down": the connection is dropped at once
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()
                self._writers.discard(sink)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def pause(self) -> None:
        """Cut every open connection and refuse new ones."""

        def cut() -> None:
            self.paused = True
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._loop.call_soon_threadsafe(cut)
        time.sleep(0.2)

    def resume(self) -> None:
        self.paused = False


ZALO_OK = {"error": 0, "message": "Success", "data": {"message_id": "m"}}


class ProxiedServer(LiveServer):
    """A live server on PostgreSQL and Redis, both reached through forwarders, with Zalo on a fake platform."""

    zalo_api_base = ""

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            ASSISTANT_WORKER_INTERVAL_SECONDS="0.5",
            ASSISTANT_ZALO_APP_ID=APP_ID,
            ASSISTANT_ZALO_OA_SECRET=OA_SECRET,
            ASSISTANT_ZALO_ACCESS_TOKEN=ACCESS_TOKEN,
            ASSISTANT_ZALO_API_BASE=self.zalo_api_base,
            ASSISTANT_OUTBOX_ATTEMPTS="2",
            ASSISTANT_OUTBOX_RETRY_SECONDS="0.05",
        )
        return env


@pytest.fixture(scope="module")
def zalo_platform() -> Iterator[FakePlatform]:
    with FakePlatform(answer=lambda status: ZALO_OK if status == 200 else {"error": status}) as fake:
        yield fake


@pytest.fixture(scope="module")
def direct_url() -> Iterator[str]:
    with throwaway_database() as url:
        yield url


@pytest.fixture(scope="module")
def services(
    tmp_path_factory: pytest.TempPathFactory, zalo_platform: FakePlatform, direct_url: str
) -> Iterator[tuple[ProxiedServer, Forwarder, Forwarder]]:
    folder = tmp_path_factory.mktemp("faults")
    with Forwarder(5432) as pg, Forwarder(6379) as redis:
        proxied = direct_url.replace("127.0.0.1:5432", f"127.0.0.1:{pg.port}")
        server = ProxiedServer(
            database_url=proxied, redis_url=f"redis://127.0.0.1:{redis.port}/{REDIS_DB}", log=folder / "server.log"
        )
        server.zalo_api_base = zalo_platform.url
        loaded = server.cli("procedures", "load")
        assert loaded.returncode == 0, loaded.stderr
        server.start()
        try:
            yield server, pg, redis
        finally:
            server.stop()


def send(server: LiveServer, sender: str, text: str) -> httpx.Response:
    return server.post("/webhooks/rest/webhook", {"sender": sender, "message": text})


def assert_clean(response: httpx.Response) -> None:
    """A polite reply (200 with text) or a 503 with a Vietnamese reason: never a 500 or a traceback."""
    assert response.status_code in (200, 503), (response.status_code, response.text[:500])
    assert "Traceback" not in response.text and "Error" not in response.text, response.text[:500]
    if response.status_code == 503:
        assert "thử lại" in response.json()["detail"]
    else:
        assert LiveServer.texts(response.json()).strip()


def answers_again(server: LiveServer, sender: str, *, within: float = 20.0) -> list[dict]:
    """Ask until the server answers normally (clean errors meanwhile); the answer."""
    deadline = time.monotonic() + within
    while True:
        response = send(server, sender, "làm hộ chiếu hết bao nhiêu tiền")
        assert_clean(response)
        if response.status_code == 200 and "hộ chiếu" in LiveServer.texts(response.json()).lower():
            return response.json()
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.5)


@pytest.mark.parametrize("service", ["postgresql", "redis"])
def test_service_away_gives_clean_errors_then_recovers_without_restart(
    services: tuple[ProxiedServer, Forwarder, Forwarder], service: str
) -> None:
    server, pg, redis = services
    forwarder = pg if service == "postgresql" else redis
    sender = f"fault-{service}-{uuid.uuid4().hex[:6]}"
    answers_again(server, sender)
    pid = server.process.pid if server.process else None

    forwarder.pause()
    statuses = []
    try:
        started = time.monotonic()
        while time.monotonic() - started < OUTAGE_SECONDS:
            response = send(server, sender, "cần giấy tờ gì")
            assert_clean(response)
            statuses.append(response.status_code)
            health = httpx.get(f"{server.url}/health", timeout=30)
            assert health.status_code in (200, 503) and "Traceback" not in health.text
            time.sleep(0.5)
    finally:
        forwarder.resume()

    assert 503 in statuses  # the outage was met, and answered cleanly
    answers_again(server, sender)
    assert server.process is not None and server.process.poll() is None and server.process.pid == pid
    assert "storage unavailable on POST /webhooks/rest/webhook" in server.log.read_text(errors="replace")


def wait_for(check: Callable[[], bool], *, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_zalo_event_during_outage_and_failing_platform_is_answered_once(
    services: tuple[ProxiedServer, Forwarder, Forwarder], zalo_platform: FakePlatform, direct_url: str
) -> None:
    server, pg, _redis = services
    raw = event("làm hộ chiếu hết bao nhiêu tiền", msg_id=f"fault-{uuid.uuid4().hex[:10]}")

    def deliver() -> httpx.Response:
        """Zalo (re)delivering the event."""
        return httpx.post(f"{server.url}/webhooks/zalo/webhook", content=raw, headers=signed(raw), timeout=30)

    zalo_platform.requests.clear()

    pg.pause()  # the database is away: the event cannot be kept, so Zalo is told to deliver it again
    try:
        refused = deliver()
        assert refused.status_code == 503 and "Traceback" not in refused.text
    finally:
        pg.resume()

    zalo_platform.status = 500  # and now Zalo's send API fails for a while
    wait_for(lambda: deliver().status_code == 200)
    wait_for(lambda: len(zalo_platform.requests) >= 2)  # tried, with backoff, then kept for later
    failed = len(zalo_platform.requests)

    zalo_platform.status = 200  # Zalo is back; the kept reply is due (not in a minute, as its backoff says)
    database = create_engine(direct_url)
    with database.begin() as connection:
        connection.execute(text("update outbox set next_attempt_at = created_at where direction = 'out'"))
    with database.connect() as connection:
        count_done = "select count(*) from outbox where direction = 'out' and status = 'done'"
        wait_for(lambda: connection.execute(text(count_done)).scalar() == 1)
        messages = connection.execute(text("select payload from outbox where direction = 'out'")).scalar_one()
    database.dispose()
    assert deliver().json() == {"status": "duplicate"}  # a late redelivery of the same event is not answered again
    time.sleep(2)

    sent = zalo_platform.requests[failed:]
    expected = (messages if isinstance(messages, dict) else json.loads(messages))["messages"]
    assert [r["json"]["message"] for r in sent] == expected  # every message once, in order
    assert all(r["json"]["recipient"] == {"user_id": USER} for r in sent)
    assert "hộ chiếu" in " ".join(m.get("text", "") for m in expected).lower()
