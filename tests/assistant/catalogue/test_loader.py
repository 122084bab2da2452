"""Tests of assistant/catalogue/loader.py: validate all, then upsert in one transaction."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from assistant.catalogue.loader import content_hash, load_procedures
from assistant.catalogue.service import Catalogue
from assistant.db.models import ProcedureRow
from assistant.db.session import session_scope
from assistant.errors import RecordInvalid

FIXTURE_KEYS = [
    "tai-khoan-vneid-muc-2",
    "the-can-cuoc",
    "xac-nhan-so-cmnd",
    "ho-chieu",
    "lien-thong-khai-sinh",
    "dang-ky-bien-dong-dat-dai",
]


def _rows(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with session_scope(engine) as session:
        rows = session.execute(select(ProcedureRow)).scalars().all()
        return {
            r.key: (r.code, r.name, r.level, r.online, r.data, r.content_hash, r.verified_on, r.updated_at)
            for r in rows
        }


def test_loader_first_load_inserts_all(migrated_engine: Engine, records_dir: Path) -> None:
    report = load_procedures(migrated_engine, records_dir)
    assert sorted(report.inserted) == sorted(FIXTURE_KEYS)
    assert report.updated == report.unchanged == report.removed == []
    assert report.summary() == "6 procedures: 6 inserted, 0 updated, 0 unchanged, 0 removed"
    rows = _rows(migrated_engine)
    code, name, level, online, data, digest, verified_on, _ = rows["ho-chieu"]
    assert (code, level, online) == ("1.001456", "province", "full")
    assert name == "Cấp hộ chiếu phổ thông ở trong nước"
    assert data["fees"][0]["valid_to"] == "2026-12-31"
    assert digest == content_hash(data)
    assert verified_on.isoformat() == "2026-07-15"


def test_loader_second_load_is_unchanged(migrated_engine: Engine, records_dir: Path) -> None:
    load_procedures(migrated_engine, records_dir)
    before = _rows(migrated_engine)
    report = load_procedures(migrated_engine, records_dir)
    assert sorted(report.unchanged) == sorted(FIXTURE_KEYS)
    assert report.inserted == report.updated == report.removed == []
    assert not report.changed
    assert _rows(migrated_engine) == before


def test_loader_bad_file_rejects_load_and_keeps_database(migrated_engine: Engine, records_copy: Path) -> None:
    load_procedures(migrated_engine, records_copy)
    before = _rows(migrated_engine)
    passport = records_copy / "ho-chieu.yml"
    passport.write_text(
        passport.read_text(encoding="utf-8").replace("amount: 100000", "amount: 150000"), encoding="utf-8"
    )
    broken = records_copy / "the-can-cuoc.yml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("verified_on: 2026-07-15", "verified_on: 2026-13-01"),
        encoding="utf-8",
    )
    with pytest.raises(RecordInvalid, match=r"procedures/the-can-cuoc.yml: verified_on: invalid date"):
        load_procedures(migrated_engine, records_copy)
    assert _rows(migrated_engine) == before


def test_loader_bad_file_on_empty_database_writes_nothing(migrated_engine: Engine, records_copy: Path) -> None:
    (records_copy / "ho-chieu.yml").write_text("key: ho-chieu\n", encoding="utf-8")
    with pytest.raises(RecordInvalid):
        load_procedures(migrated_engine, records_copy)
    assert _rows(migrated_engine) == {}


def test_loader_changed_file_updates(migrated_engine: Engine, records_copy: Path) -> None:
    load_procedures(migrated_engine, records_copy)
    before = _rows(migrated_engine)
    path = records_copy / "ho-chieu.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("Tối đa 8 ngày làm việc (cấp tỉnh)", "Tối đa 5 ngày làm việc (cấp trung ương)"), encoding="utf-8"
    )
    report = load_procedures(migrated_engine, records_copy)
    assert report.updated == ["ho-chieu"]
    assert sorted(report.unchanged) == sorted(k for k in FIXTURE_KEYS if k != "ho-chieu")
    after = _rows(migrated_engine)
    assert after["ho-chieu"][4]["processing_time"]["text"] == "Tối đa 5 ngày làm việc (cấp trung ương)"
    assert after["ho-chieu"][5] != before["ho-chieu"][5]
    assert {k: v for k, v in after.items() if k != "ho-chieu"} == {k: v for k, v in before.items() if k != "ho-chieu"}
    assert Catalogue.from_db(migrated_engine).get("ho-chieu").processing_time.text.startswith("Tối đa 5 ngày")


def test_loader_comment_only_change_is_unchanged(migrated_engine: Engine, records_copy: Path) -> None:
    load_procedures(migrated_engine, records_copy)
    path = records_copy / "ho-chieu.yml"
    path.write_text("# edited\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_procedures(migrated_engine, records_copy).updated == []


def test_loader_removed_file_is_pruned(migrated_engine: Engine, records_copy: Path) -> None:
    load_procedures(migrated_engine, records_copy)
    (records_copy / "xac-nhan-so-cmnd.yml").unlink()
    report = load_procedures(migrated_engine, records_copy)
    assert report.removed == ["xac-nhan-so-cmnd"]
    assert "xac-nhan-so-cmnd" not in _rows(migrated_engine)


def test_loader_keeps_rows_without_file_when_not_pruning(migrated_engine: Engine, records_copy: Path) -> None:
    load_procedures(migrated_engine, records_copy)
    (records_copy / "xac-nhan-so-cmnd.yml").unlink()
    report = load_procedures(migrated_engine, records_copy, prune=False)
    assert report.removed == []
    assert "xac-nhan-so-cmnd" in _rows(migrated_engine)


def test_loader_catalogue_from_db_matches_directory(migrated_engine: Engine, records_dir: Path) -> None:
    load_procedures(migrated_engine, records_dir)
    from_db = Catalogue.from_db(migrated_engine)
    from_dir = Catalogue.from_directory(records_dir)
    assert from_db.keys() == from_dir.keys() == FIXTURE_KEYS
    assert from_db.all() == from_dir.all()


def test_loader_catalogue_from_empty_db(migrated_engine: Engine) -> None:
    assert len(Catalogue.from_db(migrated_engine)) == 0


def test_loader_catalogue_from_db_revalidates(migrated_engine: Engine, records_dir: Path) -> None:
    load_procedures(migrated_engine, records_dir)
    with session_scope(migrated_engine) as session:
        row = session.get(ProcedureRow, "ho-chieu")
        row.data = {**row.data, "level": "district"}
    with pytest.raises(RecordInvalid, match=r"procedures/ho-chieu: level: value is not a valid enumeration member"):
        Catalogue.from_db(migrated_engine)
