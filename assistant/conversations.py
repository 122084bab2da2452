"""Multi-turn conversation tests: ``assistant evaluate --conversations tests/conversations``.

A conversation file (``tests/conversations/*.yml``, format in docs/conversation-tests.md) is a YAML list of
``{id, about, turns}``. A turn either says something (``say: làm hộ chiếu hết bao nhiêu tiền``) or presses a
button of the previous reply (``click: có rồi`` — part of the button's title, compared folded: no diacritics,
case-insensitive), with optional expectations:

- ``procedure``, ``aspect``, ``step``: read from the replies' answer metadata
  ``custom: {"procedure", "aspect", "step", "steps"}``; the turn passes when one reply message's ``custom``
  matches every key given. ``procedure: null`` means that no reply of the turn carries a procedure.
- ``any: [...]``: one of these appears in the replies' text (button titles included);
  ``none: [...]``: none of them appears. Both compared folded (:func:`assistant.text.normalize.fold`).

Every turn goes to the real REST route ``POST /webhooks/rest/webhook``, each conversation with a fresh sender
id. A turn is right when all its expectations hold; a conversation is right when all its turns are.

Example:
    >>> turn = Turn(say="cần giấy tờ gì", expect={"procedure": "ho-chieu"})
    >>> problems(turn, [{"text": "Giấy tờ", "custom": {"procedure": "ho-chieu", "aspect": "documents"}}])
    []
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from assistant.report_sections import SECTION_END as SECTION_END  # re-exported: the section's home
from assistant.report_sections import SECTION_START as SECTION_START
from assistant.report_sections import kept_section as kept_section
from assistant.report_sections import write_section
from assistant.text.formatting import VIETNAM
from assistant.text.normalize import fold

REST_ROUTE = "/webhooks/rest/webhook"
METADATA_KEYS = ("procedure", "aspect", "step")
TURN_KEYS = {"say", "click", "any", "none", *METADATA_KEYS}
TEXT_SHOWN = 120

Replies = list[dict[str, Any]]
Send = Callable[[str, str], Awaitable[Replies]]


class ConversationFormatError(ValueError):
    """A conversation file does not follow the format of docs/conversation-tests.md."""


@dataclass(frozen=True)
class Turn:
    """One citizen turn and what its replies must show."""

    say: str | None = None
    click: str | None = None
    expect: dict[str, Any] = field(default_factory=dict)
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()

    @property
    def shown(self) -> str:
        """The turn as a reader sees it: ``say`` text or ``[click …]``."""
        return self.say if self.say is not None else f"[click {self.click}]"


@dataclass(frozen=True)
class Conversation:
    """A scripted conversation: id, what it is about, its turns, and the file it came from."""

    id: str
    about: str
    turns: tuple[Turn, ...]
    source: str = ""


@dataclass
class TurnResult:
    """The outcome of one turn."""

    conversation: str
    number: int
    said: str
    problems: list[str]
    metadata: list[dict[str, Any]]
    text: str

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass
class Results:
    """All turn outcomes of a run, with the accuracies."""

    turns: list[TurnResult] = field(default_factory=list)

    def chats(self) -> dict[str, bool]:
        """Conversation id → right end to end."""
        out: dict[str, bool] = {}
        for result in self.turns:
            out[result.conversation] = out.get(result.conversation, True) and result.passed
        return out

    @property
    def turn_accuracy(self) -> float:
        return sum(r.passed for r in self.turns) / len(self.turns) if self.turns else 0.0

    @property
    def chat_accuracy(self) -> float:
        chats = self.chats()
        return sum(chats.values()) / len(chats) if chats else 0.0

    @property
    def misses(self) -> list[TurnResult]:
        return [r for r in self.turns if not r.passed]


# --- loading -------------------------------------------------------------------------------------


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConversationFormatError(f"{where}: any/none must be a list of strings")
    return tuple(value)


def parse_turn(raw: Any, where: str) -> Turn:
    """One turn from its YAML mapping."""
    if not isinstance(raw, dict):
        raise ConversationFormatError(f"{where}: a turn is a mapping with say or click")
    unknown = set(raw) - TURN_KEYS
    if unknown:
        raise ConversationFormatError(f"{where}: unknown keys {sorted(unknown)}")
    if ("say" in raw) == ("click" in raw):
        raise ConversationFormatError(f"{where}: exactly one of say and click")
    said = raw.get("say", raw.get("click"))
    if not isinstance(said, str) or not said.strip():
        raise ConversationFormatError(f"{where}: say/click must be non-empty text")
    expect = {k: raw[k] for k in METADATA_KEYS if k in raw}
    if "step" in expect and not (expect["step"] is None or isinstance(expect["step"], int)):
        raise ConversationFormatError(f"{where}: step is a 1-based number")
    return Turn(
        say=raw.get("say"),
        click=raw.get("click"),
        expect=expect,
        any=_strings(raw.get("any", []), where),
        none=_strings(raw.get("none", []), where),
    )


def load_file(path: Path) -> list[Conversation]:
    """The conversations of one YAML file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as e:
        raise ConversationFormatError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, list):
        raise ConversationFormatError(f"{path}: a list of conversations")
    conversations = []
    for i, raw in enumerate(data):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw.get("turns"):
            raise ConversationFormatError(f"{path} #{i + 1}: needs id and turns")
        where = f"{path.name}:{raw['id']}"
        turns = tuple(parse_turn(t, f"{where} turn {n}") for n, t in enumerate(raw["turns"], 1))
        conversations.append(Conversation(raw["id"], str(raw.get("about", "")), turns, path.name))
    return conversations


