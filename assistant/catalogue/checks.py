"""Checks beyond one record's shape: what depends on the day (:func:`check_dates`) and what spans records
(:func:`check_records`).

``assistant procedures validate`` runs both: a fee that ended with no successor, a legal basis the record marks as
replaced, a source grown old (on the day given, Vietnam's today by default); prerequisites without a record, a code
used twice.
"""

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import NamedTuple

from assistant.catalogue.schema import Procedure, ReplacedAct

__all__ = ["ENDING_SOON_DAYS", "STALE_AFTER_MONTHS", "Problem", "check_dates", "check_records"]


class Problem(NamedTuple):
    """One finding of :func:`check_dates`: an ``error`` fails validation, a ``warning`` is only reported."""

    level: str
    message: str


def _months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def _names_replaced(text: str, replaced: ReplacedAct) -> bool:
    """A legal-basis text cites a replaced act as current: it names the act and not its replacement."""
    return replaced.act in text and replaced.by not in text


#: How old a record's newest source may be before validation warns.
STALE_AFTER_MONTHS = 6
#: Warn this many days before a fee ends without a successor.
ENDING_SOON_DAYS = 31


def check_dates(record: Procedure, *, today: date, source: str | None = None) -> list[Problem]:
    """Check what depends on the day: fees that ended, acts that were replaced, sources grown old.

    Errors: a fee whose validity ended with no successor (:meth:`Procedure.has_successor`); a current fee
    or a ``legal_basis`` entry citing an act that ``replaced_acts`` marks as replaced (from ``since``).
    Warnings: the newest source (``sources[].accessed`` or ``verified_on``) is older than 6 months; a fee
    ends within a month with no successor.

    Args:
        record: a validated record.
        today: the day to judge on (Vietnam's date; tests pass the day they need).
        source: how to name the record in messages (default ``procedures/<key>.yml``).

    Returns:
        The problems, errors first.
    """
    name = source or f"procedures/{record.key}.yml"
    errors: list[Problem] = []
    warnings: list[Problem] = []
    replaced = [r for r in record.replaced_acts if r.since is None or r.since <= today]
    for i, fee in enumerate(record.fees):
        if fee.valid_to is not None and not record.has_successor(fee):
            if fee.valid_to < today:
                errors.append(Problem("error", (
                    f"{name}: fees.{i}: {fee.label!r} ended on {fee.valid_to.isoformat()} and no fee takes over "
                    "(add the fee that applies from the day after, amount null if not confirmed)"
                )))
            elif fee.valid_to <= today + timedelta(days=ENDING_SOON_DAYS):
                warnings.append(Problem("warning", (
                    f"{name}: fees.{i}: {fee.label!r} ends on {fee.valid_to.isoformat()} and no fee takes over"
                )))
        if fee.legal_basis and not (fee.valid_to is not None and fee.valid_to < today):
            for act in replaced:
                if _names_replaced(fee.legal_basis, act):
                    errors.append(Problem("error", (
                        f"{name}: fees.{i}.legal_basis: {act.act} is replaced by {act.by} (replaced_acts); "
                        "end the fee (valid_to) or cite the new act"
                    )))
    for i, basis in enumerate(record.legal_basis):
        for act in replaced:
            if _names_replaced(basis, act):
                errors.append(Problem("error", (
                    f"{name}: legal_basis.{i}: {act.act} is replaced by {act.by} (replaced_acts); cite the new act"
                )))
    newest = max([s.accessed for s in record.sources if s.accessed] + [record.verified_on])
    if newest < _months_before(today, STALE_AFTER_MONTHS):
        warnings.append(Problem("warning", (
            f"{name}: sources: newest source checked on {newest.isoformat()}, more than "
            f"{STALE_AFTER_MONTHS} months ago; re-check the facts against the official pages"
        )))
    return errors + warnings


def check_records(
    records: Sequence[Procedure], *, folder: str = "procedures", present: Iterable[str] = ()
) -> list[str]:
    """Check what spans records: prerequisites have a record, codes are unique.

    Args:
        records: validated records.
        folder: the folder name used in messages.
        present: keys of other files in the folder (e.g. invalid ones), which count as existing.

    Returns:
        One message per problem (empty when all is well).
    """
    problems: list[str] = []
    keys = {r.key for r in records} | set(present)
    code_owner: dict[str, str] = {}
    for record in records:
        source = f"{folder}/{record.key}.yml"
        for i, prerequisite in enumerate(record.prerequisites):
            if prerequisite not in keys:
                problems.append(f"{source}: prerequisites.{i}: no record for {prerequisite!r}")
        if record.code is None:
            continue
        owner = code_owner.setdefault(record.code, record.key)
        if owner != record.key:
            problems.append(f"{source}: code: {record.code!r} is already the code of {owner}")
    return problems
