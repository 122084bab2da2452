"""Alembic migrations of our own tables; run them with :func:`assistant.db.migrate.upgrade`."""
