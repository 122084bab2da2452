"""What an operator scrapes at ``/metrics`` (Prometheus text format, the standard ``prometheus_client``).

Counted in this process (each worker process has its own counters; scrape each, or sum them in Prometheus):

- ``assistant_turns_total{channel}``: citizen messages answered;
- ``assistant_turns_understood_total{channel}``: those not parsed as ``nlu_fallback`` (understood rate =
  understood / turns); ``assistant_nlu_fallbacks_total{channel}``: those that were;
- ``assistant_turn_seconds{channel}``: a histogram of the time to answer one message;
- ``assistant_handoffs_created_total{channel}``: hand-offs to staff made by a turn.

Read from the database at each scrape (shared by every process): ``assistant_handoffs{status}``, the hand-offs
by status (``open`` is the number waiting for an officer).

Example:
    >>> TURN_SECONDS.labels(channel="web").observe(0.2)
    >>> b'assistant_turn_seconds_count{channel="web"}' in Metrics().exposition()
    True
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from assistant.db.models import Handoff, HandoffStatus
from assistant.db.session import session_scope
from assistant.engine import TurnHook

__all__ = ["CONTENT_TYPE", "TURN_SECONDS", "Metrics", "counting", "observe_turn"]

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds: a parse is ~50 ms, a turn with a database write ~0.2 s, a cold tracker up to seconds.
TURN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
FALLBACK_INTENT = "nlu_fallback"


class _HandoffCollector(Collector):
    """Hand-offs by status, counted in the database at scrape time."""

    def __init__(self, db_engine: Engine) -> None:
        self._db_engine = db_engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("assistant_handoffs", "Hand-offs by status (open: waiting for an officer).", labels=["status"])
        try:
            with session_scope(self._db_engine) as session:
                counts = dict(session.execute(select(Handoff.status, func.count()).group_by(Handoff.status)).all())
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is busy
            logger.exception("metrics: could not count hand-offs")
            return
        for state in HandoffStatus:
            family.add_metric([state.value], float(counts.get(state.value, 0)))
        yield family


#: The process's counters (one set per process, whatever number of apps it makes: tests make many).
PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)
TURNS = Counter("assistant_turns", "Citizen messages answered.", ["channel"], registry=PROCESS_REGISTRY)
UNDERSTOOD = Counter(
    "assistant_turns_understood", "Messages not parsed as nlu_fallback.", ["channel"], registry=PROCESS_REGISTRY
)
NLU_FALLBACKS = Counter("assistant_nlu_fallbacks", "Messages parsed as nlu_fallback.", ["channel"], registry=PROCESS_REGISTRY)
HANDOFFS_CREATED = Counter(
    "assistant_handoffs_created", "Hand-offs to staff made by a turn.", ["channel"], registry=PROCESS_REGISTRY
)
TURN_SECONDS = Histogram(
    "assistant_turn_seconds", "Time to answer one message.", ["channel"], buckets=TURN_BUCKETS, registry=PROCESS_REGISTRY
)


def observe_turn(tracker: Any, channel: str) -> None:
    """Count one answered turn from its tracker: understood or fallback, and whether it paused for staff."""
    TURNS.labels(channel=channel).inc()
    latest = getattr(tracker, "latest_message", None)
    intent = ((latest.intent if latest is not None else None) or {}).get("name")
    (NLU_FALLBACKS if intent == FALLBACK_INTENT else UNDERSTOOD).labels(channel=channel).inc()
    for event in reversed(list(tracker.events)):
        kind = getattr(event, "type_name", None)
        if kind == "user":
            break
        if kind == "pause":
            HANDOFFS_CREATED.labels(channel=channel).inc()
            break


def counting(after_turn: TurnHook) -> TurnHook:
    """The engine's after-turn hook, counting each turn before it runs."""

    async def hook(tracker: Any, channel: str) -> list[dict[str, Any]] | None:
        try:
            observe_turn(tracker, channel)
        except Exception:  # noqa: BLE001 - counting never breaks a conversation
            logger.exception("metrics: could not count a turn")
        return await after_turn(tracker, channel)

    return hook


class Metrics:
    """What ``/metrics`` shows for one app: the process's counters and the app's database gauges."""

    def __init__(self, db_engine: Engine | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        if db_engine is not None:
            self.registry.register(_HandoffCollector(db_engine))

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(PROCESS_REGISTRY) + generate_latest(self.registry)
