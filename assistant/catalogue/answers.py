"""A citizen's answers to a record's interview questions, and which items of the record apply to them.

Steps, documents, fees and caveats may carry ``when``: question id → the option ids for which they apply.
:func:`applies` decides one item; :func:`answer_cases` lists every full set of answers an item applies to (a fee's
successor must cover each of them: :meth:`~assistant.catalogue.schema.Procedure.has_successor`).
"""

from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["Answers", "answer_cases", "applies"]

#: The citizen's answers to a record's questions: question id → option id (or several option ids).
Answers = Mapping[str, str | Sequence[str]]


class _Question(Protocol):
    """What :func:`answer_cases` reads of a record's question (:class:`~assistant.catalogue.schema.Question`)."""

    @property
    def id(self) -> str: ...

    @property
    def options(self) -> Sequence["_Option"]: ...


class _Option(Protocol):
    @property
    def id(self) -> str: ...


def applies(when: Mapping[str, Sequence[str]] | None, answers: Answers) -> bool:
    """Tell whether an item with condition ``when`` applies to ``answers``.

    Every question named in ``when`` must have been answered with one of its listed options. A question
    the citizen has not answered rules nothing out (we would rather show an item than hide one needed).

    Args:
        when: question id → option ids, or None for an item that always applies.
        answers: question id → chosen option id, or several ids.

    Returns:
        True when the item applies.

    Example:
        >>> applies({"situation": ["lost"]}, {"situation": "lost"})
        True
        >>> applies({"situation": ["lost"]}, {"situation": "first"})
        False
    """
    if not when:
        return True
    for question_id, option_ids in when.items():
        answer = answers.get(question_id)
        if answer is None:
            continue
        chosen = {str(a) for a in answer} if isinstance(answer, list | tuple | set) else {str(answer)}
        if not chosen & set(option_ids):
            return False
    return True


def answer_cases(questions: Sequence[_Question], when: Mapping[str, Sequence[str]] | None) -> list[dict[str, str]]:
    """Every full set of answers (one option per question) for which an item with ``when`` applies."""
    cases: list[dict[str, str]] = [{}]
    for question in questions:
        allowed = (when or {}).get(question.id)
        options = [o.id for o in question.options if allowed is None or o.id in allowed]
        cases = [{**case, question.id: option} for case in cases for option in options]
    return cases
