"""What the conversation already knows: the procedure talked about, the aspect asked last, the citizen's situation.

Slots (all in the tracker store, so they survive a restart):

- ``procedure``: the procedure the conversation is about now (a follow-up such as "cần giấy tờ gì" is about it);
- ``aspect``: the aspect asked last ("còn đổi bằng lái thì sao" asks it again, of another procedure);
- ``known_answers``: ``{procedure key: {question id: option id}}``: every answer to a record's interview
  question the citizen has given, by button or in their own words ("mất cccd rồi" → ``situation: lost``);
- ``guide_procedure`` / ``guide_step``: the walkthrough being followed and the 0-based step shown, which a side
  question does not move.

Every reply about a procedure carries the answer metadata of the REST contract:
``{"procedure", "aspect", "step", "steps"}`` (see :func:`meta`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional

from rasa_sdk import Tracker

from assistant.catalogue.situations import SituationCues

SITUATIONS_FILE = Path(__file__).resolve().parent.parent / "nlu_data" / "situations.yml"


@lru_cache(maxsize=1)
def situation_cues() -> SituationCues:
    """The situation phrases of ``nlu_data/situations.yml``, read once per process."""
    return SituationCues.from_file(SITUATIONS_FILE)


def meta(key: Optional[str], aspect: Optional[str], step: Optional[int] = None, steps: Optional[int] = None) -> Dict[str, Any]:
    """The answer metadata of a reply about procedure ``key`` (``step`` is 1-based)."""
    return {"procedure": key, "aspect": aspect, "step": step, "steps": steps}


def known_answers(tracker: Tracker, key: str) -> Dict[str, str]:
    """What the citizen has said about their situation for procedure ``key``: question id → option id.

    Earlier answers (buttons, the guide's questions, the citizen's own words about this procedure or about
    no procedure in particular) come first; the latest message, read last, overrides them.
    """
    stored = tracker.get_slot("known_answers")
    answers: Dict[str, str] = {}
    cues = situation_cues()
    for event in tracker.events:
        if event.get("event") != "user":
            continue
        parsed = event.get("parse_data") or {}
        about = (parsed.get("procedure") or {}).get("key")
        if about in (None, key):
            answers.update(cues.answers(key, event.get("text") or ""))
    if isinstance(stored, dict) and isinstance(stored.get(key), dict):
        answers.update(stored[key])
    answers.update(cues.answers(key, tracker.latest_message.get("text") or ""))
    return answers


def remember(tracker: Tracker, key: str, answers: Dict[str, str]) -> Dict[str, Dict[str, str]]:
    """The ``known_answers`` slot with ``answers`` for ``key`` merged in."""
    stored = tracker.get_slot("known_answers")
    merged = {k: dict(v) for k, v in stored.items()} if isinstance(stored, dict) else {}
    merged.setdefault(key, {}).update(answers)
    return merged