def load_conversations(path: Path) -> list[Conversation]:
    """Conversations from a file, or from every ``*.yml`` of a folder; ids must be unique."""
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    conversations = [c for f in files for c in load_file(f)]
    seen: set[str] = set()
    for conversation in conversations:
        if conversation.id in seen:
            raise ConversationFormatError(f"duplicate conversation id {conversation.id}")
        seen.add(conversation.id)
    return conversations


# --- scoring -------------------------------------------------------------------------------------


def reply_text(replies: Replies) -> str:
    """Every reply's text and button titles, one per line."""
    parts = []
    for reply in replies:
        parts.append(reply.get("text") or "")
        parts += [str(b.get("title", "")) for b in reply.get("buttons") or []]
    return "\n".join(p for p in parts if p)


def metadata_of(replies: Replies) -> list[dict[str, Any]]:
    """The ``custom`` answer metadata of the replies that carry it."""
    return [r["custom"] for r in replies if isinstance(r.get("custom"), dict)]


def find_button(replies: Replies, part: str) -> dict[str, Any] | None:
    """The button whose folded title equals, else starts with, else contains the folded ``part``."""
    wanted = fold(part)
    buttons = [b for r in replies for b in r.get("buttons") or [] if isinstance(b, dict)]
    titles = [(fold(str(b.get("title", ""))), b) for b in buttons]
    for test in (str.__eq__, str.startswith, str.__contains__):
        for title, button in titles:
            if test(title, wanted):
                return button
    return None


