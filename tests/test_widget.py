"""The web widget on a real portal: real Chromium, a live server, portal pages served from other local origins.

The issue's "done when" (#13): embedded on a page of another origin and on the demo page, at 1280 and 360 px, the
citizen gets the fee reply, a button works, a reload (or another page of the portal) keeps the conversation,
axe-core finds no serious or critical violation and nothing overflows; "Kết thúc trò chuyện" leaves nothing in
the browser; an origin that is not allowed is refused. Screenshots go to ``var/results/widget/``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from assistant.servers import free_port
from tests.browser import CHROMIUM, Browser
from tests.conftest import TODAY
from tests.live import ROOT, LiveServer
from tests.postgres import unavailable
from tests.staff_login import staff_login

pytestmark = pytest.mark.slow
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "var" / "results" / "widget"
STAFF_PASSWORD = "mat-khau-thu-nghiem-widget"

PORTAL_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Cổng dịch vụ công tỉnh (thử nghiệm)</title>
<style>
  /* a portal's own CSS, hostile on purpose: the widget must not be touched by it */
  * {{ font-family: Georgia, serif !important; }} button {{ background: lime; padding: 40px; }}
  div {{ border: 3px dashed orange; }} input {{ display: none; }}
</style></head>
<body><header><h1>{title}</h1></header>
<main><p>Trang của cổng dịch vụ công tỉnh. <a href="/{other}.html">Trang khác</a></p></main>
<script src="{assistant}/widget.js" defer data-title="Trợ lý ảo của tỉnh" data-color="#0b5394"
  data-position="left"></script>
</body></html>
"""


class WidgetServer(LiveServer):
    """A live server that allows one portal origin to embed the widget."""

    def __init__(self, *, database_url: str, log: Path) -> None:
        super().__init__(database_url=database_url, log=log)
        self.portal_port = free_port()
        self.allowed = f"http://127.0.0.1:{self.portal_port}"

    def env(self) -> dict[str, str]:
        env = super().env()
        env["ASSISTANT_ALLOWED_ORIGINS"] = self.allowed
        env["ASSISTANT_TODAY"] = TODAY.isoformat()
        env["ASSISTANT_STAFF_PASSWORD"] = STAFF_PASSWORD
        return env


class Portal:
    """A portal's web server on its own origin (another port of 127.0.0.1): two pages that embed the widget."""

    def __init__(self, assistant_url: str, *, port: int = 0) -> None:
        pages = {
            f"/{name}.html": PORTAL_PAGE.format(title=title, other=other, assistant=assistant_url).encode()
            for name, title, other in (("index", "Trang chủ", "thu-tuc"), ("thu-tuc", "Thủ tục hành chính", "index"))
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                page = pages.get(self.path.split("?")[0].split("#")[0])
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page or b"not found")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WidgetServer]:
    folder = tmp_path_factory.mktemp("widget")
    live = WidgetServer(database_url=f"sqlite:///{folder / 'assistant.db'}", log=folder / "server.log")
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def portal(server: WidgetServer) -> Iterator[Portal]:
    """The allowed portal: its port is the one in ASSISTANT_ALLOWED_ORIGINS."""
    opened = Portal(server.url, port=server.portal_port)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def stranger(server: WidgetServer) -> Iterator[Portal]:
    """A portal whose origin is not allowed."""
    opened = Portal(server.url)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        unavailable("the widget test needs Debian's chromium (apt-get install chromium)")
    opened = Browser()
    yield opened
    opened.close()


# --- the widget as the citizen sees it (it lives in a Shadow DOM) ----------------------------------------

W = "document.querySelector('tro-ly-ao-widget').shadowRoot"
LOG = f"Array.from({W}.querySelectorAll('.log .m')).map(e => (e.classList.contains('me') ? '> ' : '') + e.textContent)"
IDLE = f"!{W}.querySelector('.send').disabled"
OPEN = f"{W}.querySelector('.panel').classList.contains('open')"
BUTTONS = f"Array.from({W}.querySelectorAll('.log .b:not(:disabled)')).map(b => b.textContent)"
PROGRESS = f"{W}.querySelector('.progress').classList.contains('on') && {W}.querySelector('.ptext').textContent"
STORED = "Object.keys(localStorage).filter(k => k.startsWith('tldvc')).concat(Object.keys(sessionStorage).filter(k => k.startsWith('tldvc')))"


