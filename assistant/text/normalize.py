"""Vietnamese text normalisation: the one place where Vietnamese spelling is made canonical.

Citizens write ``hộ chiếu``, ``hộ chiêú`` (tone on the wrong letter), ``hoà``/``hòa``, decomposed (NFD)
Unicode from some phones, ``ho chieu`` without diacritics, and chat shorthand (``ko``, ``dc``, ``cccd``).
Everything that compares Vietnamese text (the NLU tokenizer, catalogue search) goes through this module,
so all those spellings meet. It is pure: it imports nothing of ours and does no I/O.

Canonical form (:func:`normalize_text`): Unicode NFC, tone marks on the traditional vowel (``hòa``,
``thủy``, ``ủy``, ``chiếu``), runs of whitespace collapsed to one space, ends stripped. Case is kept.
:func:`normalize_with_offsets` also returns, for every output character, the span of the input it came
from, so tokens found in normalised text map back to exact offsets in the original message.

Example:
    >>> normalize_text("Hoà  giải")
    'Hòa giải'
    >>> fold("Đăng ký THƯỜNG TRÚ")
    'dang ky thuong tru'
    >>> expand_abbreviations("dk tam tru can j z ad")
    'dang ky tam tru can gi vay ad'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "Normalized",
    "expand_abbreviations",
    "expand_words",
    "fold",
    "normalize_text",
    "normalize_with_offsets",
    "strip_diacritics",
]

# Combining tone marks (thanh điệu): huyền, sắc, ngã, hỏi, nặng.
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
# Vowel-quality marks: mũ (â ê ô), trăng (ă), móc (ơ ư).
_QUALITY = {"\u0302", "\u0306", "\u031b"}
_VOWELS = set("aeiouyâăêôơư")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class Normalized:
    """Normalised text with, for each of its characters, the span it came from in the original.

    Attributes:
        text: the normalised text.
        starts: ``starts[i]`` is where character ``i`` of ``text`` starts in the original.
        ends: ``ends[i]`` is where it ends (exclusive) in the original.
    """

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map the span ``[start, end)`` of the normalised text to the original text."""
        return self.starts[start], self.ends[end - 1]


def _clusters(text: str) -> list[tuple[int, int]]:
    """Split text into (start, end) spans of a base character followed by its combining marks."""
    spans: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or not unicodedata.combining(text[i]):
            spans.append((start, i))
            start = i
    return spans


def _place_tone(word: str) -> str:
    """Return ``word`` (NFC, one syllable) with its tone mark on the traditional vowel.

    Words without a tone mark, with more than one, or that do not look like a Vietnamese syllable are
    returned unchanged. The length never changes: each letter stays one character.
    """
    decomposed = [unicodedata.normalize("NFD", ch) for ch in word]
    tones = [(i, m) for i, d in enumerate(decomposed) for m in d[1:] if m in _TONES]
    if len(tones) != 1:
        return word
    tone = tones[0][1]
    bare = ["".join(m for m in d if m not in _TONES) for d in decomposed]
    base = [unicodedata.normalize("NFC", b).lower() for b in bare]
    is_vowel = [b in _VOWELS for b in base]
    # Onset: leading consonants, with "qu" and "gi" (before another vowel) counted as consonants.
    i = 0
    while i < len(base) and not is_vowel[i]:
        i += 1
    if i < len(base) and i > 0 and base[i - 1] == "q" and base[i] == "u":
        i += 1
    elif (
        i == 1
        and base[0] == "g"
        and base[i] == "i"
        and i + 1 < len(base)
        and is_vowel[i + 1]
    ):
        i += 1
    nucleus = []
    while i < len(base) and is_vowel[i]:
        nucleus.append(i)
        i += 1
    if not nucleus or any(is_vowel[j] for j in range(i, len(base))):
        return word
    has_final = i < len(base)
    marked = [j for j in nucleus if any(m in _QUALITY for m in unicodedata.normalize("NFD", base[j]))]
    if marked:
        target = marked[-1]
    elif has_final:
        target = nucleus[-1]
    elif len(nucleus) == 3:
        target = nucleus[1]
    else:
        target = nucleus[0]
    out = list(bare)
    out[target] = bare[target] + tone
    return "".join(unicodedata.normalize("NFC", ch) for ch in out)


