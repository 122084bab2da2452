"""Tests of assistant/catalogue/commands.py (the `assistant procedures validate|load` commands)."""

from datetime import date
from pathlib import Path

import pytest

from assistant.catalogue.commands import load, validate
from assistant.catalogue.service import Catalogue
from assistant.db.session import make_engine


def test_commands_validate_ok(records_dir: Path, today: date, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(records_dir, today=today) == 0
    captured = capsys.readouterr()
    assert captured.out == "6 records OK on 2026-12-07 (2 warning(s))\n"
    assert "warning: records/ho-chieu.yml: fees.0: 'Cấp hộ chiếu lần đầu' ends on 2026-12-31 and no fee takes over" in captured.err


@pytest.mark.parametrize("today", [date(2027, 1, 1)], indirect=True)
def test_commands_validate_fails_on_fee_ended_without_successor(
    records_dir: Path, today: date, capsys: pytest.CaptureFixture[str]
) -> None:
    assert validate(records_dir, today=today) == 1
    err = capsys.readouterr().err
    assert "records/ho-chieu.yml: fees.0: 'Cấp hộ chiếu lần đầu' ended on 2026-12-31 and no fee takes over" in err
    assert "2 problem(s)" in err


def test_commands_validate_fails_on_http_url(records_copy: Path, today: date, capsys: pytest.CaptureFixture[str]) -> None:
    path = records_copy / "xac-nhan-so-cmnd.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("url: https://", "url: http://", 1), encoding="utf-8")
    assert validate(records_copy, today=today) == 1
    assert "procedures/xac-nhan-so-cmnd.yml: portal_url: invalid URL: must start with https://" in capsys.readouterr().err


def test_commands_validate_reports_errors(records_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = records_copy / "ho-chieu.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("level: province", "level: district"), encoding="utf-8")
    assert validate(records_copy, today=date(2026, 12, 7)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "procedures/ho-chieu.yml: level: value is not a valid enumeration member" in captured.err


def test_commands_validate_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(tmp_path / "nowhere", today=date(2026, 12, 7)) == 1
    assert "not a folder" in capsys.readouterr().err


def test_commands_load_migrates_and_loads(
    tmp_path: Path, records_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'assistant.db'}"
    assert load(url, records_dir) == 0
    assert capsys.readouterr().out == "6 procedures: 6 inserted, 0 updated, 0 unchanged, 0 removed\n"
    assert load(url, records_dir) == 0
    assert capsys.readouterr().out == "6 procedures: 0 inserted, 0 updated, 6 unchanged, 0 removed\n"
    engine = make_engine(url)
    assert len(Catalogue.from_db(engine)) == 6
    engine.dispose()


def test_commands_load_invalid_records(tmp_path: Path, records_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (records_copy / "ho-chieu.yml").write_text("key: ho-chieu\n", encoding="utf-8")
    assert load(f"sqlite:///{tmp_path / 'a.db'}", records_copy) == 1
    assert "procedures/ho-chieu.yml: name: field required" in capsys.readouterr().err
