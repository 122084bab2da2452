"""The catalogue the app serves: records by key, search, and personalised checklists.

Built once in the app's lifespan (``Catalogue.from_db(engine)``) and kept on ``app.state.catalogue``; the
actions, the procedure API and the staff console all read it. It holds validated
:class:`~assistant.catalogue.schema.Procedure` records and never writes: loading is
:func:`assistant.catalogue.loader.load_procedures`.

Example:
    >>> catalogue = Catalogue.from_db(engine)
    >>> catalogue.search("cccd")[0].key
    'the-can-cuoc'
    >>> catalogue.checklist("ho-chieu", {"situation": "lost"}).needed[0].name
    'Tờ khai đề nghị cấp hộ chiếu (mẫu TK01, TT 31/2023/TT-BCA)'
"""

import logging
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.engine import Engine

from assistant.catalogue.answers import Answers
from assistant.catalogue.dates import vietnam_today
from assistant.catalogue.fields import PROCEDURE_KEYS
from assistant.catalogue.record_files import load_directory, parse_record
from assistant.catalogue.schema import AppliedFee, Document, Procedure, Source, TextFact
from assistant.catalogue.search import SearchHit, SearchIndex
from assistant.db.models import ProcedureRow
from assistant.db.session import session_scope
from assistant.errors import ProcedureNotFound

__all__ = ["Catalogue", "Checklist"]

logger = logging.getLogger(__name__)


class Checklist(BaseModel):
    """What a citizen needs for one procedure, given their answers: what to prepare and what it costs.

    Attributes:
        key: the procedure key.
        code: its code, or None.
        name: its official name.
        short_name: its name for buttons.
        portal_url: where to do it online.
        answers: the answers the checklist was made for.
        unanswered: ids of questions not answered yet (their conditional items are all included).
        needed: documents to prepare.
        not_needed: documents the citizen must not be asked for, each with its reason.
        fees: fees that apply, each marked expired (show a caution, not the figure) or upcoming.
        processing_time: how long it takes.
        result: what the citizen receives, and where.
        steps_count: how many steps the online walkthrough has for these answers.
        verified_on: when the facts were checked.
        sources: where the facts come from.
        caveats: what is unconfirmed or missing.
    """

    key: str
    code: str | None
    name: str
    short_name: str
    portal_url: str
    answers: dict[str, str | list[str]]
    unanswered: list[str]
    needed: list[Document]
    not_needed: list[Document]
    fees: list[AppliedFee]
    processing_time: TextFact
    result: TextFact
    steps_count: int
    verified_on: date
    sources: list[Source]
    caveats: list[str]

    class Config:
        allow_mutation = False


class Catalogue:
    """Read-only access to validated procedure records, in the order of :data:`PROCEDURE_KEYS`."""

    def __init__(self, procedures: Iterable[Procedure]) -> None:
        """Hold ``procedures`` (one per key) and index them for search."""
        order = {key: i for i, key in enumerate(PROCEDURE_KEYS)}
        ordered = sorted(procedures, key=lambda p: order.get(p.key, len(order)))
        self._by_key = {p.key: p for p in ordered}
        self._index = SearchIndex(list(self._by_key.values()))

    @classmethod
    def from_db(cls, engine: Engine) -> "Catalogue":
        """Read every procedure row and validate its data again.

        Args:
            engine: a migrated database loaded by :func:`assistant.catalogue.loader.load_procedures`.

        Raises:
            RecordInvalid: when a stored record no longer matches the schema (reload the records).
        """
        with session_scope(engine) as session:
            rows = session.execute(select(ProcedureRow.key, ProcedureRow.data)).all()
        procedures = [parse_record(data, source=f"database procedures/{key}") for key, data in rows]
        if not procedures:
            logger.warning("the procedure catalogue is empty: run `assistant procedures load`")
        logger.info("catalogue: %s procedures from the database", len(procedures))
        return cls(procedures)

    @classmethod
    def from_db_or_directory(cls, engine: Engine, directory: Path) -> "Catalogue":
        """The database's catalogue; on a database with none yet, ``directory`` is loaded into it first.

        ``assistant serve`` on a fresh database answers instead of waiting at 503 for someone to run
        ``assistant procedures load``.

        Raises:
            RecordInvalid: a record in ``directory`` is invalid (nothing is loaded; the message lists why).
        """
        catalogue = cls.from_db(engine)
        if len(catalogue):
            return catalogue
        from assistant.catalogue.loader import load_procedures

        report = load_procedures(engine, directory)
        logger.info("the database had no procedures: loaded %s (%s)", directory, report.summary())
        return cls.from_db(engine)

    @classmethod
    def from_directory(cls, path: Path) -> "Catalogue":
        """Validate and hold the records of a folder (tests, and tools that need no database).

        Raises:
            RecordInvalid: listing every problem in the folder.
        """
        return cls(load_directory(path))

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[Procedure]:
        return iter(self._by_key.values())

    def keys(self) -> list[str]:
        """The keys of all records, in catalogue order."""
        return list(self._by_key)

    def get(self, key: str) -> Procedure:
        """Return the record with ``key``.

        Raises:
            ProcedureNotFound: when there is none.
        """
        try:
            return self._by_key[key]
        except KeyError as e:
            raise ProcedureNotFound(key) from e

    def all(self) -> list[Procedure]:
        """All records, in the order of :data:`PROCEDURE_KEYS`."""
        return list(self._by_key.values())

    def search(self, query: str, *, limit: int = 5) -> list[SearchHit]:
        """Rank records for what a citizen typed; see :mod:`assistant.catalogue.search`.

        Args:
            query: free text or a code, with or without diacritics.
            limit: at most this many hits.

        Returns:
            Hits with a score in (0, 1], best first.
        """
        return self._index.search(query, limit=limit)

    def checklist(self, key: str, answers: Answers | None = None, *, today: date | None = None) -> Checklist:
        """Build the personalised checklist of one procedure.

        Args:
            key: the procedure key.
            answers: question id → option id(s); missing questions rule nothing out.
            today: the day fees are judged on (default: Vietnam's today, :func:`vietnam_today`).

        Returns:
            The checklist.

        Raises:
            ProcedureNotFound: for an unknown key.
        """
        procedure = self.get(key)
        answers = dict(answers or {})
        documents = procedure.documents_for(answers)
        return Checklist(
            key=procedure.key,
            code=procedure.code,
            name=procedure.name,
            short_name=procedure.short_name,
            portal_url=procedure.portal_url,
            answers={k: v if isinstance(v, str) else list(v) for k, v in answers.items()},
            unanswered=[q.id for q in procedure.questions if answers.get(q.id) is None],
            needed=documents.needed,
            not_needed=documents.not_needed,
            fees=procedure.fees_for(answers, today=today or vietnam_today()),
            processing_time=procedure.processing_time,
            result=procedure.result,
            steps_count=len(procedure.steps_for(answers)),
            verified_on=procedure.verified_on,
            sources=procedure.sources,
            caveats=[c.text for c in procedure.caveats],
        )