def normalize_with_offsets(text: str) -> Normalized:
    """Normalise ``text`` and keep, for every output character, its span in ``text``.

    Args:
        text: any string, NFC or NFD, old or new tone placement.

    Returns:
        The canonical text (see module docstring) with its offset map.
    """
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for start, end in _clusters(text):
        composed = unicodedata.normalize("NFC", text[start:end])
        for ch in composed:
            chars.append(ch)
            starts.append(start)
            ends.append(end)
    nfc = "".join(chars)
    # Tone placement per syllable: same length in, same length out.
    placed = list(nfc)
    for match in _WORD.finditer(nfc):
        fixed = _place_tone(match.group())
        placed[match.start() : match.end()] = list(fixed)
    # Collapse whitespace and strip.
    out_chars: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    for ch, s, e in zip(placed, starts, ends, strict=True):
        if ch.isspace():
            if out_chars and out_chars[-1] != " ":
                out_chars.append(" ")
                out_starts.append(s)
                out_ends.append(e)
            continue
        out_chars.append(ch)
        out_starts.append(s)
        out_ends.append(e)
    if out_chars and out_chars[-1] == " ":
        out_chars.pop()
        out_starts.pop()
        out_ends.pop()
    return Normalized("".join(out_chars), tuple(out_starts), tuple(out_ends))


def normalize_text(text: str) -> str:
    """Return the canonical form of ``text``: NFC, traditional tone placement, single spaces.

    Example:
        >>> normalize_text("thuỷ  ")
        'thủy'
    """
    return normalize_with_offsets(text).text


def strip_diacritics(text: str) -> str:
    """Remove every Vietnamese diacritic (tone and vowel marks) and map ``đ``/``Đ`` to ``d``/``D``.

    Example:
        >>> strip_diacritics("Đăng ký")
        'Dang ky'
    """
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def fold(text: str) -> str:
    """Return the search key of ``text``: normalised, lower-case, without diacritics.

    Example:
        >>> fold("Hộ  Chiêú")
        'ho chieu'
    """
    return strip_diacritics(normalize_text(text).lower())


# --- Chat abbreviations and teencode --------------------------------------------------------------
# Reviewed against the "Citizen language" table of the fact sheet the records were built from. Keys are lower-case NFC words as
# typed (with or without diacritics); values are what they stand for. Ambiguous words are resolved by
# their neighbours in _expand_ambiguous, not here.
ABBREVIATIONS: dict[str, str] = {
    # identity and civil status
    "cccd": "căn cước công dân",
    "cmnd": "chứng minh nhân dân",
    "cmt": "chứng minh thư",
    "ddcn": "định danh cá nhân",
    "đdcn": "định danh cá nhân",
    "hc": "hộ chiếu",
    "gplx": "giấy phép lái xe",
    "gks": "giấy khai sinh",
    "dkks": "đăng ký khai sinh",
    "đkks": "đăng ký khai sinh",
    "dkkh": "đăng ký kết hôn",
    "đkkh": "đăng ký kết hôn",
    "xnhn": "xác nhận tình trạng hôn nhân",
    "lltp": "lý lịch tư pháp",
    "hk": "hộ khẩu",
    "kt3": "tạm trú",
    "vneid": "vneid",
    # insurance, tax, land
    "bhyt": "bảo hiểm y tế",
    "bhxh": "bảo hiểm xã hội",
    "bhtn": "bảo hiểm thất nghiệp",
    "tctn": "trợ cấp thất nghiệp",
    "mst": "mã số thuế",
    "qsdd": "quyền sử dụng đất",
    "qsdđ": "quyền sử dụng đất",
    "gcn": "giấy chứng nhận",
    "gcnqsdd": "giấy chứng nhận quyền sử dụng đất",
    "thpt": "trung học phổ thông",
    "đh": "đại học",
    # administration
    "tthc": "thủ tục hành chính",
    "dvc": "dịch vụ công",
    "dvcqg": "dịch vụ công quốc gia",
    "ubnd": "ủy ban nhân dân",
    "csdl": "cơ sở dữ liệu",
    "sdt": "số điện thoại",
    "sđt": "số điện thoại",
    "onl": "online",
    # teencode
    "ko": "không",
    "kh": "không",
    "khg": "không",
    "hok": "không",
    "hông": "không",
    "hem": "không",
    "khum": "không",
    "dc": "được",
    "đc": "được",
    "dk": "đăng ký",
    "đk": "đăng ký",
    "dky": "đăng ký",
    "đky": "đăng ký",
    "dki": "đăng ký",
    "j": "gì",
    "ji": "gì",
    "z": "vậy",
    "dz": "vậy",
    "zậy": "vậy",
    "dzậy": "vậy",
    "ntn": "như thế nào",
    "sao": "sao",
    "vs": "với",
    "mk": "mình",
    "mik": "mình",
    "mjk": "mình",
    "mìk": "mình",
    "r": "rồi",
    "ròi": "rồi",
    "cx": "cũng",
    "tks": "cảm ơn",
    "thks": "cảm ơn",
    "ck": "chồng",
    "vk": "vợ",
    "bít": "biết",
    "bik": "biết",
    "mún": "muốn",
    "lm": "làm",
    "mần": "làm",
    "nt": "nhắn tin",
}

