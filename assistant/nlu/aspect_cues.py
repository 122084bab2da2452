"""Hand-written cue features for the aspect of a procedure question.

The aspect (``docs/labelling.md``) is carried by a few function words around the procedure's name: "bao
nhiêu tiền" asks the fee, "giấy tờ gì" the documents, "ở đâu" the office. Learnt n-grams find most of
them, but with ~2,500 examples the procedure's own words (which say nothing about the aspect) weigh as
much as the cues. These regular expressions, over the folded and abbreviation-expanded text of
:func:`assistant.text.normalize.expand_abbreviations`, give the aspect model one count per cue group, the
group that is asked *first* (the labelling rule for two questions in one message) and a "no cue at all"
feature that leans to ``overview``.

Example:
    >>> cue_groups("lam ho chieu het bao nhieu tien")
    ['fee']
"""

from __future__ import annotations

import re
from typing import Dict, List, Pattern, Text, Tuple

import numpy as np
from scipy.sparse import csr_matrix

# Folded text: no diacritics, lower case, single spaces. Each group lists phrases, not single letters.
_CUES: Dict[Text, Tuple[Text, ...]] = {
    "overview": (
        r"la gi",
        r"la the nao",
        r"muon lam",
        r"can lam",
        r"muon dang ky",
        r"thu tuc",
        r"tim hieu",
        r"(phai|can|gio|nen) lam gi",
        r"(gio )?tinh sao",
        r"lam sao (day|bay gio)",
        r"thong tin ve",
        r"hoi ve",
        r"tu van",
    ),
    "steps": (
        r"(nhu )?the nao",
        r"lam sao",
        r"ra sao",
        r"the nao",
        r"cach( thuc)?",
        r"cac buoc",
        r"may buoc",
        r"tung buoc",
        r"huong dan",
        r"hd",
        r"chi (cho )?(em|minh|toi|tui|anh|chi|e|a|t|voi)",
        r"quy trinh",
        r"trinh tu",
        r"thao tac",
        r"bat dau tu dau",
        r"tren mang",
        r"truc tuyen",
        r"chon (muc|o|phan) nao",
        r"man rang",
        r"lam (nhung )?gi (truoc|tiep|sau|dau tien|truoc tien)",
        r"lam nhung gi",
        r"(?<!tinh )sao(?! (day|bay gio))",
        r"how",
    ),
    "documents": (
        r"mang theo",
        r"(giay to|ho so|thu tuc) (gi|gom|can|nao|nhung)",
        r"(can|mang|nop|chuan bi) (nhung )?(giay to|ho so)",
        r"mang (nhung )?gi",
        r"chuan bi",
        r"can (nhung )?gi",
        r"can co (nhung )?gi",
        r"gom (nhung )?gi",
        r"gom co",
        r"anh the",
        r"photo",
        r"scan",
        r"mau don",
        r"don (de nghi|xin)",
        r"can giay",
        r"giay gi",
        r"nhung giay",
        r"documents?",
        r"papers?",
    ),
    "fee": (
        r"bao nhieu tien",
        r"het bao nhieu",
        r"mat bao nhieu",
        r"ton bao nhieu",
        r"le phi",
        r"phi",
        r"chi phi",
        r"ton( tien)?",
        r"mat (tien|phi)",
        r"mien phi",
        r"bao nhieu nghin",
        r"\d+ ?(nghin|ngan|dong|trieu)",
        r"nghin",
        r"fee|cost|price",
    ),
    "processing_time": (
        r"bao lau",
        r"may ngay",
        r"may hom",
        r"may tuan",
        r"khi nao (thi )?(co|xong|duoc|nhan)",
        r"bao gio (co|xong|duoc|nhan)",
        r"bao gio",
        r"thoi gian",
        r"lau (khong|ko|k|chua|qua|the)",
        r"lau",
        r"nhanh",
        r"trong ngay",
        r"ngay lam viec",
        r"mat may",
        r"cho (bao lau|lau)",
        r"how long",
    ),
    "where": (
        r"o dau",
        r"tai dau",
        r"ra dau",
        r"den dau",
        r"di dau",
        r"nop dau",
        r"cho nao",
        r"noi nao",
        r"co quan nao",
        r"(phuong|xa|quan|huyen|tinh|so|phong|chi nhanh|diem|ben) nao",
        r"cong an (nao|phuong|xa|huyen|quan|tinh)",
        r"o (phuong|xa|quan|huyen|tinh)",
        r"(ubnd|uy ban) nao",
        r"gan nha",
        r"noi (cu tru|thuong tru|tam tru) hay",
        r"where",
    ),
    "eligibility": (
        r"dieu kien",
        r"ai (duoc|co the|phai|can)",
        r"duoc (khong|ko|k|hong|hok|chu|ha)",
        r"co duoc",
        r"duoc phep",
        r"co bat buoc",
        r"bat buoc",
        r"du tuoi",
        r"bao nhieu tuoi",
        r"may tuoi",
        r"(du|dap ung|thuoc) (dien|dieu)",
        r"dien nao",
        r"truong hop nao",
        r"nguoi nuoc ngoai",
        r"chua du",
        r"co cho",
        r"can phai",
        r"eligible|allowed",
    ),
    "result": (
        r"ket qua",
        r"nhan (duoc )?(gi|o dau|bang cach nao|the nao|ra sao|qua)",
        r"duoc cap (gi|nhung gi|cai gi)",
        r"cap (cho|gi)",
        r"gui ve",
        r"tra ve",
        r"buu dien",
        r"buu chinh",
        r"gia tri",
        r"ban dien tu",
        r"ban giay",
        r"ban (pdf|so)",
        r"tai (ve|xuong)",
        r"in ra",
        r"qr",
        r"nhan (ve|tai|o)",
        r"cam duoc",
        r"result",
    ),
}

