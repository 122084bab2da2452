"""Safe processes (assistant/processes.py, ``assistant serve``): a second process never shares SQLite or runs without Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from assistant.db.session import make_engine
from assistant.processes import SingleProcessGuard, UnsafeProcesses, scale_out_problems
from assistant.settings import Settings
from tests.postgres import POSTGRES_URL, unavailable

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = POSTGRES_URL


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")} | env
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout
    )


def second_process_guard(database_url: str) -> subprocess.CompletedProcess[str]:
    """Another Python process taking the guard on the same database, as an app's lifespan does."""
    code = (
        "from assistant.db.session import make_engine; from assistant.processes import SingleProcessGuard;"
        "from assistant.settings import Settings; import sys;"
        f"s = Settings(database_url={database_url!r}); SingleProcessGuard(s, make_engine(s.database_url)).acquire();"
        "print('started')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_processes_workers_on_sqlite_without_redis_refused_with_reason(tmp_path: Path) -> None:
    result = run_cli("serve", "--workers", "2", "--port", "0", env={"ASSISTANT_DATABASE_URL": f"sqlite:///{tmp_path}/a.db"})
    assert result.returncode == 2
    assert "refusing --workers 2" in result.stderr
    assert "SQLite" in result.stderr and "ASSISTANT_REDIS_URL" in result.stderr and "ASSISTANT_SESSION_SECRET" in result.stderr


def test_processes_scale_out_settings_are_accepted() -> None:
    settings = Settings(database_url=POSTGRES, redis_url="redis://127.0.0.1:6379/3", session_secret="s" * 32)
    assert scale_out_problems(settings, workers=4) == []
    assert scale_out_problems(Settings(), workers=1) == []


def test_processes_second_process_on_one_sqlite_file_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    guard = SingleProcessGuard(Settings(database_url=url), make_engine(url))
    guard.acquire()
    try:
        second = second_process_guard(url)
        assert second.returncode != 0 and "started" not in second.stdout
        assert "another process already serves the SQLite database" in second.stderr
    finally:
        guard.release()
    assert second_process_guard(url).stdout.strip() == "started"  # free again once the first one stops


def test_processes_second_app_process_on_sqlite_stops_at_startup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    guard = SingleProcessGuard(Settings(database_url=url), make_engine(url))
    guard.acquire()
    try:
        result = run_cli("serve", "--port", "0", env={"ASSISTANT_DATABASE_URL": url})
    finally:
        guard.release()
    assert result.returncode != 0
    assert "another process already serves the SQLite database" in result.stdout + result.stderr


def test_processes_redis_without_session_secret_refused(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/a.db", redis_url="redis://127.0.0.1:6379/3")
    with pytest.raises(UnsafeProcesses, match="ASSISTANT_SESSION_SECRET"):
        SingleProcessGuard(settings, make_engine(settings.database_url)).acquire()


def test_processes_second_process_on_postgresql_without_redis_refused() -> None:
    try:
        with create_engine(POSTGRES).connect() as connection:
            connection.execute(text("select 1"))
    except Exception as e:  # noqa: BLE001
        unavailable(f"PostgreSQL not reachable at {POSTGRES}: {e}")
    engine = make_engine(POSTGRES)
    guard = SingleProcessGuard(Settings(database_url=POSTGRES), engine)
    guard.acquire()
    try:
        second = second_process_guard(POSTGRES)
        assert second.returncode != 0 and "without Redis" in second.stderr
    finally:
        guard.release()
        engine.dispose()