def answered(browser: Browser, after: int) -> list[str]:
    """Wait until a bot reply shows after the first ``after`` log lines and the widget is ready again."""
    browser.wait_for(f"{IDLE} && ({LOG}).slice({after}).some(t => !t.startsWith('> '))")
    return browser.run(LOG)[after:]


def say(browser: Browser, text: str) -> list[str]:
    shown = len(browser.run(LOG))
    browser.run(f"{W}.querySelector('input').value = {json.dumps(text)}; {W}.querySelector('form').requestSubmit()")
    return answered(browser, shown)


def click(browser: Browser, title: str) -> list[str]:
    shown = len(browser.run(LOG))
    browser.run(
        f"Array.from({W}.querySelectorAll('.log .b:not(:disabled)')).find(b => b.textContent === {json.dumps(title)}).click()"
    )
    return answered(browser, shown)


def fresh(browser: Browser, url: str, width: int) -> None:
    """Open ``url`` at ``width`` px with nothing kept from an earlier test."""
    browser.viewport(width, 800 if width > 600 else 740)
    browser.open(url)
    browser.run("localStorage.clear(); sessionStorage.clear()")
    browser.open(url)


def no_overflow(browser: Browser) -> None:
    problems = browser.run(
        f"""(() => {{
        const out = [], vw = innerWidth, vh = innerHeight, root = {W};
        if (document.documentElement.scrollWidth > vw) out.push('page scrolls sideways');
        for (const el of [root.querySelector('.launcher'), root.querySelector('.panel')]) {{
          const r = el.getBoundingClientRect();
          if (r.width && (r.left < 0 || r.right > vw || r.top < 0 || r.bottom > vh)) out.push(el.className + ' outside');
        }}
        const log = root.querySelector('.log');
        if (log.scrollWidth > log.clientWidth) out.push('log scrolls sideways');
        const box = root.querySelector('.panel').getBoundingClientRect();
        root.querySelectorAll('.m, .b, .head *').forEach(e => {{
          const r = e.getBoundingClientRect();
          if (r.width && (r.left < box.left - 1 || r.right > box.right + 1)) out.push('overflows: ' + e.textContent.slice(0, 30));
        }});
        return out;
    }})()"""
    )
    assert problems == []


#: Every running animation of the page and of its shadow roots (the widget's), settled: the panel fades in
#: (opacity 0 → 1 in 0.18 s), and colours read mid-fade fail the contrast check.
SETTLED = (
    "Promise.all([document, ...[...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean)]"
    ".flatMap(root => root.getAnimations()).map(a => a.finished.catch(() => null)))"
)


def axe_violations(browser: Browser) -> list[str]:
    """axe-core's serious and critical violations, once animations have finished."""
    if not AXE.exists():
        unavailable("axe-core is not installed (make axe: npm ci)")
    if not browser.run("typeof axe !== 'undefined'"):
        browser.run(AXE.read_text(encoding="utf-8"))
    return browser.run(
        f"{SETTLED}.then(() => axe.run(document, {{resultTypes: ['violations']}})).then(r => r.violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.map(n => JSON.stringify(n.target)).join(', ')))"
    )


