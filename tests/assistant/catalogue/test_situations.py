"""Situation phrases (nlu_data/situations.yml) read as answers to the records' interview questions."""

from pathlib import Path

import pytest

from assistant.catalogue.service import Catalogue
from assistant.catalogue.situations import SituationCues, age_in

SITUATIONS = Path(__file__).resolve().parents[3] / "nlu_data" / "situations.yml"


@pytest.fixture(scope="module")
def cues() -> SituationCues:
    return SituationCues.from_file(SITUATIONS)


@pytest.mark.parametrize(
    ("key", "message", "expected"),
    [
        ("the-can-cuoc", "mat cccd roi lam lai the nao", {"situation": "lost"}),
        ("the-can-cuoc", "Tôi bị mất ví, trong đó có căn cước", {"situation": "lost"}),
        ("the-can-cuoc", "căn cước sắp hết hạn, đổi ở đâu", {"situation": "renew"}),
        ("the-can-cuoc", "con em vừa đủ 14 tuổi, làm căn cước lần đầu", {"situation": "first"}),
        ("the-can-cuoc", "ảnh khuôn mặt có cần chụp lại không", {}),
        ("ho-chieu", "làm hộ chiếu cho con 5 tuổi", {"applicant": "child"}),
        ("ho-chieu", "bé nhà em 3 tuổi", {"applicant": "child"}),
        ("ho-chieu", "con tôi 20 tuổi làm hộ chiếu lần đầu", {"applicant": "self", "situation": "first"}),
        ("ho-chieu", "ho chieu het han roi", {"situation": "expired"}),
        ("ho-chieu", "con lam ho chieu thi sao", {}),
        ("dang-ky-thuong-tru", "em thuê nhà ở quận 7, muốn nhập khẩu", {"housing": "rented"}),
        ("dang-ky-xe", "mua xe máy cũ thì sang tên", {"vehicle": "motorbike", "case": "other"}),
        ("doi-gplx", "mat bang lai xe roi", {"situation": "lost"}),
        ("ly-lich-tu-phap", "cty yêu cầu nộp lltp mà e ko biết số mấy", {"form_type": "unknown"}),
    ],
)
def test_situations_answers_from_free_text(cues: SituationCues, key: str, message: str, expected: dict) -> None:
    assert cues.answers(key, message) == expected


@pytest.mark.parametrize(
    ("folded", "age"),
    [("cho con 5 tuoi", 5), ("be 18 thang tuoi", 1), ("con 14t", 14), ("lam ho chieu", None)],
)
def test_situations_age_in_message(folded: str, age: int | None) -> None:
    assert age_in(folded) == age


def test_situations_name_real_questions_and_options(cues: SituationCues, real_catalogue: Catalogue) -> None:
    for key, question_id, option_id in cues.options():
        procedure = real_catalogue.get(key)
        options = {q.id: {o.id for o in q.options} for q in procedure.questions}
        assert question_id in options, f"{key}: no question {question_id}"
        assert option_id in options[question_id], f"{key}.{question_id}: no option {option_id}"