GROUPS: Tuple[Text, ...] = tuple(_CUES)
_COLUMN: Dict[Text, int] = {group: i for i, group in enumerate(GROUPS)}
_PATTERNS: Dict[Text, Pattern[Text]] = {
    group: re.compile(r"\b(?:" + "|".join(phrases) + r")\b") for group, phrases in _CUES.items()
}


def cue_positions(folded: Text) -> Dict[Text, List[int]]:
    """Where each cue group fires in a folded message.

    Args:
        folded: the message as returned by ``expand_abbreviations``.

    Returns:
        For each group that fires, the character offsets of its matches, in order.
    """
    found: Dict[Text, List[int]] = {}
    for group, pattern in _PATTERNS.items():
        starts = [m.start() for m in pattern.finditer(folded)]
        if starts:
            found[group] = starts
    return found


def cue_groups(folded: Text) -> List[Text]:
    """The cue groups that fire in a folded message, first asked first."""
    positions = cue_positions(folded)
    return sorted(positions, key=lambda g: positions[g][0])


def cue_row(folded: Text) -> Dict[int, float]:
    """One message's cue features as column → value (the columns of :func:`cue_features`)."""
    n = len(GROUPS)
    positions = cue_positions(folded)
    if not positions:
        return {2 * n: 1.0}
    row = {_COLUMN[group]: 1.0 + float(np.log(len(starts))) for group, starts in positions.items()}
    first = min(positions, key=lambda g: positions[g][0])
    row[n + _COLUMN[first]] = 1.0
    return row


def cue_features(folded: List[Text]) -> csr_matrix:
    """Cue features of folded messages, one row each.

    Columns: per group its match count (log-scaled), then per group whether it is the first group
    asked, then one column that fires when no group fires.
    """
    matrix = np.zeros((len(folded), 2 * len(GROUPS) + 1), dtype=np.float64)
    for index, text in enumerate(folded):
        for column, value in cue_row(text).items():
            matrix[index, column] = value
    return csr_matrix(matrix)
