"""FastAPI dependencies: what routes take from ``app.state`` (set once in the lifespan).

Routes declare ``catalogue: CatalogueDep``, ``db_engine: DbEngineDep``, ``conversations: ConversationsDep``;
tests swap implementations with ``app.dependency_overrides``. Two engines, two names: ``DbEngineDep`` is
SQLAlchemy's (our tables), ``ConversationsDep`` the :class:`~assistant.engine.ConversationEngine` (Rasa's
side), None while the model loads or when the app runs without one.
"""

from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from assistant.catalogue.service import Catalogue
from assistant.settings import Settings

__all__ = [
    "CatalogueDep",
    "ConversationsDep",
    "DbEngineDep",
    "HandoffsDep",
    "SettingsDep",
    "get_catalogue",
    "get_conversations",
    "get_db_engine",
    "get_handoffs",
    "get_settings_of_app",
]


def get_catalogue(request: Request) -> Catalogue:
    """Return the procedure catalogue loaded in the lifespan."""
    return request.app.state.catalogue


def get_db_engine(request: Request) -> Engine:
    """The SQLAlchemy engine of our database (made in the lifespan)."""
    return request.app.state.db_engine


def get_conversations(request: Request) -> Any:
    """The :class:`~assistant.engine.ConversationEngine`, or None while the model loads (or without one)."""
    return getattr(request.app.state, "engine", None)


def get_handoffs(request: Request) -> Any:
    """The app's :class:`~assistant.handoff.HandoffService`."""
    return request.app.state.handoffs


def get_settings_of_app(request: Request) -> Settings:
    """The settings the app was made with (``create_app(settings=...)``)."""
    return request.app.state.settings


CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
DbEngineDep = Annotated[Engine, Depends(get_db_engine)]
ConversationsDep = Annotated[Any, Depends(get_conversations)]
HandoffsDep = Annotated[Any, Depends(get_handoffs)]
SettingsDep = Annotated[Settings, Depends(get_settings_of_app)]
