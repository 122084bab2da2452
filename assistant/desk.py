"""What the staff desk reads about hand-offs: the queue and one hand-off (the writes are in HandoffService).

Example:
    >>> active, closed = load_queue(db_engine)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import desc, select
from sqlalchemy.engine import Engine

from assistant.catalogue.schema import Procedure
from assistant.catalogue.service import Catalogue
from assistant.db.models import Handoff, HandoffStatus
from assistant.db.session import get_detached, session_scope
from assistant.errors import ProcedureNotFound

__all__ = ["CLOSED_IN_QUEUE", "answer_rows", "flat_answers", "get_handoff", "load_queue", "procedure_label", "procedure_or_none"]

#: Closed hand-offs listed under the open ones.
CLOSED_IN_QUEUE = 50


def load_queue(db_engine: Engine, *, closed_limit: int = CLOSED_IN_QUEUE) -> tuple[list[Handoff], list[Handoff]]:
    """Open and claimed hand-offs (newest first), then the latest closed ones."""
    with session_scope(db_engine) as session:
        active = list(
            session.execute(
                select(Handoff)
                .where(Handoff.status != HandoffStatus.closed.value)  # open or claimed (a check constraint)
                .order_by(desc(Handoff.created_at), desc(Handoff.id))
            ).scalars()
        )
        closed = list(
            session.execute(
                select(Handoff)
                .where(Handoff.status == HandoffStatus.closed.value)
                .order_by(desc(Handoff.updated_at), desc(Handoff.id))
                .limit(closed_limit)
            ).scalars()
        )
        session.expunge_all()
    return active, closed


def get_handoff(db_engine: Engine, handoff_id: int) -> Handoff | None:
    """One hand-off, detached from its session, or None."""
    return get_detached(db_engine, Handoff, handoff_id)


def procedure_or_none(catalogue: Catalogue, key: str | None) -> Procedure | None:
    """The catalogue's procedure ``key``, or None (no key, or not in the catalogue)."""
    if not key:
        return None
    try:
        return catalogue.get(key)
    except ProcedureNotFound:
        return None


def procedure_label(catalogue: Catalogue, key: str | None) -> str:
    """A procedure's name, its key when it left the catalogue, "Chưa xác định" without one."""
    procedure = procedure_or_none(catalogue, key)
    if procedure is not None:
        return procedure.name
    return key or "Chưa xác định"


def answer_rows(procedure: Procedure | None, answers: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(question, answer) pairs in words; unknown ids are shown as they are."""
    questions = {q.id: q for q in procedure.questions} if procedure else {}
    rows = []
    for question_id, value in answers.items():
        question = questions.get(question_id)
        options = {o.id: o.label for o in question.options} if question else {}
        chosen = value if isinstance(value, list) else [value]
        rows.append(
            (
                question.question if question else str(question_id),
                ", ".join(options.get(str(v), str(v)) for v in chosen),
            )
        )
    return rows


def flat_answers(answers: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(question id, option id) pairs, one per chosen option: a checklist link's query string."""
    for question_id, value in answers.items():
        for option_id in value if isinstance(value, list) else [value]:
            yield str(question_id), str(option_id)
