"""Run our Alembic migrations from code (no ``alembic.ini``).

Example:
    >>> upgrade("sqlite:///var/assistant.db")      # alembic upgrade head
    >>> current_revision(engine)
    '2026_11_23_create_tables'

New revision after a model change (writes ``versions/YYYY_MM_DD_<slug>.py``)::

    .venv/bin/python -m assistant.db.migrate revision "add analytics events"
"""

import logging
import re
import sys
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Engine

from assistant.db.session import make_engine
from assistant.text.formatting import VIETNAM

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

logger = logging.getLogger(__name__)

#: PostgreSQL advisory lock held while migrating (any constant; ASCII of "migr").
MIGRATION_LOCK_KEY = 0x6D696772

#: The Alembic script folder, inside the package.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | URL | None = None) -> Config:
    """Build the Alembic configuration in code.

    Args:
        url: the database URL, when Alembic is to open its own connection.

    Returns:
        A Config whose ``script_location`` is our ``migrations`` folder.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s")
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        # ConfigParser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(engine_or_url: Engine | str | URL, *, revision: str = "head") -> None:
    """Bring the database to ``revision`` (``alembic upgrade head``), in one transaction.

    Args:
        engine_or_url: an engine, or a URL for which a short-lived engine is made.
        revision: the target revision.
    """
    engine = engine_or_url if isinstance(engine_or_url, Engine) else make_engine(engine_or_url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several processes starting together: one migrates, the others wait, then find the head.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        logger.info("database schema at %s", revision)
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def downgrade(engine: Engine, *, revision: str) -> None:
    """Take the database back to ``revision`` (``base`` removes all our tables).

    Args:
        engine: the database.
        revision: the target revision.
    """
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None when it has never been migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """Return the newest revision in our migrations folder."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _new_revision(message: str) -> None:
    """Write a new, empty revision named ``YYYY_MM_DD_<slug>``, for a developer to fill in."""
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]
    command.revision(alembic_config(), message=message, rev_id=f"{datetime.now(VIETNAM):%Y_%m_%d}_{slug}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "revision":
        _new_revision(sys.argv[2])
    else:
        sys.stderr.write('usage: python -m assistant.db.migrate revision "what changes"\n')
        sys.exit(2)
