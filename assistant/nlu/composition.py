"""Composed training examples for the aspect model: a citizen's situation, then a question.

Citizens often tell their story first and ask last: "vợ em vừa sinh bé hôm qua, bệnh viện đã cho giấy
chứng sinh, giờ cần chuẩn bị giấy gì". The training data has both halves, but mostly apart: situations
("vợ em vừa sinh bé") are labelled ``overview`` and short questions ("làm giấy khai sinh cần giấy tờ gì")
carry the other aspects. Trained on those alone, the model learns that situation words mean ``overview``,
and a long story outweighs the few words of the question at its end.

:func:`compose` joins, for each procedure, each of its situation examples (``overview`` examples with no
cue of another aspect) with a few of its short questions, labelled with the question's aspect. The
situation's words then appear under every aspect, so they stop voting, and the question decides — which is
the labelling rule (``docs/labelling.md``). Sampling is seeded: the same data gives the same model.

Example:
    >>> compose(["vợ em mới sinh", "khai sinh cần giấy gì"], ["overview", "documents"], ["ks", "ks"], 1)
    (['vợ em mới sinh, khai sinh cần giấy gì'], ['documents'])
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

from assistant.nlu.aspect_cues import cue_groups
from assistant.text.normalize import expand_abbreviations

_END = ".!?…, "
# An overview example that already asks something ("phải làm gì", "là gì") is not a bare situation.
_ASKS = re.compile(r"\b(lam|la) gi\b")


def _is_situation(text: str, aspect: str) -> bool:
    """An ``overview`` example that asks nothing another aspect would answer."""
    if aspect != "overview":
        return False
    folded = expand_abbreviations(text)
    return not _ASKS.search(folded) and not set(cue_groups(folded)) - {"overview"}


def compose(
    texts: Sequence[str],
    aspects: Sequence[str],
    procedures: Sequence[Optional[str]],
    per_situation: int,
    *,
    max_question_words: int = 14,
    seed: int = 0,
) -> Tuple[List[str], List[str]]:
    """Situation + question examples from aspect-labelled training examples.

    Args:
        texts: the aspect-labelled training messages.
        aspects: their aspects.
        procedures: their procedures (a situation is only joined with a question about the same one;
            examples without one are left out).
        per_situation: how many questions to join to each situation.
        max_question_words: longer questions carry their own situation and are not used.
        seed: the sampling seed.

    Returns:
        The composed messages and their aspects (the question's).
    """
    situations: Dict[str, List[str]] = defaultdict(list)
    questions: Dict[str, List[Tuple[str, str]]] = defaultdict(list)
    for text, aspect, procedure in zip(texts, aspects, procedures, strict=True):
        if not procedure:
            continue
        if _is_situation(text, aspect):
            situations[procedure].append(text)
        elif aspect != "overview" and len(text.split()) <= max_question_words:
            questions[procedure].append((text, aspect))
    rng = random.Random(seed)
    composed: List[str] = []
    labels: List[str] = []
    for procedure in sorted(situations):
        pool = questions.get(procedure, [])
        for situation in situations[procedure]:
            for question, aspect in rng.sample(pool, min(per_situation, len(pool))):
                composed.append(f"{situation.rstrip(_END)}, {_lower_first(question)}")
                labels.append(aspect)
    return composed, labels


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym ("CCCD", "VNeID")."""
    first = text.split(" ", 1)[0]
    if len(first) > 1 and (first.isupper() or not first[1:].islower()):
        return text
    return text[:1].lower() + text[1:]
