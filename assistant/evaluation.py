"""NLU evaluation on a labelled held-out file (``assistant evaluate tests/data/heldout.yml``).

Prints procedure top-1/top-3, intent and aspect accuracy, the same for the messages that only describe
a life situation, per-procedure scores and the most frequent confusions; then the same run on a copy
with every diacritic stripped. ``--check-floors`` exits 1 when a score falls below :data:`FLOORS`.
``assistant evaluate --conversations tests/conversations`` plays the multi-turn conversation tests instead
(:mod:`assistant.conversations`); rewriting a report keeps their section.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.engine import load_nlu_agent
from assistant.report_sections import kept_section
from assistant.text.normalize import strip_diacritics

__all__ = ["FLOORS", "PROCEDURE_FLOOR", "evaluate_file", "load_examples", "parse_all", "procedures_below_floor", "score"]

#: Held-out floors, set a little under the measured scores (docs/nlu-evaluation.md). `make test` fails below.
FLOORS: dict[str, float] = {
    "procedure_top1": 0.955,
    "procedure_top3": 0.985,
    "stripped_procedure_top1": 0.955,
    "intent": 0.97,
    "aspect": 0.89,
    "situation_top1": 0.90,
    "situation_top3": 0.96,
}
# Lowered in December 2026 (#11), from 0.96 / 0.99 / 0.96 / 0.97 / 0.90 / 0.92 / 0.98. Real out-of-scope
# questions (land disputes, inheritance, divorce, banks) were added to the training data so that they stay out
# of scope, and follow-ups that name no procedure train a "no procedure" class; a few held-out situations that
# sit on those borders (a land transfer by inheritance or after a notarised sale, a bank asking for the old
# CMND number) now read as out of scope, and every data change moves the composed aspect examples by a message
# or two. Measured then: procedure 96.4% / 98.9%, stripped 96.1%, intent 97.4%, aspect 89.9%, situations
# 91.0% / 97.0% (docs/nlu-evaluation.md). The goals stay: situations top-1 ≥ 90%, aspect ≥ 90%, top-3 ≥ 99%.

#: Held-out top-1 floor for each procedure on its own, so that one procedure cannot collapse behind a good total.
#: Each has 13–28 held-out messages: one miss costs 4–8 points, so the floor leaves room for 2–4 misses. Measured
#: in December 2026 (#11): lowest 86% (dang-ky-bien-dong-dat-dai, 19/22), then 88% (nop-phat-giao-thong,
#: tro-cap-that-nghiep); the others 93–100% (docs/nlu-evaluation.md).
PROCEDURE_FLOOR = 0.75


def procedures_below_floor(scores: Scores, floor: float = PROCEDURE_FLOOR) -> dict[str, float]:
    """The procedures whose held-out top-1 is under ``floor``: {key: top-1}."""
    return {key: hit / total for key, (hit, total) in sorted(scores.per_procedure.items()) if total and hit / total < floor}


@dataclass
class Scores:
    """Accuracy counts over one run."""

    n_procedure: int = 0
    top1: int = 0
    top3: int = 0
    n_situation: int = 0
    situation_top1: int = 0
    situation_top3: int = 0
    n_intent: int = 0
    intent: int = 0
    n_aspect: int = 0
    aspect: int = 0
    per_procedure: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    confusions: Counter = field(default_factory=Counter)
    intent_confusions: Counter = field(default_factory=Counter)

    def rate(self, hits: int, total: int) -> float:
        return hits / total if total else 0.0

    def summary(self) -> dict[str, float]:
        return {
            "procedure_top1": self.rate(self.top1, self.n_procedure),
            "procedure_top3": self.rate(self.top3, self.n_procedure),
            "situation_top1": self.rate(self.situation_top1, self.n_situation),
            "situation_top3": self.rate(self.situation_top3, self.n_situation),
            "intent": self.rate(self.intent, self.n_intent),
            "aspect": self.rate(self.aspect, self.n_aspect),
        }


def load_examples(path: Path) -> list[dict[str, Any]]:
    """Read a held-out file: a YAML list of {text, intent, procedure, aspect, style, situation}."""
    examples = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [e for e in examples if isinstance(e, dict) and "text" in e]


def score(examples: list[dict[str, Any]], parses: list[dict[str, Any]]) -> Scores:
    """Compare parses with labels."""
    scores = Scores()
    for example, parsed in zip(examples, parses, strict=True):
        gold_intent = example.get("intent")
        predicted_intent = (parsed.get("intent") or {}).get("name")
        scores.n_intent += 1
        if predicted_intent == gold_intent:
            scores.intent += 1
        else:
            scores.intent_confusions[(gold_intent, predicted_intent)] += 1
        gold = example.get("procedure")
        if not gold:
            continue
        ranking = [r["key"] for r in parsed.get("procedure_ranking") or []]
        best = (parsed.get("procedure") or {}).get("key")
        hit1 = best == gold
        hit3 = gold in ranking[:3]
        scores.n_procedure += 1
        scores.top1 += hit1
        scores.top3 += hit3
        scores.per_procedure[gold][0] += hit1
        scores.per_procedure[gold][1] += 1
        if not hit1:
            scores.confusions[(gold, best)] += 1
        if example.get("situation"):
            scores.n_situation += 1
            scores.situation_top1 += hit1
            scores.situation_top3 += hit3
        if example.get("aspect"):
            scores.n_aspect += 1
            # No aspect (a bare name) is answered as an overview when nothing was asked before.
            scores.aspect += (parsed.get("aspect") or "overview") == example["aspect"]
    return scores


async def parse_all(agent: Any, texts: list[str]) -> list[dict[str, Any]]:
    """Parse every text with the agent's NLU."""
    return [await agent.parse_message(t) for t in texts]


