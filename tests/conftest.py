"""Shared fixtures (one conftest for the whole suite; sections by area)."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from assistant.catalogue.service import Catalogue
from assistant.db.migrate import upgrade
from assistant.db.session import make_engine

# --- catalogue: procedure records and the database ------------------------------------------------

#: Small valid records (6 of the 26 keys) used by catalogue, search and API tests.
RECORDS_DIR = Path(__file__).parent / "data" / "records"


@pytest.fixture
def records_dir() -> Path:
    """The folder of fixture records (read-only: copy it with ``records_copy`` to change files)."""
    return RECORDS_DIR


@pytest.fixture
def records_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture records, in a folder named ``procedures``."""
    target = tmp_path / "procedures"
    shutil.copytree(RECORDS_DIR, target)
    return target


@pytest.fixture(scope="session")
def fixture_catalogue() -> Catalogue:
    """A catalogue of the fixture records."""
    return Catalogue.from_directory(RECORDS_DIR)


@pytest.fixture
def migrated_engine() -> Iterator[Engine]:
    """An in-memory SQLite database with our tables (Alembic head)."""
    engine = make_engine("sqlite://")
    upgrade(engine)
    yield engine
    engine.dispose()
