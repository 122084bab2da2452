"""Load ``procedures/*.yml`` into the database: validate everything, then upsert in one transaction.

A load either applies completely or not at all: if any file is invalid, :class:`RecordInvalid` lists all
problems and the database is not touched. Rows are compared by a hash of the validated record, so running
the load again changes nothing (``make run`` loads on every start).

Example:
    >>> report = load_procedures(engine, Path("procedures"))
    >>> report.summary()
    '26 procedures: 0 inserted, 1 updated, 25 unchanged, 0 removed'
"""

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from assistant.catalogue.record_files import load_directory
from assistant.catalogue.schema import Procedure
from assistant.db.models import ProcedureRow, utcnow
from assistant.db.session import session_scope

__all__ = ["LoadReport", "content_hash", "load_procedures"]

logger = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What a load did, by procedure key."""

    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """How many records the folder holds."""
        return len(self.inserted) + len(self.updated) + len(self.unchanged)

    @property
    def changed(self) -> bool:
        """Whether the load changed the database."""
        return bool(self.inserted or self.updated or self.removed)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"{self.total} procedures: {len(self.inserted)} inserted, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed"
        )


def content_hash(data: dict[str, Any]) -> str:
    """Return a stable SHA-256 of a record's JSON data (key order does not matter)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _apply(row: ProcedureRow, record: Procedure, data: dict[str, Any], digest: str) -> None:
    row.code = record.code
    row.name = record.name
    row.level = record.level.value
    row.online = record.online.value
    row.data = data
    row.content_hash = digest
    row.verified_on = record.verified_on
    row.updated_at = utcnow()


def load_procedures(engine: Engine, directory: Path, *, prune: bool = True) -> LoadReport:
    """Validate every record in ``directory`` and upsert them all in one transaction.

    New records are inserted, records whose content changed are updated, the others are left alone.

    Args:
        engine: a migrated database (see :func:`assistant.db.migrate.upgrade`).
        directory: the records folder, usually ``procedures/``.
        prune: also delete rows whose record file is gone, so the database mirrors the folder.

    Returns:
        What was inserted, updated, left unchanged and removed.

    Raises:
        RecordInvalid: when any record is invalid; nothing is written then.
    """
    records = load_directory(directory)
    report = LoadReport()
    with session_scope(engine) as session:
        existing = {row.key: row for row in session.execute(select(ProcedureRow)).scalars()}
        for record in records:
            data = record.to_json_dict()
            digest = content_hash(data)
            row = existing.pop(record.key, None)
            if row is None:
                row = ProcedureRow(key=record.key)
                _apply(row, record, data, digest)
                session.add(row)
                report.inserted.append(record.key)
            elif row.content_hash != digest:
                _apply(row, record, data, digest)
                report.updated.append(record.key)
            else:
                report.unchanged.append(record.key)
        if prune:
            for key, row in sorted(existing.items()):
                session.delete(row)
                report.removed.append(key)
        elif existing:
            logger.warning("procedures in the database without a record file: %s", ", ".join(sorted(existing)))
    logger.info("loaded %s from %s", report.summary(), directory)
    return report
