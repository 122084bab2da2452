"""Storage: engine and sessions, table models and Alembic migrations of our own tables."""