# --- the tests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("where", ["portal", "demo"])
def test_widget_message_button_reload_and_end(
    server: WidgetServer, portal: Portal, browser: Browser, where: str, width: int
) -> None:
    first, second = (
        (portal.url + "/index.html", portal.url + "/thu-tuc.html")
        if where == "portal"
        else (server.url + "/", server.url + "/")
    )
    fresh(browser, first, width)
    assert not browser.run(OPEN) and browser.run(STORED) == []
    browser.run(f"{W}.querySelector('.launcher').click()")
    greeting = answered(browser, 0)
    assert greeting[0] == "> Xin chào" and len(greeting) > 1

    fee = " ".join(say(browser, "làm hộ chiếu hết bao nhiêu tiền"))
    assert "Lệ phí" in fee and "Nguồn:" in fee
    assert "Hướng dẫn làm online từng bước" in browser.run(BUTTONS)
    click(browser, "Hướng dẫn làm online từng bước")
    for _ in range(6):  # answer the guide's questions with their first option until a step shows
        if browser.run(PROGRESS):
            break
        click(browser, browser.run(BUTTONS)[0])
    progress = browser.run(PROGRESS)
    assert re.fullmatch(r"Bước 1/\d+", progress or ""), progress
    assert "Tiếp theo" in browser.run(BUTTONS)
    click(browser, "Tiếp theo")
    progress = browser.run(PROGRESS)
    assert re.fullmatch(r"Bước 2/\d+", progress or ""), progress
    before = browser.run(LOG)
    buttons = browser.run(BUTTONS)
    no_overflow(browser)
    assert axe_violations(browser) == []
    # the log follows the conversation: the latest reply is in view
    browser.wait_for(f"(l => l.scrollTop + l.clientHeight >= l.scrollHeight - 2)({W}.querySelector('.log'))")
    if width == 360:
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.screenshot(str(SHOTS / f"{where}-360.png"))

    browser.open(second)  # another page of the portal (or a reload): the same conversation, open, same step
    browser.wait_for(f"({LOG}).length >= {len(before)}")
    assert browser.run(OPEN)
    assert browser.run(LOG) == before
    assert browser.run(BUTTONS) == buttons
    assert browser.run(PROGRESS) == progress
    click(browser, "Tiếp theo")
    assert re.fullmatch(r"Bước 3/\d+", browser.run(PROGRESS) or "")
    no_overflow(browser)

    browser.run(f"{W}.querySelector('.end').click()")
    assert browser.run(STORED) == [] and browser.run(LOG) == [] and not browser.run(OPEN)
    browser.open(second)
    assert browser.run(STORED) == [] and browser.run(LOG) == [] and not browser.run(OPEN)


def test_widget_keyboard_only(server: WidgetServer, portal: Portal, browser: Browser) -> None:
    fresh(browser, portal.url + "/index.html", 1280)
    browser.run(f"{W}.querySelector('.launcher').focus()")
    browser.press("Enter")
    answered(browser, 0)
    assert browser.run(f"{W}.activeElement === {W}.querySelector('input')"), "focus moves into the panel"
    shown = len(browser.run(LOG))
    browser.type("lam lai cccd")
    browser.press("Enter")
    assert answered(browser, shown)[0] == "> lam lai cccd"
    assert browser.run(f"{W}.activeElement === {W}.querySelector('input')")
    browser.press("Escape")
    assert not browser.run(OPEN)
    assert browser.run(f"{W}.activeElement === {W}.querySelector('.launcher')"), "focus back on the launcher"
    assert browser.run(f"{W}.querySelector('.launcher').getAttribute('aria-expanded')") == "false"
    assert browser.run(f"{W}.querySelector('.sr').getAttribute('aria-live')") == "polite"
    assert browser.run(f"{W}.querySelector('.sr').textContent"), "the last reply went to the live region"


def test_widget_sends_once_while_a_reply_is_pending(server: WidgetServer, portal: Portal, browser: Browser) -> None:
    fresh(browser, portal.url + "/index.html", 1280)
    browser.run(f"{W}.querySelector('.launcher').click()")
    shown = len(answered(browser, 0))
    browser.run(
        f"const i = {W}.querySelector('input'), f = {W}.querySelector('form');"
        "i.value = 'làm hộ chiếu'; f.requestSubmit(); i.value = 'làm hộ chiếu'; f.requestSubmit(); f.requestSubmit()"
    )
    replies = answered(browser, shown)
    assert [t for t in replies if t.startswith("> ")] == ["> làm hộ chiếu"]


def test_widget_options_from_the_script_tag(server: WidgetServer, portal: Portal, browser: Browser) -> None:
    fresh(browser, portal.url + "/index.html", 1280)
    browser.run(f"{W}.querySelector('.launcher').click()")
    answered(browser, 0)
    assert browser.run(f"{W}.querySelector('h2').textContent") == "Trợ lý ảo của tỉnh"
    assert browser.run(f"getComputedStyle({W}.querySelector('.launcher')).backgroundColor") == "rgb(11, 83, 148)"
    assert browser.run(f"{W}.querySelector('.launcher').getBoundingClientRect().left") < 100  # data-position="left"
    # the portal's hostile CSS (lime buttons, hidden inputs, serif) does not reach into the widget
    assert browser.run(f"getComputedStyle({W}.querySelector('input')).display") != "none"
    assert "Georgia" not in browser.run(f"getComputedStyle({W}.querySelector('.m')).fontFamily")


