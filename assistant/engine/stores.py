"""Rasa's stores from our settings: the SQL tracker store, the Redis lock store, and what we put on them.

:class:`~assistant.engine.ConversationEngine` hands these to Rasa as its endpoints (there is no
``endpoints.yml``): :func:`tracker_store_config` translates ``ASSISTANT_DATABASE_URL`` into Rasa's SQL tracker
store settings, :func:`redis_lock_store_config` ``ASSISTANT_REDIS_URL`` into its Redis lock store settings. Once
the agent is loaded, :func:`cache_trackers` puts our tracker cache (and on SQLite our own database engine) on
Rasa's store, and :func:`delete_events` deletes one conversation's rows from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from assistant.settings import Settings

__all__ = ["cache_trackers", "delete_events", "redis_lock_store_config", "tracker_store_config"]


def tracker_store_config(database_url: str) -> dict[str, Any]:
    """Translate our SQLAlchemy URL into Rasa's SQL tracker store settings."""
    url = make_url(database_url)
    config: dict[str, Any] = {"type": "sql", "dialect": url.drivername, "db": url.database}
    if url.drivername.startswith("sqlite"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return config
    config.update(
        url=url.host or "localhost",  # Rasa passes the endpoint's url as the SQL host
        port=url.port,
        username=url.username,
        password=url.password,
        query=dict(url.query) or None,
    )
    return config


def cache_trackers(tracker_store: Any, settings: Settings) -> Any:
    """Put a :class:`~assistant.engine.tracker_cache.TrackerCache` on Rasa's SQL tracker store; None for other stores.

    On SQLite the store also gets our engine (:func:`assistant.db.session.make_engine`: WAL journal,
    ``synchronous=NORMAL``, pooled connections) instead of Rasa's (a new connection and an fsync per turn).
    """
    from assistant.engine.tracker_cache import TrackerCache

    store = getattr(tracker_store, "_tracker_store", tracker_store)
    if not hasattr(store, "session_scope") or settings.tracker_cache_size < 0:
        return None
    if store.engine.url.get_backend_name() == "sqlite":
        from sqlalchemy.orm import sessionmaker

        from assistant.db.session import make_engine

        rasa_engine, store.engine = store.engine, make_engine(settings.database_url)
        store.sessionmaker = sessionmaker(bind=store.engine)
        rasa_engine.dispose()
    return TrackerCache(store, size=settings.tracker_cache_size).install()


def delete_events(store: Any, sender_id: str) -> None:
    """Delete a conversation's rows from Rasa's SQL tracker store (on a worker thread)."""
    with store.session_scope() as session:
        session.query(store.SQLEvent).filter_by(sender_id=sender_id).delete()
        session.commit()


def redis_lock_store_config(redis_url: str) -> dict[str, Any]:
    """Translate ``redis://[:password@]host:port/db`` into Rasa's Redis lock store settings."""
    parts = urlsplit(redis_url)
    return {
        "type": "redis",
        "url": parts.hostname or "localhost",
        "port": parts.port or 6379,
        "db": int(parts.path.strip("/") or 0),
        "password": parts.password,
        "key_prefix": "assistant",
    }
