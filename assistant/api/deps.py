"""FastAPI dependencies: what routes take from ``app.state`` (set once in the lifespan).

Routes declare ``catalogue: CatalogueDep``; tests swap implementations with ``app.dependency_overrides``.
"""

from typing import Annotated

from fastapi import Depends, Request

from assistant.catalogue.service import Catalogue

__all__ = ["CatalogueDep", "get_catalogue"]


def get_catalogue(request: Request) -> Catalogue:
    """Return the procedure catalogue loaded in the lifespan."""
    return request.app.state.catalogue


CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