_NEGATION_AFTER = {"ko", "k", "không", "khong", "kh", "khg", "hok", "hông", "hem", "chưa", "chua", "ạ", "a", "nhé", "nhe", "nha", "hả", "ha", "khum"}
_BN_MONEY = {"mất", "mat", "tốn", "ton", "hết", "het", "là", "la", "phí", "phi", "giá", "gia", "trả", "tra", "nộp", "nop", "đóng", "dong"}
_BN_UNITS = {"tiền", "tien", "ngày", "ngay", "lâu", "lau", "tuổi", "tuoi", "k", "nghìn", "nghin", "ngàn", "ngan", "đồng", "dong", "lần", "lan", "bước", "buoc", "tháng", "thang"}


def _expand_ambiguous(words: list[str], i: int) -> str | None:
    """Resolve a word whose meaning depends on its neighbours; None when it is not ambiguous."""
    word = words[i]
    prev = words[i - 1] if i > 0 else ""
    nxt = words[i + 1] if i + 1 < len(words) else ""
    if word == "k":
        # "50k" is written "50 k" too: after a number it means thousand.
        return "nghìn" if prev.isdigit() else "không"
    if word in {"dk", "đk"}:
        # "làm online dk ko" = được; "dk tạm trú" = đăng ký.
        if (nxt in _NEGATION_AFTER or nxt == "") and prev not in {"cần", "can", "muốn", "muon", "đi", "di", "để", "de"} and i > 0:
            return "được"
        return "đăng ký"
    if word == "bn":
        return "bao nhiêu" if prev in _BN_MONEY or nxt in _BN_UNITS else "bạn"
    if word == "z":
        return "gì" if prev in {"cần", "can", "là", "la"} and nxt == "" else "vậy"
    return None


def expand_words(words: list[str]) -> list[str]:
    """Expand chat abbreviations and teencode word by word, using neighbours for ambiguous ones.

    Args:
        words: lower-case NFC words of one message, in order.

    Returns:
        One replacement per input word (the word itself when it is not an abbreviation). A replacement
        may contain spaces ("cccd" → "căn cước công dân").
    """
    out = []
    for i, word in enumerate(words):
        resolved = _expand_ambiguous(words, i)
        out.append(resolved if resolved is not None else ABBREVIATIONS.get(word, word))
    return out


_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def expand_abbreviations(text: str) -> str:
    """Return ``text`` folded (see :func:`fold`) with abbreviations and teencode expanded.

    Example:
        >>> expand_abbreviations("lam cccd mat bn tien")
        'lam can cuoc cong dan mat bao nhieu tien'
    """
    words = [w for w in _TOKEN.findall(normalize_text(text).lower()) if w.isalnum() or "_" in w]
    # Split glued number+unit like "50k" so "k" is read as thousand.
    split: list[str] = []
    for w in words:
        m = re.fullmatch(r"(\d+)(k)", w)
        split.extend(m.groups() if m else [w])
    return " ".join(strip_diacritics(w) for w in expand_words(split))
