"""assistant/text/normalize.py: canonical Vietnamese, folding, abbreviations, exact offsets."""

import unicodedata

import pytest

from assistant.text.normalize import (
    expand_abbreviations,
    fold,
    normalize_text,
    normalize_with_offsets,
    strip_diacritics,
)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Đăng ký khai sinh", "Đăng ký khai sinh"),
        (nfd("Đăng ký khai sinh"), "Đăng ký khai sinh"),
        ("hoà giải", "hòa giải"),
        ("thuỷ", "thủy"),
        ("Uỷ ban nhân dân", "Ủy ban nhân dân"),
        ("HOÀ", "HÒA"),
        ("hộ chiêú", "hộ chiếu"),
        (nfd("hộ chiêú"), "hộ chiếu"),
        ("làm   hộ chiếu ", "làm hộ chiếu"),
        ("\tcăn\n cước\u00a0", "căn cước"),
        ("quý, giường, người, tuổi, khuỷu, gìn giữ, của, quả", "quý, giường, người, tuổi, khuỷu, gìn giữ, của, quả"),
        ("passport OK 123", "passport OK 123"),
        ("😀 xin chào 😀", "😀 xin chào 😀"),
        ("", ""),
    ],
)
def test_normalize_text_canonical_form(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Đăng ký THƯỜNG TRÚ", "dang ky thuong tru"),
        ("Hộ  Chiêú", "ho chieu"),
        (nfd("Căn cước"), "can cuoc"),
        ("ho chieu", "ho chieu"),
    ],
)
def test_fold_meets_accented_and_unaccented(raw: str, expected: str) -> None:
    assert fold(raw) == expected


def test_strip_diacritics_maps_d_with_stroke() -> None:
    assert strip_diacritics("Đà Nẵng đẹp") == "Da Nang dep"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("dk tam tru can j z ad", "dang ky tam tru can gi vay ad"),
        ("lam online dk ko", "lam online duoc khong"),
        ("muốn đk kết hôn", "muon dang ky ket hon"),
        ("lam cccd mat bn tien", "lam can cuoc cong dan mat bao nhieu tien"),
        ("bn oi cho hoi", "ban oi cho hoi"),
        ("le phi 50k", "le phi 50 nghin"),
        ("ko biet ntn", "khong biet nhu the nao"),
        ("đổi GPLX", "doi giay phep lai xe"),
        ("gia han bhyt", "gia han bao hiem y te"),
        ("xin lltp", "xin ly lich tu phap"),
        ("k dc a", "khong duoc a"),
    ],
)
def test_expand_abbreviations_in_context(raw: str, expected: str) -> None:
    assert expand_abbreviations(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "  Làm  hộ chiêú ",
        nfd("Đăng ký   khai sinh"),
        "hoà   giải 😀 ",
        "x" * 5000 + "  hộ chiếu",
    ],
)
def test_normalize_with_offsets_maps_back_exactly(raw: str) -> None:
    normalized = normalize_with_offsets(raw)
    assert len(normalized.starts) == len(normalized.text) == len(normalized.ends)
    for i, ch in enumerate(normalized.text):
        original = raw[normalized.starts[i] : normalized.ends[i]]
        if ch == " ":
            assert original.isspace()
        else:
            assert fold(original) == fold(ch)