def format_report(name: str, scores: Scores, stripped: Scores) -> str:
    """The evaluation as Markdown."""
    s, t = scores.summary(), stripped.summary()
    lines = [
        f"# NLU evaluation: `{name}`",
        "",
        f"{scores.n_intent} messages, {scores.n_procedure} about a procedure, {scores.n_situation} describing only a situation.",
        "",
        "| metric | as written | diacritics stripped |",
        "|---|---|---|",
    ]
    labels = {
        "procedure_top1": "procedure top-1",
        "procedure_top3": "procedure top-3",
        "situation_top1": "situation-only top-1",
        "situation_top3": "situation-only top-3",
        "intent": "intent",
        "aspect": "aspect",
    }
    for key, label in labels.items():
        lines.append(f"| {label} | {s[key]:.1%} | {t[key]:.1%} |")
    lines += ["", "## Per procedure (top-1, as written)", "", "| procedure | correct | total | top-1 |", "|---|---|---|---|"]
    for key in sorted(scores.per_procedure):
        hit, total = scores.per_procedure[key]
        lines.append(f"| {key} | {hit} | {total} | {hit / total:.0%} |")
    lines += ["", "## Most frequent procedure confusions (gold → predicted)", ""]
    lines += [f"- {g} → {p}: {n}" for (g, p), n in scores.confusions.most_common(15)] or ["- none"]
    lines += ["", "## Most frequent intent confusions (gold → predicted)", ""]
    lines += [f"- {g} → {p}: {n}" for (g, p), n in scores.intent_confusions.most_common(10)] or ["- none"]
    return "\n".join(lines) + "\n"


def evaluate_file(path: Path, *, model: str | None = None, floors: bool = False, report: str | None = None) -> int:
    """Evaluate, print the report, optionally write it and check the floors."""
    examples = load_examples(path)
    agent = load_nlu_agent(model)
    loop = asyncio.new_event_loop()
    parses = loop.run_until_complete(parse_all(agent, [e["text"] for e in examples]))
    stripped_parses = loop.run_until_complete(parse_all(agent, [strip_diacritics(e["text"]) for e in examples]))
    scores, stripped = score(examples, parses), score(examples, stripped_parses)
    text = format_report(path.name, scores, stripped)
    sys.stdout.write(text)
    if report:
        kept = kept_section(Path(report))
        Path(report).write_text(text + (f"\n{kept}" if kept else ""), encoding="utf-8")
    if not floors:
        return 0
    measured = dict(scores.summary())
    measured["stripped_procedure_top1"] = stripped.summary()["procedure_top1"]
    failed = {k: (measured[k], v) for k, v in FLOORS.items() if measured[k] < v}
    for key, (value, floor) in failed.items():
        sys.stderr.write(f"below floor: {key} = {value:.3f} < {floor:.3f}\n")
    collapsed = procedures_below_floor(scores)
    for key, value in collapsed.items():
        sys.stderr.write(f"below floor: procedure {key} top-1 = {value:.3f} < {PROCEDURE_FLOOR:.3f}\n")
    return 1 if failed or collapsed else 0
