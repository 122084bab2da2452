"""Tests of assistant/api/routes/procedures.py, on the real app (``create_app``) with the fixture catalogue."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.deps import get_catalogue
from assistant.catalogue.service import Catalogue
from assistant.main import create_app
from assistant.settings import Settings


@pytest.fixture
def procedures_client(fixture_catalogue: Catalogue, tmp_path: Path) -> TestClient:
    """The app as ``create_app`` builds it (its lifespan not run), the catalogue swapped for the fixture records."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/t.db"), load_model=False)
    app.dependency_overrides[get_catalogue] = lambda: fixture_catalogue
    return TestClient(app)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lam ho chieu", "ho-chieu"),
        ("làm hộ chiếu", "ho-chieu"),
        ("cccd", "the-can-cuoc"),
        ("căn cước", "the-can-cuoc"),
        ("can cuoc", "the-can-cuoc"),
        ("sang ten so do", "dang-ky-bien-dong-dat-dai"),
        ("1.001456", "ho-chieu"),
    ],
)
def test_procedures_search_ranks(procedures_client: TestClient, query: str, expected: str) -> None:
    response = procedures_client.get("/api/procedures", params={"q": query})
    assert response.status_code == 200
    body = response.json()
    assert body[0]["key"] == expected
    assert set(body[0]) == {"key", "code", "name", "score"}
    assert 0 < body[0]["score"] <= 1


def test_procedures_search_limit(procedures_client: TestClient) -> None:
    body = procedures_client.get("/api/procedures", params={"q": "can cuoc", "limit": 1}).json()
    assert len(body) == 1


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}])
def test_procedures_without_query_lists_all_in_order(procedures_client: TestClient, params: dict[str, str]) -> None:
    response = procedures_client.get("/api/procedures", params=params)
    assert response.status_code == 200
    body = response.json()
    assert [p["key"] for p in body] == [
        "tai-khoan-vneid-muc-2",
        "the-can-cuoc",
        "xac-nhan-so-cmnd",
        "ho-chieu",
        "lien-thong-khai-sinh",
        "dang-ky-bien-dong-dat-dai",
    ]
    assert all(p["score"] is None for p in body)
    assert body[1]["code"] is None


def test_procedures_no_match_is_empty_list(procedures_client: TestClient) -> None:
    response = procedures_client.get("/api/procedures", params={"q": "thời tiết ngày mai"})
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 201},
        {"q": "ho chieu", "limit": 0},
        {"q": "ho chieu", "limit": 51},
        {"q": "ho chieu", "limit": "abc"},
    ],
)
def test_procedures_bad_parameters_are_422(procedures_client: TestClient, params: dict[str, object]) -> None:
    assert procedures_client.get("/api/procedures", params=params).status_code == 422


def test_procedures_query_of_200_chars_is_accepted(procedures_client: TestClient) -> None:
    assert procedures_client.get("/api/procedures", params={"q": "ho chieu " + "x" * 191}).status_code == 200


def test_procedures_get_whole_record(procedures_client: TestClient, fixture_catalogue: Catalogue) -> None:
    response = procedures_client.get("/api/procedures/ho-chieu")
    assert response.status_code == 200
    body = response.json()
    assert body == fixture_catalogue.get("ho-chieu").to_json_dict()
    assert body["key"] == "ho-chieu"
    assert body["code"] == "1.001456"
    assert body["verified_on"] == "2026-07-15"
    assert body["fees"][0]["valid_to"] == "2026-12-31"
    assert body["level"] == "province"
    assert body["documents"][1]["not_needed"] is True


@pytest.mark.parametrize("key", ["khong-co", "HO-CHIEU", "1.001456"])
def test_procedures_unknown_key_is_404(procedures_client: TestClient, key: str) -> None:
    response = procedures_client.get(f"/api/procedures/{key}")
    assert response.status_code == 404
    assert isinstance(response.json()["detail"], str)
