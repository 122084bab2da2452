"""``assistant bench``: measured numbers for the README and docs/benchmark.md.

- cold start: ``assistant serve`` process start → ``/health`` 200;
- NLU parse latency (p50/p95/p99) over the held-out messages, in process, one at a time;
- one citizen alone: a walkthrough's turns over HTTP, sequentially;
- the loads of the speed goals (:mod:`assistant.bench_loads`): saturation and realistic reading pauses against
  our server, against stock ``rasa run`` + ``rasa run actions`` on the same model, and two processes on
  PostgreSQL + Redis; turns/s, p50/p95/p99, errors, server CPU per turn, memory, lost turns;
- with ``--stock``: the same held-out evaluation, parse latency and model load time for Rasa's stock
  pipeline (WhitespaceTokenizer + CountVectorsFeaturizer + DIETClassifier) trained on the same data.

Traffic goes to 127.0.0.1 only; every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from assistant.load import SCRIPTS
from assistant.servers import start_server
from assistant.settings import ROOT
from assistant.text.formatting import VIETNAM

HELDOUT = ROOT / "tests" / "data" / "heldout.yml"
KEPT_MARKER = "<!-- written by hand below; assistant bench keeps it -->"
"""Everything from this line on in the report (method, earlier runs, profiles) survives a new run."""
STOCK_CONFIG = """recipe: default.v1
language: vi
assistant_id: stock-baseline
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
    epochs: 30
    constrain_similarities: true
