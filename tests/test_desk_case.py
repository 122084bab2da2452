"""The desk case, as the officer and the citizen see it (#16): real Chromium, a live server with the trained model.

An officer logs in through the console's form, opens a case for a lost identity card (a situation answer that
changes the steps: 6 of the record's 9, starting online instead of at the police station), and the printed page
carries the QR code of ``<portal page>?hoso=<code>`` with that address written under it. On a phone (360 px) the
portal page at that address opens the widget at step 1 of the case's steps, and "Tiếp theo" shows step 2. Then, over
HTTP, the seeded conversation goes on through the real dialogue in typed words. Screenshots go to
``var/results/desk-case/``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from assistant.catalogue.service import Catalogue
from assistant.channels.web import CASE_INVALID
from assistant.desk_cases import qr_svg
from tests.browser import CHROMIUM, Browser
from tests.live import ROOT
from tests.postgres import unavailable
from tests.staff_login import staff_login
from tests.test_widget import (
    BUTTONS,
    IDLE,
    LOG,
    OPEN,
    PROGRESS,
    STAFF_PASSWORD,
    Portal,
    W,
    WidgetServer,
    axe_violations,
    click,
    no_overflow,
)

pytestmark = pytest.mark.slow
SHOTS = ROOT / "var" / "results" / "desk-case"
OFFICER = "canbo-mot-cua"
CARD, LOST = "the-can-cuoc", {"situation": "lost"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CASE_URL = re.compile(r'data-case-url="([^"]+)"')


class DeskServer(WidgetServer):
    """A live server whose desk cases' QR codes open the allowed portal's page (``ASSISTANT_PUBLIC_URL``)."""

    @property
    def public_page(self) -> str:
        return f"{self.allowed}/index.html"

    def env(self) -> dict[str, str]:
        env = super().env()
        env["ASSISTANT_PUBLIC_URL"] = self.public_page
        return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskServer]:
    folder = tmp_path_factory.mktemp("desk-case")
    live = DeskServer(database_url=f"sqlite:///{folder / 'assistant.db'}", log=folder / "server.log")
    done = live.cli("staff", "add", OFFICER)
    assert done.returncode == 0, done.stderr
    live.start()  # on an empty catalogue: serve loads procedures/ itself
    yield live
    live.stop()


@pytest.fixture(scope="module")
def portal(server: DeskServer) -> Iterator[Portal]:
    opened = Portal(server.url, port=server.portal_port)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        unavailable("the desk case's browser test needs Debian's chromium (apt-get install chromium)")
    opened = Browser()
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def steps() -> list[str]:
    """The titles of the steps of a lost identity card (the record's own)."""
    card = Catalogue.from_directory(ROOT / "procedures").get(CARD)
    titles = [s.title for s in card.steps_for(LOST)]
    assert len(titles) == 6 and len(card.steps) == 9 and titles[0] != card.steps[0].title  # the answer matters
    return titles


def on_phone(browser: Browser, url: str, portal: Portal) -> None:
    """A phone at 360 px that kept nothing of this portal, then ``url``."""
    browser.viewport(360, 740)
    browser.open(portal.url + "/thu-tuc.html")
    browser.run("localStorage.clear(); sessionStorage.clear()")
    browser.open(url)


def test_desk_case_printed_qr_code_opens_on_a_phone_at_the_case_step(
    server: DeskServer, portal: Portal, browser: Browser, steps: list[str]
) -> None:
    # the officer at the desk, on a desktop screen: logs in through the form, picks the case, opens it
    browser.viewport(1280, 900)
    checklist = f"/staff/checklist?procedure={CARD}&situation=lost"
    browser.open(f"{server.url}/staff/login?next={quote(checklist, safe='')}")
    browser.run(
        f"document.getElementById('username').value = {json.dumps(OFFICER)};"
        f"document.getElementById('password').value = {json.dumps(STAFF_PASSWORD)};"
        "document.querySelector('form').submit()"
    )
    browser.wait_for("location.pathname === '/staff/checklist' && document.readyState === 'complete'")
    browser.run(
        "Array.from(document.querySelectorAll('form[action=\"/staff/cases\"] button'))"
        ".find(b => b.textContent === 'Mở hồ sơ cho công dân (mã QR)').click()"
    )
    browser.wait_for("/^\\/staff\\/cases\\/\\d+$/.test(location.pathname) && document.readyState === 'complete'")
    printed = browser.run(
        """(() => {
        const box = document.querySelector('.sheet .qr-case'), svg = box.querySelector('svg.qr'), r = svg.getBoundingClientRect();
        return {url: box.dataset.caseUrl, shown: box.querySelector('a.case-link').textContent, href: box.querySelector('a.case-link').href,
                viewBox: svg.getAttribute('viewBox'), d: svg.querySelector('path').getAttribute('d'), width: r.width, height: r.height,
                printed: !svg.closest('.no-print'), text: box.textContent};
    })()"""
    )
    url = printed["url"]
    assert url.startswith(f"{server.public_page}?hoso=") and printed["shown"] == url == printed["href"]
    # decode-free: the symbol on the page is the one segno makes for that address, module for module
    made = qr_svg(url)
    assert f'viewBox="{printed["viewBox"]}"' in made and f'd="{printed["d"]}"' in made
    assert printed["width"] >= 150 and printed["width"] == printed["height"] and printed["printed"]
    assert re.search(r"Mã có hiệu lực đến \d\d/\d\d/\d{4} \d\d:\d\d\.", printed["text"])
    assert "từ bước 1 (có 6 bước)" in printed["text"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(str(SHOTS / "printed-case-1280.png"))

    # the citizen's phone scans it: the portal page opens the widget on the case, at step 1 of its 6 steps
    on_phone(browser, url, portal)
    browser.wait_for(f"{OPEN} && {IDLE} && {PROGRESS} === 'Bước 1/6'")
    shown = browser.run(LOG)
    assert shown[0].startswith("Cán bộ một cửa đã lập hồ sơ") and "Cấp lại (mất thẻ)" in shown[0]
    assert shown[1].startswith(f"Bước 1/6: {steps[0]}")
    assert not any(t.startswith("> ") for t in shown)  # nothing said on the citizen's behalf
    assert "hoso" not in browser.run("location.href")  # the code left the address bar
    assert "Tiếp theo" in browser.run(BUTTONS)
    no_overflow(browser)
    assert axe_violations(browser) == []
    browser.screenshot(str(SHOTS / "phone-step-1-360.png"))

    assert answered_with(click(browser, "Tiếp theo"), f"Bước 2/6: {steps[1]}")
    assert browser.run(PROGRESS) == "Bước 2/6"
    before = browser.run(LOG)
    no_overflow(browser)
    browser.screenshot(str(SHOTS / "phone-step-2-360.png"))

    # scanned again on the same phone: back to its conversation at step 2, not a new one at step 1
    browser.open(url)
    browser.wait_for(f"({LOG}).length >= {len(before)} && {PROGRESS} === 'Bước 2/6'")
    assert browser.run(LOG) == before and browser.run(OPEN)
    assert "hoso" not in browser.run("location.href")


def answered_with(replies: list[str], start: str) -> bool:
    return any(t.startswith(start) for t in replies)


def test_desk_case_code_that_opens_nothing_is_said_then_the_widget_opens(
    server: DeskServer, portal: Portal, browser: Browser
) -> None:
    on_phone(browser, f"{server.public_page}?hoso=12.1797000000.not-a-signature&lang=vi", portal)
    browser.wait_for(f"{OPEN} && {IDLE} && ({LOG}).length >= 3")
    shown = browser.run(LOG)
    assert shown[0] == CASE_INVALID
    assert shown[1] == "> Xin chào" and len(shown) >= 3  # then the usual greeting
    assert browser.run("location.search") == "?lang=vi"  # the code is gone, the page's own parameters kept
    assert browser.run(PROGRESS) is False
    browser.run(f"{W}.querySelector('.end').click()")


# --- the seeded conversation in the real dialogue, typed -------------------------------------------------------


def open_case_over_http(server: DeskServer) -> str:
    """The officer opens the lost-card case through the console (tests/staff_login.py); the printed address."""
    with httpx.Client(base_url=server.url, follow_redirects=False) as desk:
        assert staff_login(desk, OFFICER, STAFF_PASSWORD).status_code == 303
        page = desk.get(f"/staff/checklist?procedure={CARD}&situation=lost").text
        csrf = CSRF.search(page).group(1)  # type: ignore[union-attr]
        opened = desk.post("/staff/cases", data={"csrf": csrf, "procedure": CARD, **LOST})
        assert opened.status_code == 303
        match = CASE_URL.search(desk.get(opened.headers["location"]).text)
        assert match
        return html.unescape(match.group(1))


class Phone:
    """One widget conversation over HTTP, as the widget talks to the server."""

    def __init__(self, server: DeskServer, code: str) -> None:
        self.server = server
        opened = server.post("/webhooks/web/cases", {"code": code})
        assert opened.status_code == 201, opened.text
        self.token = opened.json()["token"]
        self.first = opened.json()["messages"]

    def say(self, text: str) -> list[dict[str, Any]]:
        response = self.server.post(
            "/webhooks/web/webhook", {"message": text}, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert response.status_code == 200, response.text
        return response.json()["messages"]


def step_of(replies: list[dict[str, Any]]) -> tuple[int, int] | None:
    metas = [r["custom"] for r in replies if (r.get("custom") or {}).get("aspect") == "steps"]
    return (metas[-1]["step"], metas[-1]["steps"]) if metas else None


def text_of(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def test_desk_case_conversation_goes_on_in_the_real_dialogue(server: DeskServer, steps: list[str]) -> None:
    code = parse_qs(urlsplit(open_case_over_http(server)).query)["hoso"][0]
    phone = Phone(server, code)
    assert step_of(phone.first) == (1, 6)
    assert phone.first[-1]["custom"] == {"procedure": CARD, "aspect": "steps", "step": 1, "steps": 6}
    assert [b["title"] for b in phone.first[-1]["buttons"]][:3] == ["Tiếp theo", "Quay lại", "Nhắc lại"]

    replies = phone.say("tiếp")
    assert step_of(replies) == (2, 6) and f"Bước 2/6: {steps[1]}" in text_of(replies)
    # a side question is answered for the case the officer opened: the fee of a lost card, not of a renewal
    fee = phone.say("hết bao nhiêu tiền")
    assert all(r["custom"]["procedure"] == CARD for r in fee if r.get("custom"))
    assert "35.000 đồng" in text_of(fee) and "25.000 đồng" not in text_of(fee)
    replies = phone.say("tiếp")  # the walkthrough goes on from where it was
    assert step_of(replies) == (3, 6) and f"Bước 3/6: {steps[2]}" in text_of(replies)
    assert step_of(phone.say("quay lại")) == (2, 6)

    # the same code on another phone: a conversation of its own, at step 1; the first one is where it was
    other = Phone(server, code)
    assert other.token != phone.token and step_of(other.first) == (1, 6)
    assert step_of(other.say("tiếp")) == (2, 6)
    assert step_of(phone.say("nhắc lại")) == (2, 6)
