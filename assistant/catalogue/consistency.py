"""Rules between the fields of one procedure record, checked when the record is validated.

:class:`~assistant.catalogue.schema.Procedure` runs :func:`cross_field_problems` in its root validator: ``when``
conditions must name real questions and options, a document that is not needed needs a reason (and only it),
prerequisites are other procedures and not repeated, a record without a code says why in a caveat, step texts carry
no fee figures (fees go in ``fees``, with their validity dates), a record's codes are not repeated.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from assistant.catalogue.fields import CaveatTopic

__all__ = ["cross_field_problems", "raise_on_duplicates"]

#: A VND figure in running text: ``100.000 đồng``, ``15.000đ``.
_MONEY = re.compile(r"\b\d{1,3}(?:[.,]\d{3})+\s*(?:đồng|đ\b|VND|vnđ)", re.IGNORECASE)


def raise_on_duplicates(ids: list[str], *, what: str) -> None:
    """Refuse a list of ids with one id twice (``what`` names them in the message)."""
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def cross_field_problems(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """Yield (field path, message) for inconsistencies between fields of one record."""
    options = {q.id: {o.id for o in q.options} for q in values["questions"]}
    for section in ("steps", "documents", "fees", "caveats"):
        for i, item in enumerate(values[section]):
            for question_id, option_ids in (item.when or {}).items():
                path = f"{section}.{i}.when.{question_id}"
                if question_id not in options:
                    yield path, f"unknown question id {question_id!r}"
                    continue
                for option_id in option_ids:
                    if option_id not in options[question_id]:
                        yield path, f"unknown option id {option_id!r} of question {question_id!r}"
    for i, doc in enumerate(values["documents"]):
        if doc.not_needed and doc.reason is None:
            yield f"documents.{i}.reason", "required when not_needed is true"
        if not doc.not_needed and doc.reason is not None:
            yield f"documents.{i}.reason", "only for documents with not_needed: true (use note)"
    key = values["key"]
    seen: set[str] = set()
    for i, prerequisite in enumerate(values["prerequisites"]):
        if prerequisite == key:
            yield f"prerequisites.{i}", "a procedure cannot be its own prerequisite"
        if prerequisite in seen:
            yield f"prerequisites.{i}", f"duplicate prerequisite {prerequisite!r}"
        seen.add(prerequisite)
    if values["code"] is None and not any(CaveatTopic.code in c.about for c in values["caveats"]):
        yield "caveats", "a record without code needs a caveat with about: [code] saying why (and how to find the procedure)"
    for i, step in enumerate(values["steps"]):
        if _MONEY.search(step.text):
            yield f"steps.{i}.text", "no fee figures in step texts: fees go in `fees` (with their validity dates)"
    codes = ([values["code"]] if values["code"] else []) + [c.code for c in values["other_codes"]]
    for i, other in enumerate(values["other_codes"]):
        if codes.count(other.code) > 1:
            yield f"other_codes.{i}.code", f"code {other.code!r} appears twice in this record"