policies: []
"""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) of values, nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def describe(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50": statistics.median(values_ms),
        "p95": percentile(values_ms, 95),
        "p99": percentile(values_ms, 99),
        "max": max(values_ms),
    }


def heldout_texts() -> list[str]:
    from assistant.evaluation import load_examples

    return [e["text"] for e in load_examples(HELDOUT)]


def parse_latency(agent: Any, texts: list[str]) -> dict[str, float]:
    """Per-message parse time in ms (after one warm-up parse)."""
    loop = asyncio.new_event_loop()
    loop.run_until_complete(agent.parse_message("xin chào"))
    times = []
    for text in texts:
        started = time.perf_counter()
        loop.run_until_complete(agent.parse_message(text))
        times.append((time.perf_counter() - started) * 1000)
    loop.close()
    return describe(times)


# The one-citizen walkthrough is the load's first script (assistant/load.py), not a copy of it.
CONVERSATION = SCRIPTS[0]


async def converse(client: httpx.AsyncClient, url: str, sender: str, times: list[float]) -> None:
    for message in CONVERSATION:
        started = time.perf_counter()
        response = await client.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message})
        response.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)


async def turns(url: str, *, conversations: int, concurrency: int) -> tuple[dict[str, float], float]:
    """Run ``conversations`` scripted conversations, ``concurrency`` at a time; (latency, turns/s)."""
    times: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(i: int) -> None:
            async with semaphore:
                await converse(client, url, f"bench-{concurrency}-{i}-{time.time_ns()}", times)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(conversations)))
        elapsed = time.perf_counter() - started
    return describe(times), len(times) / elapsed


def stock_model(work: Path) -> Path:
    """Train (once, cached under var/) the stock-pipeline NLU model on the same NLU data."""
    from rasa.model_training import train_nlu

    from assistant.model_store import data_hash

    target = ROOT / "var" / "stock" / f"stock-{data_hash()}.tar.gz"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    config = work / "stock-config.yml"
    config.write_text(STOCK_CONFIG, encoding="utf-8")
    train_nlu(
        config=str(config),
        nlu_data=str(ROOT / "nlu_data" / "nlu"),
        output=str(target.parent),
        fixed_model_name=target.name.removesuffix(".tar.gz"),
        domain=str(ROOT / "nlu_data" / "domain"),
    )
    return target


def stock_comparison(work: Path) -> list[str]:
    """Accuracy, parse latency and load time: our pipeline vs the stock one, on the held-out set."""
    from assistant.engine import load_nlu_agent
    from assistant.evaluation import load_examples, parse_all, score
    from assistant.model_store import latest_model
    from assistant.text.normalize import strip_diacritics

    examples = load_examples(HELDOUT)
    texts = [e["text"] for e in examples]
    rows = []
    for name, path in (("ours", latest_model(ROOT / "models")), ("stock", stock_model(work))):
        started = time.perf_counter()
        agent = load_nlu_agent(path)
        load_s = time.perf_counter() - started
        loop = asyncio.new_event_loop()
        scores = score(examples, loop.run_until_complete(parse_all(agent, texts)))
        stripped = score(examples, loop.run_until_complete(parse_all(agent, [strip_diacritics(t) for t in texts])))
        loop.close()
        latency = parse_latency(agent, texts)
        s = scores.summary()
        rows.append(
            f"| {name} | {s['intent']:.1%} | {stripped.summary()['intent']:.1%} | "
            + (f"{s['procedure_top1']:.1%} | {s['aspect']:.1%} | " if name == "ours" else "— | — | ")
            + f"{latency['p50']:.1f} | {latency['p95']:.1f} | {load_s:.1f} |"
        )
    return [
        "## Our pipeline vs Rasa's stock pipeline (same NLU data, same held-out set)",
        "",
        "Stock: WhitespaceTokenizer + CountVectorsFeaturizer (words, char 1–4) + DIETClassifier (30 epochs: bounded training time on 2 cores).",
        "It has no procedure or aspect model, so only intent accuracy compares directly.",
        "",
        "| pipeline | intent | intent, diacritics stripped | procedure top-1 | aspect | parse p50 ms | parse p95 ms | model load s |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def run_bench(
    *,
    report: Path,
    stock: bool = False,
    loads: Any = None,
    rasa: bool = True,
    scale_out: bool = True,
) -> int:
    """Measure and write the Markdown report; print it too.

    Args:
        report: where the Markdown goes (docs/benchmark.md).
        stock: also compare Rasa's stock NLU pipeline (trains it once).
        loads: the loads (:class:`assistant.bench_loads.Loads`); default the issue's.
        rasa: also serve the same model with stock ``rasa run`` + ``rasa run actions`` under the same loads.
        scale_out: also two processes on PostgreSQL + Redis (skipped, with the reason, when unreachable).
    """
    from assistant.bench_loads import Loads, load_lines
    from assistant.engine import load_nlu_agent
    from assistant.model_store import latest_model

    loads = loads or Loads()
    texts = heldout_texts()
    load_before = os.getloadavg()
    lines = [
        "# Benchmark",
        "",
        f"Measured by `assistant bench` on {datetime.now(VIETNAM):%Y-%m-%d}, {os.cpu_count()} CPU cores, "
        "requests over loopback HTTP. The machine is shared with other work (load average "
        f"{load_before[0]:.1f} when the run began): throughput and tails move between runs; see “Method” below.",
        "",
    ]
    agent = load_nlu_agent(None)
    parse = parse_latency(agent, texts)
    del agent
    lines += [
        "## NLU parse latency (in process, held-out messages, one at a time)",
        "",
        "| messages | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        f"| {parse['n']} | {parse['p50']:.1f} | {parse['p95']:.1f} | {parse['p99']:.1f} | {parse['max']:.1f} |",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        process, url, cold = start_server(f"sqlite:///{work / 'bench.db'}", work / "server.log")
        try:
            sequential, _ = asyncio.run(turns(url, conversations=5, concurrency=1))
        finally:
            process.terminate()
            process.wait(timeout=30)
        lines += [
            "## Cold start",
            "",
            f"`assistant serve` process start → `/health` 200: **{cold:.1f} s** (goal ≤ 15 s).",
            "",
            "## One citizen alone (REST channel → Rasa → actions → SQLite)",
            "",
            f"A scripted {len(CONVERSATION)}-turn walkthrough, sequentially: {sequential['n']} turns, "
            f"p50 {sequential['p50']:.0f} ms, p95 {sequential['p95']:.0f} ms.",
            "",
        ]
        model = latest_model(ROOT / "models")
        if model is None:
            raise RuntimeError("no trained model; run `assistant train`")
        load_section, _ = load_lines(loads, work=work, model=model, rasa=rasa, scale_out=scale_out)
        lines += load_section
        load_after = os.getloadavg()
        lines += [f"Load average when the loads ended: {load_after[0]:.1f} (1 min), {load_after[1]:.1f} (5 min).", ""]
        if stock:
            lines += stock_comparison(work)
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    kept = report.read_text(encoding="utf-8").partition(KEPT_MARKER) if report.exists() else ("", "", "")
    report.write_text(text + "\n" + (kept[1] + kept[2] if kept[1] else ""), encoding="utf-8")
    return 0
