"""The loads of ``assistant bench`` against real servers: ours, stock Rasa on the same model, and two processes.

- **ours**: ``assistant serve``, one process, SQLite (the default configuration);
- **stock Rasa**: ``rasa run`` (REST channel, SQL tracker store on SQLite, in-memory lock store) with our
  actions on ``rasa run actions`` (HTTP), serving the same model file, the same conversations;
- **scale-out**: two ``assistant serve`` processes on one PostgreSQL database and one Redis lock store, each
  message sent to the next process in turn (a load balancer without sticky sessions).

After each load the tracker store is asked how many user messages it holds for the simulated citizens: it
must be every answered turn (no lost turn). Servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from assistant.load import TABLE_HEADER, LoadResult, load_once
from assistant.servers import free_port, launch
from assistant.settings import ROOT

POSTGRES_ADMIN = os.environ.get("ASSISTANT_BENCH_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
REDIS = os.environ.get("ASSISTANT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")


@dataclass
class Loads:
    """The two loads of the speed goals (docs/benchmark.md), bounded in time."""

    saturation_users: int = 50
    realistic_users: int = 400
    think_s: float = 10.0
    seconds: float = 60.0

    def run(self, name: str, urls: list[str], pids: list[int]) -> tuple[LoadResult, LoadResult]:
        saturation = load_once(
            f"{name}-sat", urls, users=self.saturation_users, think_s=0, seconds=self.seconds, warmup_s=5, pids=pids
        )
        realistic = load_once(
            f"{name}-real",
            urls,
            users=self.realistic_users,
            think_s=self.think_s,
            seconds=self.seconds,
            warmup_s=self.think_s * 1.5,
            pids=pids,
        )
        return saturation, realistic


def _wait_ready(url: str, processes: list[subprocess.Popen[bytes]], log: Path, *, timeout: float = 240.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"server exited; see {log}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready in {timeout:.0f} s; see {log}")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _env(**values: str) -> dict[str, str]:
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", **values)
    return env


def load_catalogue(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "assistant.cli", "procedures", "load"], env=env, cwd=ROOT, check=True, capture_output=True
    )


@contextmanager
def our_servers(database_url: str, work: Path, *, count: int = 1, redis_url: str | None = None) -> Iterator[tuple[list[str], list[int]]]:
    """``count`` ``assistant serve`` processes on ``database_url``; yields their URLs and process ids."""
    env = _env(ASSISTANT_DATABASE_URL=database_url)
    if redis_url:
        env.update(ASSISTANT_REDIS_URL=redis_url, ASSISTANT_SESSION_SECRET=uuid.uuid4().hex * 2)
    load_catalogue(env)
    processes: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for index in range(count):
            port = free_port()
            process, _ = launch(port, dict(env, PORT=str(port), ASSISTANT_PORT=str(port)), work / f"ours-{index}.log")
            processes.append(process)
            urls.append(f"http://127.0.0.1:{port}")
        yield urls, [p.pid for p in processes]
    finally:
        _stop(processes)


@contextmanager
def stock_rasa(model: Path, catalogue_url: str, work: Path) -> Iterator[tuple[list[str], list[int], str]]:
    """``rasa run`` + ``rasa run actions`` serving ``model``; yields URLs, process ids and the tracker store URL."""
    rasa_port, actions_port = free_port(), free_port()
    store = work / "rasa-tracker.db"
    (work / "endpoints.yml").write_text(
        f"action_endpoint:\n  url: http://127.0.0.1:{actions_port}/webhook\n"
        f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {store}\n",
        encoding="utf-8",
    )
    (work / "credentials.yml").write_text("rest:\n", encoding="utf-8")
    env = _env(ASSISTANT_DATABASE_URL=catalogue_url, SANIC_HOST="127.0.0.1")
    rasa = str(Path(sys.executable).parent / "rasa")
    log = work / "rasa.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with log.open("ab") as handle:
            processes.append(
                subprocess.Popen(
                    [rasa, "run", "actions", "--actions", "actions", "--port", str(actions_port)],
                    env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                )
            )
            processes.append(
                subprocess.Popen(
                    [
                        rasa, "run", "--model", str(model), "--endpoints", str(work / "endpoints.yml"),
                        "--credentials", str(work / "credentials.yml"), "--interface", "127.0.0.1",
                        "--port", str(rasa_port),
                    ],
                    env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                )
            )
        _wait_ready(f"http://127.0.0.1:{actions_port}/health", processes, log)
        _wait_ready(f"http://127.0.0.1:{rasa_port}/", processes, log)
        yield [f"http://127.0.0.1:{rasa_port}"], [p.pid for p in processes], f"sqlite:///{store}"
    finally:
        _stop(processes)


@contextmanager
def throwaway_postgres(
    admin_url: str = POSTGRES_ADMIN,
    *,
    prefix: str = "assistant_bench",
    on_unavailable: Callable[[Exception], None] | None = None,
) -> Iterator[str | None]:
    """An empty PostgreSQL database on the server of ``admin_url`` (dropped after), as a URL.

    When no server answers: ``on_unavailable(error)`` if given (the tests skip, or fail in CI), else None.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001 - any reason the server cannot be used
        admin.dispose()
        if on_unavailable is not None:
            on_unavailable(e)
        yield None
        return
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def redis_reachable(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except Exception:  # noqa: BLE001
        return False


def stored_user_messages(database_url: str) -> int:
    """User messages the tracker store holds for the simulated citizens."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("select count(*) from events where type_name = 'user' and sender_id like '%bench-%'")
                ).scalar()
                or 0
            )
    finally:
        engine.dispose()


def lost_turns(results: tuple[LoadResult, ...], database_url: str) -> int:
    """Answered turns the store does not hold (0 expected; a turn cut off at the end may be stored, not answered)."""
    return max(0, sum(r.answered for r in results) - stored_user_messages(database_url))


def load_lines(
    loads: Loads, *, work: Path, model: Path, rasa: bool = True, scale_out: bool = True
) -> tuple[list[str], dict[str, Any]]:
    """Run every load against every server; the report's Markdown and the numbers (for the README)."""
    numbers: dict[str, Any] = {}
    ours_db = f"sqlite:///{work / 'ours.db'}"
    with our_servers(ours_db, work) as (urls, pids):
        numbers["ours"] = loads.run("ours", urls, pids)
    numbers["ours_lost"] = lost_turns(numbers["ours"], ours_db)
    if rasa:
        with stock_rasa(model, ours_db, work) as (urls, pids, store):
            numbers["rasa"] = loads.run("rasa", urls, pids)
        numbers["rasa_lost"] = lost_turns(numbers["rasa"], store)
    if scale_out:
        if not redis_reachable(REDIS):
            numbers["scale_out_skipped"] = f"Redis not reachable at {REDIS}"
        else:
            with throwaway_postgres() as database_url:
                if database_url is None:
                    numbers["scale_out_skipped"] = f"PostgreSQL not reachable at {POSTGRES_ADMIN}"
                else:
                    with our_servers(database_url, work, count=2, redis_url=REDIS) as (urls, pids):
                        saturation = load_once(
                            "two-sat", urls, users=loads.saturation_users, think_s=0, seconds=loads.seconds, pids=pids
                        )
                    numbers["two"] = (saturation,)
                    numbers["two_lost"] = lost_turns(numbers["two"], database_url)
    return report(loads, numbers), numbers


def report(loads: Loads, numbers: dict[str, Any]) -> list[str]:
    """The loads' section of docs/benchmark.md."""
    sat, real = numbers["ours"]
    lines = [
        "## Turns under load (REST channel, mixed questions and walkthroughs)",
        "",
        f"Saturation: {loads.saturation_users} citizens sending their next message as soon as the reply arrives. "
        f"Realistic: {loads.realistic_users} citizens pausing between messages (exponential, mean {loads.think_s:.0f} s, "
        f"≈ {loads.realistic_users / loads.think_s:.0f} turns/s offered). Each load is measured for {loads.seconds:.0f} s "
        "after a warm-up; the load generator runs on the same 2 cores.",
        "",
        *TABLE_HEADER,
        sat.row("ours, saturation (1 process, SQLite)"),
        real.row("ours, realistic (1 process, SQLite)"),
    ]
    if "rasa" in numbers:
        rsat, rreal = numbers["rasa"]
        lines += [rsat.row("stock `rasa run` + `rasa run actions`, saturation"), rreal.row("stock Rasa, realistic")]
    if "two" in numbers:
        lines.append(numbers["two"][0].row("ours, saturation, 2 processes (PostgreSQL + Redis)"))
    lines.append("")
    lost = [f"ours {numbers['ours_lost']}"]
    if "rasa_lost" in numbers:
        lost.append(f"stock Rasa {numbers['rasa_lost']}")
    if "two_lost" in numbers:
        lost.append(f"two processes {numbers['two_lost']}")
    lines.append("Answered turns missing from the tracker store afterwards: " + ", ".join(lost) + ".")
    if "rasa" in numbers and numbers["rasa"][0].throughput:
        lines.append(
            f"Saturation throughput, ours ÷ stock Rasa in the same run: **{sat.throughput / numbers['rasa'][0].throughput:.1f}×**."
        )
    if "scale_out_skipped" in numbers:
        lines.append(f"Two processes: not measured ({numbers['scale_out_skipped']}).")
    failed = [
        f"{result.name}: " + ", ".join(f"{kind} × {n}" for kind, n in sorted(result.error_kinds.items()))
        for results in (numbers.get("ours", ()), numbers.get("rasa", ()), numbers.get("two", ()))
        for result in results
        if result.error_kinds
    ]
    if failed:
        lines.append("What the failed requests were (warm-up included): " + "; ".join(failed) + ".")
    lines.append("")
    return lines
