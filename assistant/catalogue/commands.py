"""``assistant procedures validate|load``: the catalogue commands behind the CLI.

Each returns a process exit code (0 = success) and writes its result for people: the summary on stdout,
problems on stderr, one per line (``procedures/ho-chieu.yml: fees.0.valid_to: invalid date ...``).
"""

import logging
import sys
from datetime import date
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from assistant.catalogue.checks import check_dates
from assistant.catalogue.loader import load_procedures
from assistant.catalogue.record_files import load_directory
from assistant.db.migrate import upgrade
from assistant.db.session import make_engine
from assistant.errors import RecordInvalid

__all__ = ["load", "validate"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_DATABASE = 2


def _report_invalid(error: RecordInvalid) -> None:
    problems = str(error).splitlines()
    sys.stderr.write("\n".join(problems) + "\n")
    sys.stderr.write(f"{len(problems)} problem(s); see docs/procedure-record.md\n")


def validate(directory: Path, *, today: date) -> int:
    """Check every record in ``directory`` against the schema, across records, and on ``today``.

    The checks on ``today`` (:func:`~assistant.catalogue.checks.check_dates`) fail on a fee that ended
    with no successor and on a legal basis the record marks as replaced; they warn on old sources.

    Args:
        directory: the records folder, usually ``procedures/``.
        today: the day to judge validity on (the CLI passes Vietnam's today, or ``--today``).

    Returns:
        0 when all records are valid ("N records OK" on stdout, warnings on stderr), 1 otherwise
        (problems on stderr).
    """
    try:
        records = load_directory(directory)
    except RecordInvalid as e:
        _report_invalid(e)
        return EXIT_INVALID
    problems = [p for record in records for p in check_dates(record, today=today, source=f"{directory.name}/{record.key}.yml")]
    errors = [p.message for p in problems if p.level == "error"]
    warnings = [p.message for p in problems if p.level == "warning"]
    for message in warnings:
        sys.stderr.write(f"warning: {message}\n")
    if errors:
        _report_invalid(RecordInvalid("\n".join(errors)))
        return EXIT_INVALID
    note = f" ({len(warnings)} warning(s))" if warnings else ""
    sys.stdout.write(f"{len(records)} records OK on {today.isoformat()}{note}\n")
    return EXIT_OK


def load(database_url: str, directory: Path) -> int:
    """Migrate the database, then validate and load every record of ``directory`` in one transaction.

    Args:
        database_url: the SQLAlchemy URL (``Settings.database_url``).
        directory: the records folder, usually ``procedures/``.

    Returns:
        0 on success (the report on stdout), 1 when a record is invalid (nothing loaded),
        2 when the database fails.
    """
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        report = load_procedures(engine, directory)
    except RecordInvalid as e:
        _report_invalid(e)
        return EXIT_INVALID
    except SQLAlchemyError as e:
        logger.debug("loading procedures into the database failed", exc_info=True)
        sys.stderr.write(f"database error: {e}\n")
        return EXIT_DATABASE
    finally:
        engine.dispose()
    sys.stdout.write(report.summary() + "\n")
    return EXIT_OK
