"""Alembic revisions, one file per change, named ``YYYY_MM_DD_<slug>.py``."""
