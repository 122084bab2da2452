"""The procedure API: search the catalogue and read whole records.

- ``GET /api/procedures?q=&limit=``: ranked ``[{"key", "code", "name", "score"}]``, accent-insensitive and
  abbreviation-aware (``q=cccd`` finds the identity card). Without ``q`` (or with a blank one) it lists all
  procedures in catalogue order with ``"score": null`` (not ranked); ``limit`` then applies only when given.
  ``q`` longer than 200 characters is refused with 422.
- ``GET /api/procedures/{key}``: the whole record as JSON (dates ISO), 404 for an unknown key.
"""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from assistant.api.deps import CatalogueDep
from assistant.catalogue.search import MAX_QUERY_LENGTH
from assistant.errors import ProcedureNotFound

__all__ = ["ProcedureSummary", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/procedures", tags=["procedures"])

DEFAULT_LIMIT = 5
MAX_LIMIT = 50


class ProcedureSummary(BaseModel):
    """One procedure in a list: ``score`` is 0..1 for a search, null for the plain listing."""

    key: str
    code: str | None
    name: str
    score: float | None


@router.get("", response_model=list[ProcedureSummary])
async def list_procedures(
    catalogue: CatalogueDep,
    q: Annotated[
        str | None,
        Query(max_length=MAX_QUERY_LENGTH, description="What the citizen typed, or a code (1.001456)"),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="At most this many results")] = None,
) -> list[ProcedureSummary]:
    """Search procedures, or list them all when ``q`` is empty.

    Example: ``GET /api/procedures?q=lam%20ho%20chieu`` → ``[{"key": "ho-chieu", ..., "score": 1.0}, ...]``.
    """
    if q is None or not q.strip():
        procedures = catalogue.all()[:limit] if limit else catalogue.all()
        return [ProcedureSummary(key=p.key, code=p.code, name=p.name, score=None) for p in procedures]
    hits = catalogue.search(q, limit=limit or DEFAULT_LIMIT)
    return [ProcedureSummary(key=h.key, code=h.code, name=h.name, score=h.score) for h in hits]


@router.get("/{key}")
async def get_procedure(key: str, catalogue: CatalogueDep) -> dict[str, Any]:
    """Return the whole record of ``key``, as validated (see ``docs/procedure-record.md``).

    Raises:
        HTTPException: 404 when no procedure has this key.
    """
    try:
        procedure = catalogue.get(key)
    except ProcedureNotFound as e:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(e)) from e
    return procedure.to_json_dict()
