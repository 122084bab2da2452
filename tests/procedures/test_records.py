"""Every real record in procedures/ validates and is complete enough to guide a citizen."""

from pathlib import Path

import pytest

from assistant.catalogue.schema import (
    PROCEDURE_KEYS,
    Procedure,
    load_directory,
    load_record_file,
)
from assistant.catalogue.service import Catalogue
from assistant.errors import RecordInvalid

PROCEDURES_DIR = Path(__file__).resolve().parents[2] / "procedures"


def _record(key: str) -> Procedure:
    path = PROCEDURES_DIR / f"{key}.yml"
    assert path.exists(), f"missing record procedures/{key}.yml"
    try:
        return load_record_file(path)
    except RecordInvalid as e:
        pytest.fail(str(e), pytrace=False)


def test_records_all_26_keys_present() -> None:
    present = {p.stem for p in PROCEDURES_DIR.glob("*.yml")}
    assert sorted(set(PROCEDURE_KEYS) - present) == [], "records missing"
    assert sorted(present - set(PROCEDURE_KEYS)) == [], "files that are not procedure keys"


@pytest.mark.parametrize("key", PROCEDURE_KEYS)
def test_records_record_validates(key: str) -> None:
    _record(key)


@pytest.mark.parametrize("key", PROCEDURE_KEYS)
def test_records_record_is_complete(key: str) -> None:
    record = _record(key)
    assert len(record.steps) >= 3
    assert record.documents
    assert record.fees
    assert record.processing_time.text
    assert record.result.text
    assert record.legal_basis
    assert any(s.url.startswith(("https://", "http://")) for s in record.sources)
    assert record.verified_on
    assert record.online in ("full", "partial")
    assert record.portal_url.startswith("https://")
    assert record.aliases, "citizens need aliases to find it"


def test_records_directory_validates_across_records() -> None:
    try:
        load_directory(PROCEDURES_DIR)
    except RecordInvalid as e:
        pytest.fail(str(e), pytrace=False)


def test_records_codes_unique() -> None:
    owners: dict[str, list[str]] = {}
    for path in sorted(PROCEDURES_DIR.glob("*.yml")):
        try:
            record = load_record_file(path)
        except RecordInvalid:
            continue  # reported by test_records_record_validates
        if record.code:
            owners.setdefault(record.code, []).append(record.key)
    assert {code: keys for code, keys in owners.items() if len(keys) > 1} == {}


@pytest.fixture(scope="module")
def real_catalogue() -> Catalogue:
    try:
        return Catalogue.from_directory(PROCEDURES_DIR)
    except RecordInvalid as e:
        pytest.fail(str(e), pytrace=False)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lam ho chieu", "ho-chieu"),
        ("làm hộ chiếu", "ho-chieu"),
        ("cccd", "the-can-cuoc"),
        ("căn cước", "the-can-cuoc"),
        ("can cuoc", "the-can-cuoc"),
        ("sang ten so do", "dang-ky-bien-dong-dat-dai"),
        ("sang tên sổ đỏ", "dang-ky-bien-dong-dat-dai"),
        ("1.001456", "ho-chieu"),
    ],
)
def test_records_search_ranks_expected_first(real_catalogue: Catalogue, query: str, expected: str) -> None:
    hits = real_catalogue.search(query)
    assert [h.key for h in hits[:1]] == [expected], [(h.key, h.score) for h in hits]
