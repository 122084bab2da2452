"""The staff console in a real headless Chromium: an officer logs in through the form (its anti-forgery token
included) and the analytics page shows its four charts, drawn as inline SVG with bars where there is data.

The app runs behind a real uvicorn on loopback, without the trained model (the console needs none).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.catalogue.loader import load_procedures
from assistant.db.migrate import upgrade
from assistant.db.models import Feedback
from assistant.db.session import make_engine, session_scope
from assistant.main import create_app
from assistant.settings import Settings
from assistant.staff import add_staff_user
from tests.assistant.api.test_login_throttle import served
from tests.browser import CHROMIUM, Browser
from tests.postgres import unavailable

ROOT = Path(__file__).resolve().parent.parent
USERNAME, PASSWORD = "canbo-bieudo", "mat-khau-bieu-do"
CHARTS = ("asked", "understood", "guides", "ratings")


@pytest.fixture(scope="module")
def console_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'assistant.db'}"
    engine = make_engine(url)
    upgrade(engine)
    load_procedures(engine, ROOT / "procedures")
    with session_scope(engine) as session:
        session.add_all([Feedback(sender_id=f"c{r}", channel="web", procedure_key="ho-chieu", rating=r) for r in (3, 5)])
    engine.dispose()
    add_staff_user(url, USERNAME, PASSWORD)
    app = create_app(settings=Settings(database_url=url), load_model=False)
    with served(app, forwarded_allow_ips="127.0.0.1") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        unavailable("the console's browser test needs Debian's chromium (apt-get install chromium)")
    opened = Browser()
    yield opened
    opened.close()


def test_console_browser_analytics_charts_render(console_url: str, browser: Browser) -> None:
    browser.viewport(1280, 900)
    browser.open(f"{console_url}/staff/login?next=%2Fstaff%2Fanalytics")
    browser.run(
        f"document.getElementById('username').value = {json.dumps(USERNAME)};"
        f"document.getElementById('password').value = {json.dumps(PASSWORD)};"
        "document.querySelector('form').submit()"
    )
    browser.wait_for("location.pathname === '/staff/analytics' && document.readyState === 'complete'")
    shown = browser.run(
        """Array.from(document.querySelectorAll('svg.chart')).map(svg => {
            const box = svg.getBoundingClientRect();
            return {name: svg.dataset.chart, width: box.width, height: box.height,
                    bars: Array.from(svg.querySelectorAll('rect.bar')).filter(r => r.getBoundingClientRect().height > 0).length,
                    label: svg.getAttribute('aria-label')};
        })"""
    )
    assert [c["name"] for c in shown] == list(CHARTS)
    assert all(c["width"] > 200 and c["height"] > 30 and c["label"] for c in shown), shown
    ratings = next(c for c in shown if c["name"] == "ratings")
    assert ratings["bars"] == 1, shown  # today's two ratings: one column, average 4
    assert browser.run("document.querySelector('svg.chart[data-chart=ratings] rect.bar title').textContent").endswith(": 4,0")
    # nothing but the page itself was loaded (no chart library, no network)
    assert browser.run("performance.getEntriesByType('resource').filter(r => !r.name.startsWith(location.origin)).length") == 0
