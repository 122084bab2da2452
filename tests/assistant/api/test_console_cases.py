"""Desk cases end to end in the app: the officer opens a case from the checklist (assistant/api/routes/console/cases.py),
the printed page carries its QR code, and the widget's ``POST /webhooks/web/cases`` (assistant/channels/web.py) opens
it on the phone. The conversation engine is a fake that records its ``seed`` calls and writes what it says into Rasa's
in-memory tracker store (the real dialogue is tested in tests/test_desk_case.py).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from assistant import audit
from assistant.catalogue.loader import load_procedures
from assistant.channels.web import CASE_GONE, CASE_INVALID
from assistant.channels.web_auth import conversation_of_token
from assistant.db.migrate import upgrade
from assistant.db.models import DeskCase, utcnow
from assistant.db.session import make_engine, session_scope
from assistant.desk_cases import case_key, create_case, expires_of, qr_svg, read_case_code, seed_slots, sign_case
from assistant.engine import Reply
from assistant.main import create_app
from assistant.settings import Settings
from assistant.staff import add_staff_user
from assistant.text.formatting import vn_datetime
from tests.assistant.channels.test_web import TrackerAgent
from tests.staff_login import staff_login

PROCEDURES_DIR = Path(__file__).resolve().parents[3] / "procedures"
USERNAME, PASSWORD = "canbo-quay", "mat-khau-quay-mot-cua"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CASE_URL = re.compile(r'data-case-url="([^"]+)"')
PORTAL = "https://dichvucong.tinh.gov.vn"
#: The identity card, lost: 6 of its 9 steps, starting online ("Vào Cổng Dịch vụ công"), not at the police station.
CARD, LOST = "the-can-cuoc", {"situation": "lost"}


class SeedingEngine:
    """Stands in for ConversationEngine: ``seed`` says the intro and the step, as Rasa would store them."""

    def __init__(self) -> None:
        self.agent = TrackerAgent()
        self.seeds: list[dict[str, Any]] = []

    def is_ready(self) -> bool:
        return True

    async def seed(self, sender_id: str, *, slots: dict[str, Any], action: str, intro: str | None = None) -> list[Reply]:
        from rasa.shared.core.events import BotUttered

        self.seeds.append({"sender": sender_id, "slots": slots, "action": action, "intro": intro})
        custom = {"procedure": slots["guide_procedure"], "aspect": "steps", "step": 1, "steps": 6}
        buttons = [{"title": "Tiếp theo", "payload": "/next_step"}]
        tracker = await self.agent.tracker_store.get_or_create_tracker(sender_id)
        tracker.update(BotUttered(intro))
        tracker.update(BotUttered("Bước 1/6: Vào Cổng Dịch vụ công", data={"buttons": buttons, "custom": custom}))
        await self.agent.tracker_store.save(tracker)
        return [
            Reply(recipient_id=sender_id, text=intro),
            Reply(recipient_id=sender_id, text="Bước 1/6: Vào Cổng Dịch vụ công", buttons=buttons, custom=custom),
        ]


@pytest.fixture(scope="module")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file, migrated, with the 26 real records and one officer (copied for each test)."""
    path = tmp_path_factory.mktemp("cases") / "template.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    load_procedures(engine, PROCEDURES_DIR)
    engine.dispose()
    add_staff_user(url, USERNAME, PASSWORD)
    return path


def make_client(tmp_path: Path, template: Path, **settings: Any) -> Iterator[TestClient]:
    path = tmp_path / "cases.db"
    path.write_bytes(template.read_bytes())
    app = create_app(settings=Settings(database_url=f"sqlite:///{path}", **settings), load_model=False)
    with TestClient(app, follow_redirects=False) as client:
        client.app.state.engine = SeedingEngine()
        yield client


@pytest.fixture
def client(tmp_path: Path, database_template: Path) -> Iterator[TestClient]:
    yield from make_client(tmp_path, database_template, allowed_origins=PORTAL)


def logged_in(client: TestClient) -> TestClient:
    assert staff_login(client, USERNAME, PASSWORD).status_code == 303
    return client


def open_case(client: TestClient, procedure: str = CARD, answers: dict[str, str] = LOST) -> str:
    """Press "Mở hồ sơ cho công dân (mã QR)" under the checklist; the case page's path."""
    query = "&".join(f"{k}={v}" for k, v in {"procedure": procedure, **answers}.items())
    page = client.get(f"/staff/checklist?{query}").text
    response = client.post("/staff/cases", data={"csrf": CSRF.search(page).group(1), "procedure": procedure, **answers})  # type: ignore[union-attr]
    assert response.status_code == 303, response.text
    return response.headers["location"]


def printed_link(client: TestClient, path: str) -> str:
    match = CASE_URL.search(client.get(path).text)
    assert match, "the printed page has no QR code"
    return html.unescape(match.group(1))


