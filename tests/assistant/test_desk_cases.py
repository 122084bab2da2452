"""Tests of assistant/desk_cases.py: the desk case's code (signed, expiring), its row, its link and QR code."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import segno
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import Engine

from assistant.catalogue.service import Catalogue
from assistant.channels.web_auth import token_key
from assistant.desk_cases import (
    CASE_PARAM,
    CaseCodeExpired,
    CaseCodeInvalid,
    case_key,
    case_link,
    create_case,
    expires_of,
    get_case,
    intro_text,
    qr_svg,
    read_case_code,
    seed_slots,
    sign_case,
    valid_answers,
)
from assistant.settings import Settings

KEY = case_key(Settings(session_secret=SecretStr("k" * 40)))
EXPIRES = datetime(2026, 12, 14, 3, 0, tzinfo=timezone.utc)
BEFORE = EXPIRES.timestamp() - 1


def test_desk_cases_code_reads_back_its_case() -> None:
    code = sign_case(KEY, 12, EXPIRES)
    assert code.startswith(f"12.{int(EXPIRES.timestamp())}.")
    assert read_case_code(KEY, code, now=BEFORE) == 12
    assert read_case_code(KEY, f"  {code}\n", now=BEFORE) == 12  # copied with spaces


def test_desk_cases_code_expires() -> None:
    code = sign_case(KEY, 12, EXPIRES)
    with pytest.raises(CaseCodeExpired) as refused:
        read_case_code(KEY, code, now=EXPIRES.timestamp())
    assert refused.value.expires_at == EXPIRES
    with pytest.raises(CaseCodeExpired):
        read_case_code(KEY, code, now=EXPIRES.timestamp() + 86400)


def _forgeries(code: str) -> list[str]:
    case_id, expires, signature = code.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return [
        f"13.{expires}.{signature}",  # another case
        f"{case_id}.{int(expires) + 86400}.{signature}",  # a longer life
        f"{case_id}.{expires}.{flipped}",  # a changed signature
        f"{case_id}.{expires}.{signature[:-1]}",  # cut short
        f"{case_id}.{expires}",
        sign_case(case_key(Settings(session_secret=SecretStr("x" * 40))), 12, EXPIRES),  # another server's key
        sign_case(token_key(Settings(session_secret=SecretStr("k" * 40))), 12, EXPIRES),  # the widget's key
        "",
        "web:3f2a",
        "0." + code.split(".", 1)[1],
    ]


@pytest.mark.parametrize("which", range(10))
def test_desk_cases_forged_code_is_refused(which: int) -> None:
    forged = _forgeries(sign_case(KEY, 12, EXPIRES))[which]
    with pytest.raises(CaseCodeInvalid):
        read_case_code(KEY, forged, now=BEFORE)


def test_desk_cases_forged_code_is_refused_even_when_expired() -> None:
    case_id, expires, signature = sign_case(KEY, 12, EXPIRES).split(".")
    with pytest.raises(CaseCodeInvalid):  # not "expired": nothing about a forged code is believed
        read_case_code(KEY, f"13.{expires}.{signature}", now=EXPIRES.timestamp() + 1)


def test_desk_cases_key_is_its_own() -> None:
    settings = Settings(session_secret=SecretStr("k" * 40))
    assert case_key(settings) == KEY != token_key(settings)
    assert case_key(Settings()) == case_key(Settings())  # random, one per process
    assert case_key(Settings()) not in (token_key(Settings()), KEY)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/?hoso=C"),
        ("https://dvc.tinh.gov.vn/tro-ly?lang=vi#chat", "https://dvc.tinh.gov.vn/tro-ly?lang=vi&hoso=C#chat"),
        ("https://dvc.tinh.gov.vn/?hoso=old", "https://dvc.tinh.gov.vn/?hoso=C"),
    ],
)
def test_desk_cases_link_adds_the_code(page: str, expected: str) -> None:
    assert case_link(page, "C") == expected


def test_desk_cases_qr_is_the_svg_of_the_link() -> None:
    link = case_link("https://dvc.tinh.gov.vn/tro-ly", sign_case(KEY, 12, EXPIRES))
    svg = qr_svg(link)
    assert svg.startswith('<svg viewBox="0 0 ') and 'class="qr"' in svg and "<path" in svg
    assert "<title>Mã QR mở hồ sơ trên trợ lý ảo</title>" in svg
    # the same symbol segno makes for the link (module for module), and not that of another link
    size = segno.make(link, error="m").symbol_size(border=4)
    assert f'viewBox="0 0 {size[0]} {size[1]}"' in svg
    assert svg == qr_svg(link) != qr_svg(link.replace("12.", "13."))


def test_desk_cases_valid_answers_keep_one_known_option(real_catalogue: Catalogue) -> None:
    passport = real_catalogue.get("ho-chieu")
    assert valid_answers(passport, {"situation": "lost", "applicant": ["self", "child"], "colour": "red"}) == {
        "situation": "lost"
    }
    assert valid_answers(passport, {"situation": "stolen"}) == {}


def test_desk_cases_create_and_get(migrated_engine: Engine, real_catalogue: Catalogue) -> None:
    passport = real_catalogue.get("ho-chieu")
    now = datetime(2026, 12, 7, 2, 30, 15, 123456, tzinfo=timezone.utc)
    case = create_case(
        migrated_engine,
        procedure=passport,
        answers={"situation": "lost", "applicant": "child", "other": "x"},
        officer="canbo1",
        valid_for=timedelta(days=7),
        now=now,
    )
    stored = get_case(migrated_engine, case.id)
    assert stored is not None
    assert (stored.procedure_key, stored.answers, stored.officer) == (
        "ho-chieu",
        {"situation": "lost", "applicant": "child"},
        "canbo1",
    )
    assert expires_of(stored) == datetime(2026, 12, 14, 2, 30, 15, tzinfo=timezone.utc)  # whole seconds, as in the code
    assert get_case(migrated_engine, case.id + 1) is None


def test_desk_cases_seed_slots_start_the_walkthrough_at_step_one(real_catalogue: Catalogue) -> None:
    passport = real_catalogue.get("ho-chieu")
    slots = seed_slots(passport, {"situation": "lost", "bogus": "x"})
    assert slots == {
        "procedure": "ho-chieu",
        "aspect": "steps",
        "guide_procedure": "ho-chieu",
        "guide_answers": {"situation": "lost"},
        "known_answers": {"ho-chieu": {"situation": "lost"}},
        "guide_step": 0,
    }


def test_desk_cases_intro_names_the_case(real_catalogue: Catalogue) -> None:
    passport = real_catalogue.get("ho-chieu")
    labels = {o.id: o.label for q in passport.questions for o in q.options}
    text = intro_text(passport, {"situation": "lost", "applicant": "child"})
    assert f"“{passport.name}”" in text
    assert f"cho bạn, trường hợp: {labels['lost']}; {labels['child']}. " in text
    assert "trường hợp" not in intro_text(passport, {})


def test_desk_cases_public_url_must_be_a_page() -> None:
    assert Settings(public_url=" https://dvc.tinh.gov.vn/tro-ly ").public_url == "https://dvc.tinh.gov.vn/tro-ly"
    assert Settings(public_url="").public_url is None
    for bad in ("dvc.tinh.gov.vn/tro-ly", "javascript:alert(1)", "/tro-ly"):
        with pytest.raises(ValidationError):
            Settings(public_url=bad)
    with pytest.raises(ValidationError):
        Settings(desk_case_days=0)


def test_desk_cases_param_is_hoso() -> None:
    assert CASE_PARAM == "hoso"
    assert re.fullmatch(r"\d+\.\d+\.[A-Za-z0-9_-]{43}", sign_case(KEY, 1, EXPIRES))