def _matches(custom: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(custom.get(k) == v for k, v in expected.items())


def problems(turn: Turn, replies: Replies) -> list[str]:
    """What is wrong with the replies to ``turn``; empty when the turn is right."""
    found: list[str] = []
    metadata = metadata_of(replies)
    expected = dict(turn.expect)
    if "procedure" in expected and expected["procedure"] is None:
        del expected["procedure"]
        carried = sorted({str(m["procedure"]) for m in metadata if m.get("procedure")})
        if carried:
            found.append(f"expected no procedure, got {', '.join(carried)}")
    if expected and not any(_matches(m, expected) for m in metadata):
        found.append(f"expected {_describe(expected)}")
    text = fold(reply_text(replies))
    if turn.any and not any(fold(s) in text for s in turn.any):
        found.append(f"none of {list(turn.any)} in the reply")
    present = [s for s in turn.none if fold(s) in text]
    if present:
        found.append(f"unwanted {present} in the reply")
    return found


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={values[k]}" for k in METADATA_KEYS if k in values) or "-"


# --- running -------------------------------------------------------------------------------------


async def run_conversation(conversation: Conversation, send: Send, *, sender: str) -> list[TurnResult]:
    """Play one conversation through ``send(sender, message)``; one result per turn."""
    results = []
    previous: Replies = []
    for number, turn in enumerate(conversation.turns, 1):
        if turn.click is not None:
            button = find_button(previous, turn.click)
            if button is None:
                offered = [str(b.get("title")) for r in previous for b in r.get("buttons") or []]
                result = TurnResult(conversation.id, number, turn.shown, [f"no button '{turn.click}' in {offered}"], [], "")
                results.append(result)
                previous = []
                continue
            message = str(button.get("payload") or button.get("title"))
        else:
            message = str(turn.say)
        previous = await send(sender, message)
        text = reply_text(previous)
        results.append(
            TurnResult(conversation.id, number, turn.shown, problems(turn, previous), metadata_of(previous), text)
        )
    return results


async def run_all(conversations: list[Conversation], send: Send, *, concurrency: int = 4) -> Results:
    """Play every conversation, ``concurrency`` at a time, each with a fresh unique sender id."""
    semaphore = asyncio.Semaphore(concurrency)
    run = uuid.uuid4().hex[:8]

    async def one(conversation: Conversation) -> list[TurnResult]:
        async with semaphore:
            return await run_conversation(conversation, send, sender=f"conv-{run}-{conversation.id}")

    outcomes = await asyncio.gather(*(one(c) for c in conversations))
    return Results([r for outcome in outcomes for r in outcome])


def rest_sender(client: httpx.AsyncClient, url: str = "") -> Send:
    """``send`` over the REST channel of the app at ``url`` (or the client's base URL)."""

    async def send(sender: str, message: str) -> Replies:
        response = await client.post(f"{url}{REST_ROUTE}", json={"sender": sender, "message": message})
        response.raise_for_status()
        replies = response.json()
        return replies if isinstance(replies, list) else []

    return send


async def run_against(conversations: list[Conversation], url: str, *, concurrency: int = 4) -> Results:
    """Play the conversations against the running app at ``url``."""
    async with httpx.AsyncClient(timeout=60) as client:
        return await run_all(conversations, rest_sender(client, url.rstrip("/")), concurrency=concurrency)


# --- reporting -----------------------------------------------------------------------------------


def format_miss(miss: TurnResult) -> str:
    """One miss on one line: conversation, turn, what was said, expected vs got."""
    got = "; ".join(_describe(m) for m in miss.metadata) or "no metadata"
    text = " ".join(miss.text.split())[:TEXT_SHOWN]
    return f"{miss.conversation} #{miss.number} “{miss.said}”: {' / '.join(miss.problems)} — got [{got}] “{text}”"


def format_report(results: Results, *, name: str, files: list[str]) -> str:
    """The results as a Markdown section (plain enough for a terminal)."""
    chats = results.chats()
    lines = [
        "## Multi-turn conversations",
        "",
        f"`assistant evaluate --conversations {name}` on {datetime.now(VIETNAM):%Y-%m-%d}: {len(chats)} conversations, "
        f"{len(results.turns)} turns ({', '.join(files)}), played through `POST {REST_ROUTE}`.",
        "",
        "| metric | right | total | accuracy | goal |",
        "|---|---|---|---|---|",
        f"| turns | {sum(r.passed for r in results.turns)} | {len(results.turns)} | {results.turn_accuracy:.1%} | ≥ 95% |",
        f"| whole conversations | {sum(chats.values())} | {len(chats)} | {results.chat_accuracy:.1%} | ≥ 85% |",
        "",
        f"### Misses ({len(results.misses)})",
        "",
    ]
    lines += [f"- {format_miss(m)}" for m in results.misses] or ["- none"]
    return "\n".join(lines) + "\n"


def evaluate_conversations(path: Path, *, url: str | None = None, report: str | None = None) -> int:
    """Play the conversations at ``path`` against ``url`` (or a server started here); print, optionally write.

    Returns:
        0; 2 when the files are malformed.
    """
    try:
        conversations = load_conversations(path)
    except (ConversationFormatError, OSError, yaml.YAMLError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    if url:
        results = asyncio.run(run_against(conversations, url))
    else:
        from assistant.servers import start_server

        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            try:
                process, started_url, _ = start_server(f"sqlite:///{work / 'conversations.db'}", work / "server.log")
            except subprocess.CalledProcessError as e:
                output = (e.stderr or b"").decode(errors="replace") + (e.stdout or b"").decode(errors="replace")
                sys.stderr.write(f"error: could not load procedures/ for the server:\n{output[-2000:]}\n")
                return 1
            except RuntimeError as e:
                log = work / "server.log"
                tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""
                sys.stderr.write(f"error: the server did not start: {e}\n{tail}\n")
                return 1
            try:
                results = asyncio.run(run_against(conversations, started_url))
            finally:
                process.terminate()
                process.wait(timeout=30)
    files = sorted({c.source for c in conversations})
    text = format_report(results, name=str(path), files=files)
    sys.stdout.write(text)
    if report:
        write_section(Path(report), text)
    return 0