def code_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["hoso"][0]


def cases(client: TestClient) -> list[DeskCase]:
    with session_scope(client.app.state.db_engine) as session:
        rows = list(session.execute(select(DeskCase)).scalars())
        session.expunge_all()
    return rows


# --- the officer at the desk --------------------------------------------------------------------------------


def test_console_cases_checklist_offers_to_open_a_case(client: TestClient) -> None:
    logged_in(client)
    page = client.get(f"/staff/checklist?procedure={CARD}&situation=lost").text
    form = page[page.index('action="/staff/cases"') :]
    form = form[: form.index("</form>")]
    assert "Mở hồ sơ cho công dân (mã QR)" in form
    assert f'name="procedure" value="{CARD}"' in form and 'name="situation" value="lost"' in form
    assert 'name="csrf"' in form
    assert 'action="/staff/cases"' not in client.get("/staff/checklist").text  # no procedure chosen yet


def test_console_cases_open_needs_the_anti_forgery_token(client: TestClient) -> None:
    logged_in(client)
    for csrf in ("", "forged"):
        response = client.post("/staff/cases", data={"csrf": csrf, "procedure": CARD, **LOST})
        assert response.status_code == 403
    assert cases(client) == []
    assert audit.recent(client.app.state.db_engine) == []


def test_console_cases_need_an_officer(client: TestClient) -> None:
    response = client.post("/staff/cases", data={"procedure": CARD, **LOST})
    assert response.status_code == 303 and response.headers["location"].startswith("/staff/login")
    assert client.get("/staff/cases/1").status_code == 303
    assert cases(client) == []


def test_console_cases_unknown_procedure_or_case_is_404(client: TestClient) -> None:
    logged_in(client)
    csrf = CSRF.search(client.get("/staff/checklist").text).group(1)  # type: ignore[union-attr]
    assert client.post("/staff/cases", data={"csrf": csrf, "procedure": "khong-co"}).status_code == 404
    assert client.get("/staff/cases/999").status_code == 404
    assert cases(client) == []


def test_console_cases_open_records_the_case_and_prints_its_qr_code(client: TestClient) -> None:
    logged_in(client)
    before = utcnow()
    path = open_case(client)
    [case] = cases(client)
    assert path == f"/staff/cases/{case.id}"
    assert (case.procedure_key, case.answers, case.officer) == (CARD, LOST, USERNAME)
    [line] = audit.recent(client.app.state.db_engine)
    assert (line.officer, line.action, line.detail) == (USERNAME, "desk_case", f"hồ sơ {case.id}: {CARD} (situation=lost)")

    page = client.get(path).text
    link = printed_link(client, path)
    assert link.startswith("http://testserver/?hoso=")  # no ASSISTANT_PUBLIC_URL: this server's demo page
    settings = client.app.state.settings
    assert read_case_code(case_key(settings), code_of(link)) == case.id
    sheet = page[page.index('<section class="qr-case"') :]
    assert sheet.index("<svg") < sheet.index("</section>")
    assert qr_svg(link) in page  # the QR code is that of the address printed under it
    assert f'href="{html.escape(link)}">{html.escape(link)}</a>' in page
    expires = expires_of(case)  # 7 days (the default ASSISTANT_DESK_CASE_DAYS), said in Vietnam time
    assert before + timedelta(days=7, seconds=-1) <= expires <= utcnow() + timedelta(days=7)
    assert f"Mã có hiệu lực đến {vn_datetime(expires)}." in page
    assert "từ bước 1 (có 6 bước)" in page  # the steps of a lost card, not the 9 of every case
    assert "Mở hồ sơ cho công dân (mã QR)" not in page  # the case is open: print it
    assert "ASSISTANT_SESSION_SECRET" in page  # the officer is told a restart voids the code


def test_console_cases_link_opens_the_portal_page(tmp_path: Path, database_template: Path) -> None:
    public = f"{PORTAL}/tro-ly-ao?lang=vi"
    for client in make_client(tmp_path, database_template, public_url=public, session_secret=SecretStr("s" * 40)):
        logged_in(client)
        path = open_case(client, "ho-chieu", {"situation": "lost", "applicant": "child"})
        link = printed_link(client, path)
        assert link.startswith(f"{PORTAL}/tro-ly-ao?lang=vi&hoso=")
        assert "ASSISTANT_SESSION_SECRET" not in client.get(path).text
        [case] = cases(client)
        assert case.answers == {"situation": "lost", "applicant": "child"}


def test_console_cases_expired_case_prints_no_code(client: TestClient) -> None:
    logged_in(client)
    db = client.app.state.db_engine
    card = client.app.state.catalogue.get(CARD)
    case = create_case(db, procedure=card, answers=LOST, officer=USERNAME, now=utcnow() - timedelta(days=8))
    page = client.get(f"/staff/cases/{case.id}").text
    assert "Mã QR của hồ sơ này đã hết hạn" in page
    assert "data-case-url" not in page and 'class="qr"' not in page


