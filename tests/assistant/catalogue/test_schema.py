"""Tests of assistant/catalogue/schema.py: the record schema and its error messages."""

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant.catalogue.answers import applies
from assistant.catalogue.checks import check_dates
from assistant.catalogue.fields import PROCEDURE_KEYS
from assistant.catalogue.record_files import load_directory, load_record_file, parse_record
from assistant.catalogue.schema import Procedure
from assistant.errors import RecordInvalid

Mutation = Callable[[dict[str, Any]], None]


def _read(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _set(path: str, value: Any) -> Mutation:
    """Return a mutation setting ``a.0.b`` (dotted path, list indexes as numbers) to ``value``."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[int(last) if last.isdigit() else last]

    return mutate


def test_schema_procedure_keys_are_the_26_in_scope() -> None:
    assert len(PROCEDURE_KEYS) == 26
    assert len(set(PROCEDURE_KEYS)) == 26
    assert PROCEDURE_KEYS[0] == "tai-khoan-vneid-muc-2"
    assert PROCEDURE_KEYS[-1] == "thay-doi-chu-the-hop-dong-dien"


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].joinpath("data", "records").glob("*.yml")), ids=str)
def test_schema_fixture_record_passes(path: Path) -> None:
    record = load_record_file(path)
    assert record.key == path.stem


def test_schema_good_record_fields(records_dir: Path) -> None:
    record = load_record_file(records_dir / "ho-chieu.yml")
    assert record.code == "1.001456"
    assert record.codes == ["1.001456", "1.001471"]
    assert record.fees[0].valid_to == date(2026, 12, 31)
    assert record.level.value == "province"
    assert record.online.value == "full"
    assert record.documents[1].not_needed is True


def test_schema_json_round_trip(records_dir: Path) -> None:
    record = load_record_file(records_dir / "ho-chieu.yml")
    data = record.to_json_dict()
    assert data["verified_on"] == "2026-07-15"
    assert data["level"] == "province"
    assert parse_record(data) == record


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (_delete("agency"), "agency: field required"),
        (_delete("processing_time"), "processing_time: field required"),
        (_delete("fees.0.amount"), "fees.0.amount: field required"),
        (_set("fees.0.valid_to", "2026-02-30"), "fees.0.valid_to: invalid date"),
        (_set("fees.0.valid_to", "31/12/2026"), "fees.0.valid_to: invalid date"),
        (_set("verified_on", 20260715), "verified_on: invalid date"),
        (_set("fees.0.valid_to", date(2025, 1, 1)), "fees.0.valid_to: before valid_from"),
        (_set("portal_url", "dichvucong.gov.vn/p/home"), "portal_url: invalid URL"),
        (_set("sources.0.url", "ftp://congan.phutho.gov.vn/TTHC.aspx"), "sources.0.url: invalid URL"),
        (_set("sources.0.url", "http://congan.phutho.gov.vn/TTHC.aspx"), "sources.0.url: invalid URL: must start with https://"),
        (_set("portal_url", "http://dichvucong.gov.vn"), "portal_url: invalid URL: must start with https://"),
        (_set("code", None), "caveats: a record without code needs a caveat with about: [code]"),
        (_set("steps.0.text", "Nộp lệ phí 100.000 đồng trên Cổng."), "steps.0.text: no fee figures in step texts"),
        (_set("caveats", [{"text": "x" * 221, "about": ["fee"]}]), "caveats.0.about: a caveat shown in chat is at most 220 characters"),
        (_set("caveats", [{"text": "Mã chưa rõ.", "about": ["price"]}]), "caveats.0.about.0: value is not a valid enumeration member"),
        (_set("replaced_acts", [{"act": "TT 25/2021/TT-BTC"}]), "replaced_acts.0.by: field required"),
        (_set("sources.0.url", "https://"), "sources.0.url: invalid URL"),
        (_set("sources.0.url", "https://cong an.gov.vn"), "sources.0.url: invalid URL"),
        (_set("steps.1.when", {"situation": ["stolen"]}), "steps.1.when.situation: unknown option id 'stolen'"),
        (_set("documents.2.when", {"reason": ["lost"]}), "documents.2.when.reason: unknown question id 'reason'"),
        (_set("fees.1.when", {"situation": ["lost", "gone"]}), "fees.1.when.situation: unknown option id 'gone'"),
        (_set("prerequisites", ["khong-co-thu-tuc-nay"]), "prerequisites.0: unknown procedure key"),
        (
            _set("prerequisites", ["tai-khoan-vneid-muc-2", "ho-chieu"]),
            "prerequisites.1: a procedure cannot be its own prerequisite",
        ),
        (_delete("documents.1.reason"), "documents.1.reason: required when not_needed is true"),
        (_set("code", 1.001456), "code: str type expected"),
        (_set("code", "1.00145"), "code: string does not match regex"),
        (_set("other_codes.0.code", "1001471"), "other_codes.0.code: string does not match regex"),
        (_delete("code_as_of"), "code_as_of: required when code is set"),
        (_set("key", "the-can-cuoc"), "key: 'the-can-cuoc' does not match the file name"),
        (_set("key", "passport"), "key: 'passport' is not one of the 26 procedure keys"),
        (_set("steps", []), "steps: ensure this value has at least 3 items"),
        (_set("documents", []), "documents: ensure this value has at least 1 items"),
        (_set("fees", []), "fees: ensure this value has at least 1 items"),
        (_set("legal_basis", []), "legal_basis: ensure this value has at least 1 items"),
        (_set("sources", []), "sources: ensure this value has at least 1 items"),
        (_set("questions.0.id", "Situation"), "questions.0.id: string does not match regex"),
        (_set("questions.0.options.1.id", "first"), "questions.0.options: duplicate option id 'first'"),
        (_set("level", "district"), "level: value is not a valid enumeration member"),
        (_set("online", "toan trinh"), "online: value is not a valid enumeration member"),
        (_set("fees.0.channel", "cash"), "fees.0.channel: value is not a valid enumeration member"),
        (_set("steps.0.confidence", "maybe"), "steps.0.confidence: value is not a valid enumeration member"),
        (_set("fees.0.amount", -1), "fees.0.amount: ensure this value is greater than or equal to 0"),
        (_set("fees.0.amount", "100.000"), "fees.0.amount: value is not a valid integer"),
        (_delete("fees.0.legal_basis"), "fees.0.legal_basis: required when amount is above 0"),
        (
            _set("short_name", "Cấp hộ chiếu phổ thông ở trong nước cho công dân"),
            "short_name: ensure this value has at most 30 characters",
        ),
        (_set("agencyy", "Công an"), "agencyy: unknown field"),
        (_set("requires_vneid", "yes"), "requires_vneid: value is not a valid boolean"),
    ],
)
def test_schema_bad_record_names_file_and_field(records_copy: Path, mutation: Mutation, expected: str) -> None:
    path = records_copy / "ho-chieu.yml"
    data = _read(path)
    mutation(data)
    _write(path, data)
    with pytest.raises(RecordInvalid) as info:
        load_record_file(path)
    assert f"procedures/ho-chieu.yml: {expected}" in str(info.value)


def test_schema_flow_mapping_comma_is_reported(records_copy: Path) -> None:
    # An unquoted comma in a {flow: mapping} splits the value: "Bị mất, hỏng" becomes a key "hỏng".
    path = records_copy / "ho-chieu.yml"
    text = path.read_text(encoding="utf-8").replace('label: "Bị mất, hỏng"', "label: Bị mất, hỏng")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecordInvalid, match=r"procedures/ho-chieu.yml: questions.0.options.1.hỏng: unknown field"):
        load_record_file(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key: ho-chieu\nkey: ho-chieu\n", "invalid YAML: .*duplicate key 'key'"),
        ("key: [ho-chieu\n", "invalid YAML"),
        ("- ho-chieu\n", "the record must be a YAML mapping"),
        ("", "the record must be a YAML mapping"),
    ],
)
def test_schema_unreadable_file_names_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "procedures" / "ho-chieu.yml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecordInvalid, match=f"procedures/ho-chieu.yml: {expected}"):
        load_record_file(path)


def test_schema_directory_collects_errors_of_all_files(records_copy: Path) -> None:
    for name, field in (("ho-chieu.yml", "agency"), ("the-can-cuoc.yml", "result")):
        data = _read(records_copy / name)
        del data[field]
        _write(records_copy / name, data)
    with pytest.raises(RecordInvalid) as info:
        load_directory(records_copy)
    message = str(info.value)
    assert "procedures/ho-chieu.yml: agency: field required" in message
    assert "procedures/the-can-cuoc.yml: result: field required" in message


def test_schema_directory_unknown_prerequisite(records_copy: Path) -> None:
    (records_copy / "tai-khoan-vneid-muc-2.yml").unlink()
    with pytest.raises(RecordInvalid) as info:
        load_directory(records_copy)
    assert "procedures/ho-chieu.yml: prerequisites.0: no record for 'tai-khoan-vneid-muc-2'" in str(info.value)


def test_schema_directory_duplicate_code(records_copy: Path) -> None:
    path = records_copy / "the-can-cuoc.yml"
    data = _read(path)
    data["code"] = "1.001456"
    data["code_as_of"] = date(2026, 7, 15)
    _write(path, data)
    with pytest.raises(RecordInvalid) as info:
        load_directory(records_copy)
    assert "procedures/the-can-cuoc.yml: code: '1.001456' is already the code of ho-chieu" in str(info.value)


def test_schema_directory_refuses_yaml_extension(records_copy: Path) -> None:
    (records_copy / "ho-chieu.yml").rename(records_copy / "ho-chieu.yaml")
    with pytest.raises(RecordInvalid, match=r"procedures/ho-chieu.yaml: record files end in .yml"):
        load_directory(records_copy)


def test_schema_directory_in_scope_order(records_dir: Path) -> None:
    keys = [r.key for r in load_directory(records_dir)]
    assert keys == sorted(keys, key=PROCEDURE_KEYS.index)


@pytest.mark.parametrize(
    ("when", "answers", "expected"),
    [
        (None, {}, True),
        ({}, {"situation": "lost"}, True),
        ({"situation": ["lost"]}, {"situation": "lost"}, True),
        ({"situation": ["lost"]}, {"situation": "first"}, False),
        ({"situation": ["lost", "expired"]}, {"situation": "expired"}, True),
        ({"situation": ["lost"]}, {}, True),
        ({"situation": ["lost"]}, {"situation": ["first", "lost"]}, True),
        ({"situation": ["lost"], "age": ["child"]}, {"situation": "lost", "age": "adult"}, False),
    ],
)
def test_schema_applies(when: dict[str, list[str]] | None, answers: dict[str, Any], expected: bool) -> None:
    assert applies(when, answers) is expected


@pytest.fixture
def passport(records_dir: Path) -> Procedure:
    return load_record_file(records_dir / "ho-chieu.yml")


def test_schema_steps_for_answers(passport: Procedure) -> None:
    assert [s.title for s in passport.steps_for({"situation": "first"})] == [
        "Đăng nhập",
        "Khai tờ khai",
        "Nộp lệ phí và theo dõi",
    ]
    assert "Khai báo mất hộ chiếu" in [s.title for s in passport.steps_for({"situation": "lost"})]
    assert len(passport.steps_for({})) == len(passport.steps)


def test_schema_documents_for_answers(passport: Procedure) -> None:
    first = passport.documents_for({"situation": "first"})
    assert [d.name for d in first.needed] == ["Tờ khai đề nghị cấp hộ chiếu (mẫu TK01, TT 31/2023/TT-BCA)"]
    assert [d.name for d in first.not_needed] == ["Bản sao thẻ căn cước"]
    assert first.not_needed[0].reason
    lost = passport.documents_for({"situation": "lost"})
    assert "Đơn trình báo mất hộ chiếu" in [d.name for d in lost.needed]


def test_schema_fees_for_marks_expired(passport: Procedure) -> None:
    current = passport.fees_for({"situation": "first"}, today=date(2026, 7, 15))
    assert [(f.fee.amount, f.expired, f.upcoming) for f in current] == [(100000, False, False)]
    later = passport.fees_for({"situation": "first"}, today=date(2027, 1, 1))
    assert [(f.fee.amount, f.expired) for f in later] == [(100000, True)]
    earlier = passport.fees_for({"situation": "lost"}, today=date(2025, 6, 30))
    assert [(f.fee.amount, f.upcoming) for f in earlier] == [(200000, True)]
    assert len(passport.fees_for({}, today=date(2026, 7, 15))) == 2


# --- dates: successors, replaced acts, old sources (issue #12) ----------------------------------------


def _passport_with(records_copy: Path, **changes: Any) -> Procedure:
    path = records_copy / "ho-chieu.yml"
    data = _read(path)
    for dotted, value in changes.items():
        _set(dotted.replace("__", "."), value)(data)
    return parse_record(data, source="procedures/ho-chieu.yml")


_BASE_2027 = {
    "label": "Cấp hộ chiếu (mức thu sau khi hết mức giảm)",
    "amount": None,
    "channel": "any",
    "legal_basis": "TT 28/2026/TT-BTC",
    "valid_from": "2027-01-01",
    "confidence": "unconfirmed",
}


def test_schema_caveat_plain_string_or_tagged(records_copy: Path) -> None:
    record = _passport_with(records_copy, caveats=["Chỉ cho nhân viên.", {"text": "Mức 2027 chưa rõ.", "about": ["fee"], "valid_to": "2027-02-28"}])
    assert [(c.text, [t.value for t in c.about], c.valid_to) for c in record.caveats] == [
        ("Chỉ cho nhân viên.", [], None),
        ("Mức 2027 chưa rõ.", ["fee"], date(2027, 2, 28)),
    ]


@pytest.mark.parametrize("today", [date(2027, 1, 1)], indirect=True)
def test_schema_check_dates_fee_ended_without_successor(records_copy: Path, today: date) -> None:
    record = _passport_with(records_copy)
    errors = [p.message for p in check_dates(record, today=today) if p.level == "error"]
    assert errors == [
        "procedures/ho-chieu.yml: fees.0: 'Cấp hộ chiếu lần đầu' ended on 2026-12-31 and no fee takes over "
        "(add the fee that applies from the day after, amount null if not confirmed)",
        "procedures/ho-chieu.yml: fees.1: 'Cấp lại hộ chiếu bị mất, hỏng' ended on 2026-12-31 and no fee takes over "
        "(add the fee that applies from the day after, amount null if not confirmed)",
    ]


@pytest.mark.parametrize("today", [date(2026, 12, 31), date(2027, 1, 1)], indirect=True)
def test_schema_check_dates_successor_takes_over(records_copy: Path, today: date) -> None:
    # One successor for all situations (no `when`), its amount not yet confirmed: valid on both sides.
    data = _read(records_copy / "ho-chieu.yml")
    data["fees"].append(dict(_BASE_2027))
    record = parse_record(data)
    assert [p for p in check_dates(record, today=today) if p.level == "error"] == []
    assert all(record.has_successor(f) for f in record.fees[:2])
    shown = [(a.fee.label, a.superseded) for a in record.fees_for({"situation": "lost"}, today=today)]
    assert shown[0][1] is (today > date(2026, 12, 31))


def test_schema_successor_must_cover_every_situation_and_channel(records_copy: Path) -> None:
    data = _read(records_copy / "ho-chieu.yml")
    data["fees"].append({**_BASE_2027, "when": {"situation": ["first"]}, "channel": "online"})
    record = parse_record(data)
    first = record.fees[0]  # situations first + expired, any channel
    assert not record.has_successor(first)  # 'expired' and in-person filing are left uncovered
    data["fees"].append({**_BASE_2027, "when": {"situation": ["expired", "lost"]}})
    data["fees"].append({**_BASE_2027, "when": {"situation": ["first"]}, "channel": "in_person"})
    record = parse_record(data)
    assert record.has_successor(record.fees[0]) and record.has_successor(record.fees[1])


@pytest.mark.parametrize(
    ("since", "failing"),
    [(None, True), ("2026-04-01", True), ("2027-06-01", False)],
)
def test_schema_check_dates_replaced_legal_basis(records_copy: Path, today: date, since: str | None, failing: bool) -> None:
    data = _read(records_copy / "ho-chieu.yml")
    data["legal_basis"] = ["TT 25/2021/TT-BTC (lệ phí)", "TT 28/2026/TT-BTC (thay thế TT 25/2021/TT-BTC)"]
    data["fees"].append({**_BASE_2027, "amount": 200000, "legal_basis": "TT 25/2021/TT-BTC", "valid_from": None})
    data["replaced_acts"] = [{"act": "TT 25/2021/TT-BTC", "by": "TT 28/2026/TT-BTC", "since": since}]
    errors = [p.message for p in check_dates(parse_record(data), today=today) if p.level == "error"]
    expected = [
        "procedures/ho-chieu.yml: fees.2.legal_basis: TT 25/2021/TT-BTC is replaced by TT 28/2026/TT-BTC (replaced_acts); "
        "end the fee (valid_to) or cite the new act",
        "procedures/ho-chieu.yml: legal_basis.0: TT 25/2021/TT-BTC is replaced by TT 28/2026/TT-BTC (replaced_acts); cite the new act",
    ]
    assert errors == (expected if failing else [])


def test_schema_check_dates_replaced_act_in_an_ended_fee_is_history(records_copy: Path, today: date) -> None:
    data = _read(records_copy / "ho-chieu.yml")
    data["replaced_acts"] = [{"act": "TT 64/2025/TT-BTC", "by": "TT 28/2026/TT-BTC"}]
    assert any("fees.0.legal_basis" in p.message for p in check_dates(parse_record(data), today=today))
    later = date(2027, 1, 2)
    data["fees"].append(dict(_BASE_2027))
    assert not any("legal_basis" in p.message for p in check_dates(parse_record(data), today=later))


@pytest.mark.parametrize(
    ("accessed", "warned"),
    [("2026-06-06", True), ("2026-06-07", False), ("2026-12-06", False)],
)
def test_schema_check_dates_warns_on_old_sources(records_copy: Path, today: date, accessed: str, warned: bool) -> None:
    data = _read(records_copy / "ho-chieu.yml")
    data["verified_on"] = "2025-10-01"
    data["sources"][0]["accessed"] = accessed
    warnings = [p.message for p in check_dates(parse_record(data), today=today) if p.level == "warning"]
    stale = [w for w in warnings if "sources:" in w]
    assert bool(stale) is warned
    if warned:
        assert stale == [
            "procedures/ho-chieu.yml: sources: newest source checked on 2026-06-06, more than 6 months ago; "
            "re-check the facts against the official pages"
        ]
