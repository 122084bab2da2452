"""Tests of assistant/catalogue/search.py and the Catalogue service (fixture records)."""

import unicodedata
from datetime import date

import pytest

from assistant.catalogue.search import SearchIndex, search_words
from assistant.catalogue.service import Catalogue
from assistant.errors import ProcedureNotFound


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lam ho chieu", "ho-chieu"),
        ("làm hộ chiếu", "ho-chieu"),
        ("Làm Hộ Chiêú", "ho-chieu"),
        (unicodedata.normalize("NFD", "làm hộ chiếu"), "ho-chieu"),
        ("hc", "ho-chieu"),
        ("passport", "ho-chieu"),
        ("cccd", "the-can-cuoc"),
        ("CCCD", "the-can-cuoc"),
        ("căn cước", "the-can-cuoc"),
        ("can cuoc", "the-can-cuoc"),
        ("thẻ căn cước bị mất", "the-can-cuoc"),
        ("sang ten so do", "dang-ky-bien-dong-dat-dai"),
        ("sang tên sổ đỏ", "dang-ky-bien-dong-dat-dai"),
        ("dk bien dong dat", "dang-ky-bien-dong-dat-dai"),
        ("xac nhan so cmnd", "xac-nhan-so-cmnd"),
        ("vneid muc 2", "tai-khoan-vneid-muc-2"),
        ("1.001456", "ho-chieu"),
        ("1.001471", "ho-chieu"),
        ("mã 1.001456 là gì", "ho-chieu"),
        ("2.001194", "the-can-cuoc"),
        ("toi muon lam ho chieu cho con thi can giay to gi", "ho-chieu"),
    ],
)
def test_search_ranks_expected_first(fixture_catalogue: Catalogue, query: str, expected: str) -> None:
    hits = fixture_catalogue.search(query)
    assert hits, query
    assert hits[0].key == expected


@pytest.mark.parametrize("query", ["lam ho chieu", "cccd", "can cuoc", "sang ten so do", "1.001456"])
def test_search_top_hit_is_clear(fixture_catalogue: Catalogue, query: str) -> None:
    hits = fixture_catalogue.search(query)
    assert hits[0].score == 1.0
    assert all(h.score < hits[0].score for h in hits[1:])


def test_search_exact_code_ranks_first_with_score_one(fixture_catalogue: Catalogue) -> None:
    hits = fixture_catalogue.search("1.001456")
    assert [(h.key, h.code, h.score) for h in hits] == [("ho-chieu", "1.001456", 1.0)]


@pytest.mark.parametrize("query", ["", "   ", "thời tiết ngày mai", "???", "😀😀"])
def test_search_nothing_relevant_is_empty(fixture_catalogue: Catalogue, query: str) -> None:
    assert fixture_catalogue.search(query) == []


def test_search_scores_are_between_zero_and_one(fixture_catalogue: Catalogue) -> None:
    for query in ("lam", "dang ky", "the", "làm lại thẻ căn cước cho con", "x" * 500):
        hits = fixture_catalogue.search(query, limit=10)
        assert all(0 < h.score <= 1 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_generic_word_scores_low(fixture_catalogue: Catalogue) -> None:
    assert all(h.score < 0.5 for h in fixture_catalogue.search("lam", limit=10))


def test_search_limit(fixture_catalogue: Catalogue) -> None:
    assert len(fixture_catalogue.search("can cuoc", limit=1)) == 1
    assert fixture_catalogue.search("can cuoc", limit=0) == []


def test_search_words_expand_abbreviations() -> None:
    assert search_words("Làm CCCD ở đâu?") == ["lam", "can", "cuoc", "cong", "dan", "o", "dau"]


def test_search_index_empty() -> None:
    assert SearchIndex([]).search("ho chieu") == []


def test_catalogue_get_and_all(fixture_catalogue: Catalogue) -> None:
    assert fixture_catalogue.get("ho-chieu").code == "1.001456"
    assert fixture_catalogue.keys()[0] == "tai-khoan-vneid-muc-2"
    assert [p.key for p in fixture_catalogue.all()] == fixture_catalogue.keys()
    assert "ho-chieu" in fixture_catalogue
    assert len(fixture_catalogue) == 6


def test_catalogue_get_unknown_raises(fixture_catalogue: Catalogue) -> None:
    with pytest.raises(ProcedureNotFound):
        fixture_catalogue.get("khong-co")


def test_catalogue_checklist(fixture_catalogue: Catalogue) -> None:
    checklist = fixture_catalogue.checklist("ho-chieu", {"situation": "lost"}, today=date(2026, 7, 15))
    assert checklist.key == "ho-chieu"
    assert [d.name for d in checklist.needed] == [
        "Tờ khai đề nghị cấp hộ chiếu (mẫu TK01, TT 31/2023/TT-BCA)",
        "Đơn trình báo mất hộ chiếu",
    ]
    assert [(d.name, d.reason) for d in checklist.not_needed] == [
        ("Bản sao thẻ căn cước", "Dữ liệu đã có trong Cơ sở dữ liệu quốc gia về dân cư (Chỉ thị 24/CT-TTg).")
    ]
    assert [(f.fee.amount, f.expired) for f in checklist.fees] == [(200000, False)]
    assert checklist.processing_time.text == "Tối đa 8 ngày làm việc (cấp tỉnh)"
    assert checklist.steps_count == 4
    assert checklist.unanswered == []
    assert checklist.verified_on == date(2026, 7, 15)


def test_catalogue_checklist_without_answers_includes_all(fixture_catalogue: Catalogue) -> None:
    checklist = fixture_catalogue.checklist("ho-chieu", today=date(2027, 1, 1))
    assert checklist.unanswered == ["situation"]
    assert checklist.steps_count == 4
    assert len(checklist.needed) == 2
    assert all(f.expired for f in checklist.fees)


def test_catalogue_checklist_unknown_raises(fixture_catalogue: Catalogue) -> None:
    with pytest.raises(ProcedureNotFound):
        fixture_catalogue.checklist("khong-co")