# --- the citizen's phone --------------------------------------------------------------------------------------


def scan(client: TestClient, code: str, **headers: str) -> Any:
    return client.post("/webhooks/web/cases", json={"code": code}, headers=headers)


def test_web_cases_open_a_conversation_at_step_one_of_the_case(client: TestClient) -> None:
    code = code_of(printed_link(logged_in(client), open_case(client)))
    response = scan(client, code, Origin=PORTAL)
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == PORTAL
    body = response.json()
    conversation = conversation_of_token(client.app.state.widget_token_key, body["token"])
    assert conversation is not None and conversation.startswith("web:")
    [seeded] = client.app.state.engine.seeds
    card = client.app.state.catalogue.get(CARD)
    assert seeded == {
        "sender": conversation,
        "slots": seed_slots(card, LOST),
        "action": "action_guide_repeat",
        "intro": seeded["intro"],
    }
    assert seeded["slots"]["guide_step"] == 0 and seeded["slots"]["guide_answers"] == LOST
    assert f"“{card.name}”" in seeded["intro"] and "Cấp lại (mất thẻ)" in seeded["intro"]
    assert body["with_staff"] is False
    assert [m.get("text") for m in body["messages"]] == [seeded["intro"], "Bước 1/6: Vào Cổng Dịch vụ công"]
    assert body["messages"][1]["custom"] == {"procedure": CARD, "aspect": "steps", "step": 1, "steps": 6}
    # a reload reads the same conversation back, the step's buttons included
    history = client.get("/webhooks/web/history", headers={"Authorization": f"Bearer {body['token']}"}).json()
    assert [m["text"] for m in history["messages"]] == [seeded["intro"], "Bước 1/6: Vào Cổng Dịch vụ công"]
    assert history["messages"][1]["buttons"] == [{"title": "Tiếp theo", "payload": "/next_step"}]


def test_web_cases_each_scan_opens_its_own_conversation(client: TestClient) -> None:
    code = code_of(printed_link(logged_in(client), open_case(client)))
    first, second = scan(client, code).json(), scan(client, code).json()
    key = client.app.state.widget_token_key
    assert conversation_of_token(key, first["token"]) != conversation_of_token(key, second["token"])
    assert [s["slots"] for s in client.app.state.engine.seeds] == [seed_slots(client.app.state.catalogue.get(CARD), LOST)] * 2


@pytest.mark.parametrize("which", ["forged", "cut", "conversation token", "garbage"])
def test_web_cases_forged_code_is_400_and_opens_nothing(client: TestClient, which: str) -> None:
    code = code_of(printed_link(logged_in(client), open_case(client)))
    case_id, expires, signature = code.split(".")
    conversation_token = client.post("/webhooks/web/conversations").json()["token"]
    bad = {
        "forged": f"{int(case_id) + 1}.{expires}.{signature}",
        "cut": code[:-5],
        "conversation token": conversation_token,
        "garbage": "<script>",
    }[which]
    response = scan(client, bad)
    assert response.status_code == 400
    assert response.json()["detail"] == CASE_INVALID
    assert client.app.state.engine.seeds == []


def test_web_cases_expired_code_is_410_and_says_when(client: TestClient) -> None:
    db, settings = client.app.state.db_engine, client.app.state.settings
    card = client.app.state.catalogue.get(CARD)
    case = create_case(db, procedure=card, answers=LOST, officer=USERNAME, now=utcnow() - timedelta(days=7, seconds=1))
    response = scan(client, sign_case(case_key(settings), case.id, case.expires_at))
    assert response.status_code == 410
    assert response.json()["detail"].startswith(f"Mã QR của hồ sơ đã hết hạn lúc {vn_datetime(case.expires_at)}.")
    assert client.app.state.engine.seeds == []


def test_web_cases_code_of_a_case_that_is_gone_is_404(client: TestClient) -> None:
    settings = client.app.state.settings
    response = scan(client, sign_case(case_key(settings), 999, utcnow() + timedelta(days=1)))
    assert response.status_code == 404 and response.json()["detail"] == CASE_GONE


def test_web_cases_wait_for_the_model_but_refuse_a_forgery_at_once(client: TestClient) -> None:
    code = code_of(printed_link(logged_in(client), open_case(client)))
    client.app.state.engine = None
    assert scan(client, code).status_code == 503
    assert scan(client, "1.2.3").status_code == 400


@pytest.mark.parametrize("body", [{}, {"code": 12}, {"code": "x" * 201}])
def test_web_cases_malformed_body_is_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/webhooks/web/cases", json=body).status_code == 422
