"""Composed situation + question examples for the aspect model."""

from assistant.nlu.composition import compose

TEXTS = [
    "vợ em vừa sinh bé hôm qua.",
    "mất ví rồi phải làm gì",
    "làm giấy khai sinh cần giấy tờ gì",
    "khai sinh ở đâu",
    "Sinh con ra thì bao lâu phải đi đăng ký? Mình hỏi kỹ vì nhà ở xa, đường đi lại khó khăn lắm",
    "sắp đi Nhật du học",
    "hộ chiếu hết bao nhiêu tiền",
]
ASPECTS = ["overview", "overview", "documents", "where", "eligibility", "overview", "fee"]
PROCEDURES = [
    "dang-ky-khai-sinh",
    "the-can-cuoc",
    "dang-ky-khai-sinh",
    "dang-ky-khai-sinh",
    "dang-ky-khai-sinh",
    "ho-chieu",
    "ho-chieu",
]


def test_a_situation_is_joined_with_questions_about_the_same_procedure_and_takes_their_aspect():
    texts, aspects = compose(TEXTS, ASPECTS, PROCEDURES, per_situation=5)

    assert sorted(zip(texts, aspects, strict=True)) == [
        ("sắp đi Nhật du học, hộ chiếu hết bao nhiêu tiền", "fee"),
        ("vợ em vừa sinh bé hôm qua, khai sinh ở đâu", "where"),
        ("vợ em vừa sinh bé hôm qua, làm giấy khai sinh cần giấy tờ gì", "documents"),
    ]


def test_messages_that_already_ask_something_are_not_situations_and_long_questions_are_left_out():
    texts, _ = compose(TEXTS, ASPECTS, PROCEDURES, per_situation=5)

    assert not any(t.startswith("mất ví rồi") for t in texts)
    assert not any("đường đi lại" in t for t in texts)


def test_sampling_is_seeded_and_bounded_by_per_situation():
    first = compose(TEXTS, ASPECTS, PROCEDURES, per_situation=1)
    again = compose(TEXTS, ASPECTS, PROCEDURES, per_situation=1)

    assert first == again
    assert len(first[0]) == 2
