"""Every real record in procedures/ validates and is complete enough to guide a citizen."""

from datetime import date
from pathlib import Path

import pytest

from assistant.catalogue.checks import check_dates
from assistant.catalogue.fields import PROCEDURE_KEYS
from assistant.catalogue.record_files import load_directory, load_record_file
from assistant.catalogue.schema import Procedure
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


# --- issue #12: records stay true on the day a citizen reads them -------------------------------------

from tests.conftest import SWITCH_DAYS  # noqa: E402


@pytest.mark.parametrize("today", [date(2026, 12, 7), *SWITCH_DAYS], indirect=True)
def test_records_no_fee_ends_without_successor_and_no_replaced_basis(today: date) -> None:
    errors = [
        p.message
        for path in sorted(PROCEDURES_DIR.glob("*.yml"))
        for p in check_dates(load_record_file(path), today=today)
        if p.level == "error"
    ]
    assert errors == []


@pytest.mark.parametrize("key", PROCEDURE_KEYS)
def test_records_links_are_https_and_codes_explained(key: str) -> None:
    record = _record(key)
    assert record.portal_url.startswith("https://")
    assert all(s.url.startswith("https://") for s in record.sources)
    if record.code is None:
        assert any(t.value == "code" for c in record.caveats for t in c.about)


def test_issue_12_tt117_waiver_in_every_record_it_covers() -> None:
    # TT 117/2026/TT-BTC Điều 1: residence (k3), căn cước (k4), LLTP (k5), GPLX (k6), vehicles (k7), passports (k8).
    covered = ["dang-ky-thuong-tru", "dang-ky-tam-tru", "the-can-cuoc", "ly-lich-tu-phap", "doi-gplx", "dang-ky-xe", "ho-chieu"]
    for key in covered:
        waivers = [f for f in _record(key).fees if f.legal_basis and "TT 117/2026/TT-BTC" in f.legal_basis]
        assert waivers, key
        assert all(f.amount == 0 and f.valid_from == date(2026, 8, 15) and f.valid_to == date(2027, 2, 28) for f in waivers), key
        assert all(f.confidence.value == "unconfirmed" for f in waivers), f"{key}: NQ 66.22 conditions are unverified"
