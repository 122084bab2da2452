"""Simulated citizens for ``assistant bench``: the two loads of the speed goals (docs/benchmark.md, issue #15).

- **saturation**: ``users`` citizens each sending their next message as soon as the previous one is answered;
  it measures throughput (turns/s).
- **realistic**: ``users`` citizens who read and type between messages, pauses drawn from an exponential
  distribution of mean ``think_s`` (400 citizens, 10 s ≈ 40 turns/s offered); it measures latency.

Each citizen runs the scripted conversations below one after another (a new sender id for each), over the
REST channel. Only turns sent after the warm-up and answered before the end count; every non-200 answer or
transport error counts as an error. Traffic goes to 127.0.0.1 only; every run is bounded in time.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPTS: list[list[str]] = [
    [  # a walkthrough: greeting, question, the guide's interview, steps forward and back
        "xin chào",
        "tôi muốn làm hộ chiếu",
        '/start_guide{"procedure": "ho-chieu"}',
        '/choose_option{"option": "yes"}',
        '/choose_option{"option": "first"}',
        '/choose_option{"option": "self"}',
        "tiếp",
        "tiếp",
        "quay lại",
        "cảm ơn",
    ],
    [  # questions and follow-ups without naming the procedure again
        "làm hộ chiếu hết bao nhiêu tiền",
        "cần giấy tờ gì",
        "bao lâu thì có",
        "còn đổi bằng lái thì sao",
        "làm ở đâu",
        "cảm ơn",
    ],
    [  # another walkthrough, typed answers
        "tôi muốn đăng ký tạm trú",
        '/start_guide{"procedure": "dang-ky-tam-tru"}',
        '/choose_option{"option": "yes"}',
        "gia hạn tạm trú",
        "tiếp",
        "tiếp",
        "quay lại",
        "ok cam on ad",
    ],
]


@dataclass
class LoadResult:
    """What one load measured."""

    name: str
    users: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    """What went wrong, e.g. ``{"HTTP 503": 1}`` or ``{"ServerDisconnectedError": 2}`` (measured or not)."""
    peak_rss_mb: float = 0.0
    answered: int = 0
    """Turns answered with 200, warm-up and tail included (the store must hold as many user messages)."""
    cpu_s: float = 0.0
    """CPU seconds the servers used during the measured window."""
    step_checks: int = 0
    step_errors: int = 0
    """Walkthrough replies whose step did not follow the previous one ("tiếp" +1, "quay lại" −1)."""

    @property
    def cpu_ms_per_turn(self) -> float:
        turns = len(self.latencies_ms) + self.errors
        return 1000 * self.cpu_s / turns if turns else 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        """The q-th percentile (0–100) of the latencies, nearest rank; 0 when nothing was measured."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]

    def row(self, label: str) -> str:
        """One Markdown table row (see :data:`TABLE_HEADER`)."""
        median = statistics.median(self.latencies_ms) if self.latencies_ms else 0.0
        return (
            f"| {label} | {len(self.latencies_ms)} | {self.throughput:.1f} | {median:.0f} | {self.quantile(95):.0f} | "
            f"{self.quantile(99):.0f} | {self.errors} | {self.step_errors}/{self.step_checks} | "
            f"{self.cpu_ms_per_turn:.1f} | {self.peak_rss_mb:.0f} |"
        )


TABLE_HEADER = [
    "| server | turns | turns/s | p50 ms | p95 ms | p99 ms | errors | steps out of order | server CPU ms/turn | peak RSS MB |",
    "|---|---|---|---|---|---|---|---|---|---|",
]

