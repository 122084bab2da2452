"""``GET /staff/checklist?procedure=<key>&<question_id>=<option_id>``: a printable personalised checklist."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, Response

from assistant.api.deps import CatalogueDep
from assistant.api.routes.console.auth import StaffDep
from assistant.api.routes.console.pages import error_page, render
from assistant.catalogue.schema import Procedure
from assistant.catalogue.service import Catalogue
from assistant.desk import answer_rows, procedure_or_none
from assistant.text.formatting import vn_datetime

__all__ = ["answers_from_query", "checklist_context", "router"]

router = APIRouter(prefix="/staff")


def answers_from_query(procedure: Procedure, params: Any) -> dict[str, str | list[str]]:
    """The procedure's answers in the query string; unknown questions and options are dropped."""
    answers: dict[str, str | list[str]] = {}
    for question in procedure.questions:
        valid = {o.id for o in question.options}
        chosen = [v for v in params.getlist(question.id) if v in valid]
        if len(chosen) == 1:
            answers[question.id] = chosen[0]
        elif chosen:
            answers[question.id] = list(dict.fromkeys(chosen))
    return answers


def checklist_context(catalogue: Catalogue, procedure: Procedure, answers: Mapping[str, Any]) -> dict[str, Any]:
    """What ``checklist.html`` shows for ``procedure`` and the citizen's ``answers`` (the picker filled in)."""
    return {
        "procedures": catalogue.all(),
        "selected": procedure,
        "answers": answers,
        "answer_rows": answer_rows(procedure, answers),
        "unanswered": [q.question for q in procedure.questions if q.id not in answers],
        "checklist": catalogue.checklist(procedure.key, answers),
        "steps": procedure.steps_for(answers),
        "printed_at": vn_datetime(datetime.now(timezone.utc)),
        "case": None,
    }


@router.get("/checklist", response_class=HTMLResponse, include_in_schema=False)
def checklist(request: Request, staff: StaffDep, catalogue: CatalogueDep) -> Response:
    """A printable personalised checklist for a citizen at the desk."""
    key = request.query_params.get("procedure") or ""
    context: dict[str, Any] = {"procedures": catalogue.all(), "selected": None, "checklist": None}
    if key:
        procedure = procedure_or_none(catalogue, key)
        if procedure is None:
            return error_page(
                request,
                status.HTTP_404_NOT_FOUND,
                "Không có thủ tục này trong danh mục.",
                staff=staff,
                back="/staff/checklist",
            )
        context = checklist_context(catalogue, procedure, answers_from_query(procedure, request.query_params))
    return render(request, "checklist.html", context, staff=staff)
