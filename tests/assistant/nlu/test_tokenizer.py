"""assistant/nlu/tokenizer.py: underthesea words with exact offsets and folded lemmas."""

import unicodedata

import pytest
from rasa.shared.nlu.training_data.message import Message

from assistant.nlu.tokenizer import VietnameseTokenizer, vietnamese_tokens

CASES = [
    "Làm hộ chiếu hết bao nhiêu tiền vậy ad?",
    unicodedata.normalize("NFD", "Đăng ký khai sinh cho con"),
    "hoà giải ở đâu",
    "làm   hộ chiêú  ",
    "mat cccd roi lam lai the nao ad",
    "dk tam tru can j z",
    "😀😀",
    "???",
    "Tôi tên Nguyễn Văn A, sđt 0912345678!!!",
    "x" * 3000,
    ("làm căn cước " * 200).strip(),
]


@pytest.mark.parametrize("text", CASES)
def test_tokenizer_offsets_are_exact(text: str) -> None:
    tokens = vietnamese_tokens(text)
    assert tokens, "a non-empty message always has at least one token"
    for token in tokens:
        assert text[token.start : token.end] == token.text
    assert [t.start for t in tokens] == sorted(t.start for t in tokens)


@pytest.mark.parametrize(
    ("text", "lemmas"),
    [
        ("Làm hộ chiêú hết bn tiền?", ["lam", "ho_chieu", "het", "bao_nhieu", "tien"]),
        (unicodedata.normalize("NFD", "Hộ chiếu"), ["ho_chieu"]),
        ("làm cccd", ["lam", "can_cuoc_cong_dan"]),
        ("lam online dk ko", ["lam", "online", "duoc", "khong"]),
    ],
)
def test_tokenizer_lemmas_fold_accents_and_teencode(text: str, lemmas: list[str]) -> None:
    assert [t.lemma for t in vietnamese_tokens(text)] == lemmas


def test_tokenizer_drops_punctuation_but_keeps_words() -> None:
    assert [t.text for t in vietnamese_tokens("Chào bạn, làm hộ chiếu ở đâu ad!")] == ["Chào", "bạn", "làm", "hộ chiếu", "ở", "đâu", "ad"]


def test_tokenizer_component_sets_tokens_on_message() -> None:
    tokenizer = VietnameseTokenizer(VietnameseTokenizer.get_default_config())
    message = Message.build(text="làm lại căn cước")
    tokenizer.process([message])
    texts = [t.text for t in message.get("text_tokens")]
    assert "căn cước" in texts