STEP = re.compile(r"Bước (\d+)/(\d+)")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their children so far (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in _with_children(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError):
            continue
    return total


def _with_children(pids: list[int]) -> list[int]:
    seen: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        try:
            todo.extend(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
        except (OSError, ValueError):
            continue
    return seen


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes and their children, in MB (Linux ``/proc``)."""
    total_kb = 0
    for pid in _with_children(pids):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total_kb / 1024


async def run_load(
    name: str,
    urls: list[str],
    *,
    users: int,
    think_s: float,
    seconds: float,
    warmup_s: float = 5.0,
    pids: list[int] | None = None,
    seed: int = 15,
) -> LoadResult:
    """Drive ``users`` simulated citizens against ``urls`` (round-robin per message) for ``warmup_s + seconds``.

    Args:
        name: the load's name in the report.
        urls: base URLs of the servers (several: the load balancer is this round-robin).
        users: simulated citizens.
        think_s: mean reading pause between a reply and the next message (0: none, saturation).
        seconds: measured duration after the warm-up.
        warmup_s: not measured (model warm-up, connections).
        pids: server processes whose memory is sampled once a second.
        seed: the pauses' and scripts' random seed (the same traffic for both servers of a comparison).
    """
    import aiohttp

    result = LoadResult(name=name, users=users, seconds=seconds)
    loop = asyncio.get_running_loop()
    started = loop.time()
    measure_from, stop_at = started + warmup_s, started + warmup_s + seconds
    rng = random.Random(seed)
    turn_counter = 0

    async def citizen(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal turn_counter
        own = random.Random(rng.random())
        conversation = 0
        if think_s > 0:  # arrivals spread over one mean pause, not all at t=0
            await asyncio.sleep(own.uniform(0, think_s))
        while loop.time() < stop_at:
            script = SCRIPTS[own.randrange(len(SCRIPTS))]
            sender = f"bench-{name}-{seed}-{index}-{conversation}"
            conversation += 1
            last_step: int | None = None
            for message in script:
                if loop.time() >= stop_at:
                    return
                url = urls[turn_counter % len(urls)]
                turn_counter += 1
                sent = loop.time()
                ok = False
                body = b""
                try:
                    async with session.post(
                        f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}
                    ) as response:
                        body = await response.read()
                        ok = response.status == 200
                        kind = f"HTTP {response.status}"
                except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                    ok, kind = False, type(e).__name__
                done = loop.time()
                if not ok:
                    result.error_kinds[kind] = result.error_kinds.get(kind, 0) + 1
                if ok:
                    result.answered += 1
                    last_step = check_step(message, body, last_step)
                if sent >= measure_from and done <= stop_at:
                    if ok:
                        result.latencies_ms.append((done - sent) * 1000)
                    else:
                        result.errors += 1
                elif not ok and done <= stop_at:
                    result.errors += 1
                if think_s > 0:
                    await asyncio.sleep(min(own.expovariate(1 / think_s), 120.0))

    def check_step(message: str, body: bytes, last: int | None) -> int | None:
        """The step this reply shows (or ``last``); counts a step that does not follow from ``last``."""
        try:
            texts = " ".join(str(m.get("text") or "") for m in json.loads(body) if isinstance(m, dict))
        except ValueError:
            return last
        steps = STEP.findall(texts)
        if not steps:
            return last
        step = int(steps[-1][0])
        expected = {"tiếp": 1, "quay lại": -1}.get(message)
        if expected is not None and last is not None:
            result.step_checks += 1
            result.step_errors += step != last + expected
        return step

    async def sample_memory() -> None:
        cpu_from: float | None = None
        while loop.time() < stop_at:
            if pids:
                result.peak_rss_mb = max(result.peak_rss_mb, rss_mb(pids))
                if cpu_from is None and loop.time() >= measure_from:
                    cpu_from = cpu_seconds(pids)
            await asyncio.sleep(min(1.0, max(0.01, (measure_from if cpu_from is None else stop_at) - loop.time())))
        if pids and cpu_from is not None:
            result.cpu_s = cpu_seconds(pids) - cpu_from

    connector = aiohttp.TCPConnector(limit=users + 8)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(citizen(i, session)) for i in range(users)]
        memory = asyncio.create_task(sample_memory())
        await asyncio.wait(tasks, timeout=warmup_s + seconds + 65)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, memory, return_exceptions=True)
    return result


def summary(result: LoadResult) -> dict[str, Any]:
    """The numbers of one load, for logs."""
    return {
        "name": result.name,
        "turns": len(result.latencies_ms),
        "turns_per_s": round(result.throughput, 1),
        "p50": round(statistics.median(result.latencies_ms), 1) if result.latencies_ms else None,
        "p95": round(result.quantile(95), 1),
        "p99": round(result.quantile(99), 1),
        "errors": result.errors,
        "answered": result.answered,
        "steps_out_of_order": f"{result.step_errors}/{result.step_checks}",
        "cpu_ms_per_turn": round(result.cpu_ms_per_turn, 1),
        "peak_rss_mb": round(result.peak_rss_mb),
    }


def load_once(name: str, urls: list[str], **kwargs: Any) -> LoadResult:
    """:func:`run_load` in an event loop of its own."""
    return asyncio.run(run_load(name, urls, **kwargs))
