"""Every date shown or compared is Vietnam's: no code of ours reads the server's local clock.

The server may run in UTC (or anywhere): between 17:00 and 24:00 UTC Vietnam is already on the next day. So
``date.today()``, ``datetime.now()`` without a zone, ``time.strftime(fmt)``, ``time.localtime()`` and
``datetime.fromtimestamp(x)`` without a zone are never used; Vietnam's date comes from
:func:`assistant.catalogue.dates.vietnam_today` (or ``datetime.now(VIETNAM)`` for a report's real date).
"""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path

import pytest

from assistant.catalogue.dates import vietnam_today
from assistant.text.formatting import vn_datetime

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for folder in ("assistant", "actions") for p in (ROOT / folder).rglob("*.py"))


def local_clock_calls(tree: ast.AST) -> list[str]:
    """``module.function(...)`` calls that read the server's local clock or zone."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
        call = f"{owner_name}.{node.func.attr}"
        zoned = len(node.args) > 1 or any(k.arg == "tz" for k in node.keywords)
        if (
            call in ("date.today", "datetime.today", "datetime.utcnow", "time.localtime", "time.ctime", "time.asctime")
            or (call == "datetime.now" and not node.args and not node.keywords)
            or (call == "time.strftime" and len(node.args) < 2)
            or (call in ("datetime.fromtimestamp", "date.fromtimestamp") and not zoned)
        ):
            found.append(f"line {node.lineno}: {call}()")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_server_local_clock(path: Path) -> None:
    assert local_clock_calls(ast.parse(path.read_text(), filename=str(path))) == []


def test_the_check_sees_local_clock_calls() -> None:
    source = "date.today()\ndatetime.now()\ntime.strftime('%Y')\ndatetime.fromtimestamp(1)\ndatetime.now(VIETNAM)\n"
    assert local_clock_calls(ast.parse(source)) == [
        "line 1: date.today()",
        "line 2: datetime.now()",
        "line 3: time.strftime()",
        "line 4: datetime.fromtimestamp()",
    ]


def test_vietnam_is_on_the_next_day_after_17_utc() -> None:
    evening_utc = datetime(2026, 12, 31, 17, 30, tzinfo=timezone.utc)
    assert vietnam_today(now=evening_utc).isoformat() == "2027-01-01"
    assert vn_datetime(evening_utc) == "01/01/2027 00:30"
