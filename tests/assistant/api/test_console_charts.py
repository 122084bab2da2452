"""The analytics page's charts: inline SVG drawn on the server from Rasa's events and our feedback table.

The events are stored through Rasa's own SQL tracker store (the ``save_in_rasa`` fixture), as the app stores them.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi.testclient import TestClient
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered

from assistant.analytics import daily_activity
from assistant.charts import bar_chart, column_chart
from assistant.db.models import Feedback
from assistant.db.session import session_scope
from tests.assistant.api import test_console as console_tests
from tests.assistant.api.test_console import db

# the console's fixtures (an SQLite file with the real records and one officer; a client; a logged-in client)
database_url = console_tests.database_url
client = console_tests.client
staff_client = console_tests.staff_client

CHARTS = ("asked", "understood", "guides", "ratings")


def chart(html: str, name: str) -> str:
    match = re.search(rf'<svg class="chart" data-chart="{name}".*?</svg>', html, re.S)
    assert match, f"no {name} chart"
    return match.group(0)


def test_charts_escape_labels_and_scale_bars() -> None:
    svg = bar_chart("x", "Tiêu đề <b>", [("<script>", 10.0), ("b", 5.0)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "Tiêu đề &lt;b&gt;" in svg
    widths = [float(w) for w in re.findall(r'<rect class="bar" x="[\d.]+" y="\d+" width="([\d.]+)"', svg)]
    assert len(widths) == 2 and abs(widths[0] - 2 * widths[1]) < 0.2
    days = column_chart("y", "Theo ngày", [("01/12", None), ("02/12", 50.0)], top=100)
    assert days.count('class="bar"') == 1 and "01/12" in days
    assert "Chưa có dữ liệu." in column_chart("z", "Trống", [("01/12", None)])


def test_console_analytics_page_draws_four_charts_from_the_events(
    staff_client: TestClient, database_url: str, save_in_rasa: Any
) -> None:
    now = time.time()
    guide = {"procedure": "ho-chieu", "aspect": "result", "step": None, "steps": None}
    asked = {"intent": {"name": "ask_procedure", "confidence": 0.9}, "procedure": {"key": "ho-chieu", "confidence": 0.9}}
    save_in_rasa(
        database_url,
        "a",
        [
            UserUttered("làm hộ chiếu", parse_data=asked, timestamp=now - 5),
            UserUttered("abc xyz", parse_data={"intent": {"name": "nlu_fallback", "confidence": 0.3}}, timestamp=now - 4),
            SlotSet("guide_procedure", "ho-chieu", timestamp=now - 3),
            BotUttered("Xong!", data={"custom": guide}, timestamp=now - 2),
        ],
    )
    with session_scope(db(staff_client)) as session:
        session.add_all([Feedback(sender_id="a", channel="rest", procedure_key="ho-chieu", rating=r) for r in (5, 4)])
    today = daily_activity(db(staff_client))[-1]
    assert (today["messages"], today["understood"], today["guides_started"], today["guides_finished"]) == (2, 1, 1, 1)
    assert (today["ratings"], today["rating_sum"]) == (2, 9)
    html = staff_client.get("/staff/analytics").text
    for name in CHARTS:
        assert 'role="img"' in chart(html, name)
    assert "Cấp hộ chiếu phổ thông ở trong nước" in chart(html, "asked")
    assert ": 50%</title>" in chart(html, "understood")
    assert chart(html, "guides").count('class="bar"') == 1 and ": 1</title>" in chart(html, "guides")
    assert ": 4,5</title>" in chart(html, "ratings")
    # nothing fetched: no script, no external reference in a chart
    assert not any(re.search(r"<script|https?://(?!www\.w3\.org)", chart(html, name)) for name in CHARTS)