def test_widget_refused_on_an_origin_not_allowed(server: WidgetServer, stranger: Portal, browser: Browser) -> None:
    preflight = httpx.options(
        f"{server.url}/webhooks/web/webhook",
        headers={"Origin": stranger.url, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers
    fresh(browser, stranger.url + "/index.html", 1280)
    browser.run(f"{W}.querySelector('.launcher').click()")
    assert "mất kết nối" in " ".join(answered(browser, 0))
    assert browser.run(STORED) == []  # no conversation was opened


def test_widget_staff_replies_polled_while_with_staff(server: WidgetServer, portal: Portal, browser: Browser) -> None:
    fresh(browser, portal.url + "/index.html", 1280)
    browser.run(f"{W}.querySelector('.launcher').click()")
    answered(browser, 0)
    say(browser, "tôi muốn đăng ký tạm trú")
    polls = "performance.getEntriesByType('resource').filter(e => e.name.includes('/staff-messages')).length"
    assert browser.run(polls) == 0, "no poll before the conversation is with staff"
    assert "cán bộ" in " ".join(say(browser, "cho tôi gặp cán bộ")).lower()
    assert server.cli("staff", "add", "canbo-widget").returncode == 0
    with httpx.Client(base_url=server.url, follow_redirects=False) as desk:
        assert (
            staff_login(desk, "canbo-widget", STAFF_PASSWORD).status_code == 303
        )
        queue = desk.get("/staff").text
        handoff = re.findall(r"/staff/handoffs/(\d+)", queue)[0]
        page = desk.get(f"/staff/handoffs/{handoff}").text
        assert "Web" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        desk.post(f"/staff/handoffs/{handoff}/reply", data={"text": "Chào bạn, cán bộ một cửa đây.", "csrf": csrf})
        browser.wait_for(f"({LOG}).includes('Cán bộ: Chào bạn, cán bộ một cửa đây.')", timeout=15)
        desk.post(f"/staff/handoffs/{handoff}/close", data={"csrf": csrf})
    browser.wait_for(f"({LOG}).some(t => t.startsWith('Cán bộ đã kết thúc hỗ trợ'))", timeout=15)
    stopped = browser.run(polls)
    browser.run("new Promise(r => setTimeout(r, 6000))")
    assert browser.run(polls) == stopped, "polling stops once the conversation is handed back"


def test_widget_forgets_after_the_idle_time(server: WidgetServer, portal: Portal, browser: Browser) -> None:
    fresh(browser, portal.url + "/index.html", 1280)
    browser.run(f"{W}.querySelector('.launcher').click()")
    answered(browser, 0)
    say(browser, "làm hộ chiếu")
    assert browser.run(STORED) == ["tldvc"]
    # 31 minutes without use (the default idle time is 30): the next page shows nothing and keeps nothing
    browser.run(
        "const s = JSON.parse(localStorage.tldvc); s.last -= 31 * 60000; localStorage.tldvc = JSON.stringify(s)"
    )
    browser.open(portal.url + "/thu-tuc.html")
    assert browser.run(STORED) == [] and browser.run(LOG) == [] and not browser.run(OPEN)


def test_widget_respects_reduced_motion(server: WidgetServer, portal: Portal, browser: Browser) -> None:
    fresh(browser, portal.url + "/index.html", 1280)
    browser.media("prefers-reduced-motion", "reduce")
    try:
        browser.run(f"{W}.querySelector('.launcher').click()")
        assert browser.run(f"getComputedStyle({W}.querySelector('.panel')).animationName") == "none"
        assert browser.run(f"getComputedStyle({W}.querySelector('.log')).scrollBehavior") == "auto"
    finally:
        browser.media("prefers-reduced-motion", "")
    browser.run(f"{W}.querySelector('.launcher').click()")
    browser.run(f"{W}.querySelector('.launcher').click()")
    assert browser.run(f"getComputedStyle({W}.querySelector('.panel')).animationName") != "none"
