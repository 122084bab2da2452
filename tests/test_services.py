"""Tests that can fail: under CI=true a PostgreSQL, Redis or browser test that cannot run is a failure, not a skip."""

import pytest

from tests.postgres import unavailable


def test_a_missing_service_skips_on_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Redis not reachable"):
        unavailable("Redis not reachable")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_a_missing_service_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        unavailable("PostgreSQL not reachable")
