"""The ``assistant`` command: serve, train, parse, evaluate, bench, procedures, staff, purge.

Run ``assistant --help`` for the list. Every command reads :class:`~assistant.settings.Settings`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from assistant.engine import load_nlu_agent
from assistant.model_store import data_hash, model_path_for
from assistant.settings import ROOT, Settings, get_settings

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

logger = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 75
"""How long an idle HTTP connection stays open: past nginx's 60 s upstream keepalive, so the proxy closes first."""


def cmd_train(args: argparse.Namespace) -> int:
    """Train the Rasa model; with --if-stale only when no model matches the current data."""
    settings = get_settings()
    digest = data_hash()
    target = model_path_for(settings.models_dir, digest)
    if args.if_stale and target.exists():
        print(f"model is up to date: {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
        return 0
    from rasa.model_training import train

    data = settings.nlu_data_dir
    started = time.perf_counter()
    result = train(
        domain=str(data / "domain"),
        config=str(data / "config.yml"),
        training_files=[str(data / "nlu"), str(data / "rules"), str(data / "stories")],
        output=str(settings.models_dir),
        fixed_model_name=target.name.removesuffix(".tar.gz"),
        force_training=True,
    )
    if result.code != 0 or not target.exists():
        print("training failed", file=sys.stderr)
        return result.code or 1
    for old in settings.models_dir.glob("model-*.tar.gz"):
        if old != target:
            old.unlink()
    print(f"trained {target.name} in {time.perf_counter() - started:.0f} s")
    return 0


def _load_catalogue_if_empty(settings: Settings) -> None:
    """Load ``procedures/`` into a database that has no catalogue yet (before the workers start)."""
    from assistant.catalogue.service import Catalogue
    from assistant.db.session import make_engine

    engine = make_engine(settings.database_url)
    try:
        Catalogue.from_db_or_directory(engine, settings.procedures_dir)
    finally:
        engine.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the app with uvicorn."""
    import uvicorn

    from assistant.processes import scale_out_problems

    settings = get_settings()
    problems = scale_out_problems(settings, workers=args.workers)
    if problems:
        print(f"refusing --workers {args.workers}: " + "; ".join(problems), file=sys.stderr)
        print("several processes need PostgreSQL (ASSISTANT_DATABASE_URL), Redis (ASSISTANT_REDIS_URL) and "
              "ASSISTANT_SESSION_SECRET; or serve with one process", file=sys.stderr)
        return 2
    port = int(os.environ.get("PORT", args.port or settings.port))
    os.environ["ASSISTANT_PORT"] = str(port)
    if args.workers > 1:
        from assistant.db.migrate import upgrade

        upgrade(settings.database_url)  # once, here, not in each worker
        _load_catalogue_if_empty(settings)
        os.environ["ASSISTANT_MIGRATE_ON_START"] = "false"
    get_settings.cache_clear()
    uvicorn.run(
        "assistant.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=port,
        workers=args.workers,
        log_level="info",
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # longer than the idle time of the clients that keep connections open (nginx's upstream keepalive:
        # 60 s): a connection the app closed while the client reused it was a failed request (502)
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    """Parse stdin line by line into JSON lines (the /model/parse object), loading the model once."""
    import asyncio

    from assistant.engine import MAX_MESSAGE_CHARS, complete_parse

    agent = load_nlu_agent(args.model)
    loop = asyncio.new_event_loop()
    for line in sys.stdin:
        text = line.rstrip("\n")
        if text.strip():
            parsed = loop.run_until_complete(agent.parse_message(text[:MAX_MESSAGE_CHARS]))
        else:
            parsed = {"text": text}
        sys.stdout.write(json.dumps(complete_parse(parsed, text), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


def cmd_procedures(args: argparse.Namespace) -> int:
    """Validate or load procedure records."""
    from assistant.catalogue import commands

    settings = get_settings()
    directory = Path(args.dir) if args.dir else settings.procedures_dir
    if args.action == "validate":
        from datetime import date

        from assistant.catalogue.dates import vietnam_today

        today = date.fromisoformat(args.today) if args.today else vietnam_today()
        return commands.validate(directory, today=today)
    return commands.load(settings.database_url, directory)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate the model on a labelled held-out file, or play the multi-turn conversation tests."""
    from assistant.conversations import evaluate_conversations
    from assistant.evaluation import evaluate_file

    if not args.file and not args.conversations:
        print("give a labelled file or --conversations PATH", file=sys.stderr)
        return 2
    status = 0
    if args.file:
        status = evaluate_file(Path(args.file), model=args.model, floors=args.check_floors, report=args.report)
    if args.conversations:
        status = evaluate_conversations(Path(args.conversations), url=args.url, report=args.report) or status
    return status


def cmd_bench(args: argparse.Namespace) -> int:
    """Benchmark parse latency, turns and start-up; write a report."""
    from assistant.bench import run_bench
    from assistant.bench_loads import Loads

    loads = Loads(
        saturation_users=args.saturation_users,
        realistic_users=args.realistic_users,
        think_s=args.think,
        seconds=args.seconds,
    )
    return run_bench(
        report=Path(args.report), stock=args.stock, loads=loads, rasa=not args.no_rasa, scale_out=not args.no_scale_out
    )


def cmd_staff(args: argparse.Namespace) -> int:
    """Add (or reset) a staff user for the console."""
    import getpass

    from assistant.errors import AssistantError
    from assistant.staff import add_staff_user

    password = os.environ.get("ASSISTANT_STAFF_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print("set ASSISTANT_STAFF_PASSWORD or run in a terminal to type the password", file=sys.stderr)
            return 2
        password = getpass.getpass("Mật khẩu: ")
    try:
        created = add_staff_user(get_settings().database_url, args.username, password, role=args.role)
    except AssistantError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"staff user {args.username} {'created' if created else 'updated'}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete conversations, hand-offs, feedback, delivered outbox rows and expired desk cases older than ``--older-than``."""
    from assistant.db.session import make_engine
    from assistant.retention import parse_age, purge

    try:
        age = parse_age(args.older_than)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    engine = make_engine(get_settings().database_url)
    try:
        report = purge(engine, older_than=age)
    finally:
        engine.dispose()
    print(
        f"deleted {report.conversations} conversations ({report.events} events), {report.handoffs} hand-offs, "
        f"{report.feedback} feedback, {report.outbox} outbox messages, {report.desk_cases} desk cases "
        f"older than {args.older_than}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Trợ lý ảo dịch vụ công")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the app (web widget, REST, API, actions)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1, help="processes; >1 needs PostgreSQL + Redis")
    serve.set_defaults(func=cmd_serve)

    train = sub.add_parser("train", help="train the Rasa model")
    train.add_argument("--if-stale", action="store_true", help="skip when a model of the current data exists")
    train.set_defaults(func=cmd_train)

    parse = sub.add_parser("parse", help="parse stdin lines into JSON lines")
    parse.add_argument("--model")
    parse.set_defaults(func=cmd_parse)

    procedures = sub.add_parser("procedures", help="validate or load procedure records")
    procedures.add_argument("action", choices=["validate", "load"])
    procedures.add_argument("--dir")
    procedures.add_argument("--today", help="validate: judge fees and sources on this day (YYYY-MM-DD; default: today in Vietnam)")
    procedures.set_defaults(func=cmd_procedures)

    evaluate = sub.add_parser("evaluate", help="evaluate NLU on a labelled file, or play conversation tests")
    evaluate.add_argument("file", nargs="?", help="a labelled held-out file (tests/data/heldout.yml)")
    evaluate.add_argument("--conversations", metavar="PATH", help="multi-turn conversation tests: a file or folder")
    evaluate.add_argument("--url", help="with --conversations: the running app (default: start one, then stop it)")
    evaluate.add_argument("--model")
    evaluate.add_argument("--check-floors", action="store_true", help="exit 1 below the accuracy floors")
    evaluate.add_argument("--report", help="also write the results as Markdown here")
    evaluate.set_defaults(func=cmd_evaluate)

    bench = sub.add_parser("bench", help="benchmark parse latency and conversation turns")
    bench.add_argument("--report", default=str(ROOT / "docs" / "benchmark.md"))
    bench.add_argument("--saturation-users", type=int, default=50, help="citizens sending without pause")
    bench.add_argument("--realistic-users", type=int, default=400, help="citizens with reading pauses")
    bench.add_argument("--think", type=float, default=10.0, help="mean reading pause, seconds (exponential)")
    bench.add_argument("--seconds", type=float, default=60.0, help="measured duration of each load")
    bench.add_argument("--no-rasa", action="store_true", help="skip stock `rasa run` + `rasa run actions`")
    bench.add_argument("--no-scale-out", action="store_true", help="skip two processes on PostgreSQL + Redis")
    bench.add_argument("--stock", action="store_true", help="also train and compare Rasa's stock pipeline")
    bench.set_defaults(func=cmd_bench)

    purge = sub.add_parser("purge", help="delete conversations and what is kept about them past an age")
    purge.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 90d (days), 12w (weeks), 48h (hours)")
    purge.set_defaults(func=cmd_purge)

    staff = sub.add_parser("staff", help="staff accounts")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_sub.add_parser("add", help="add or reset a staff user (password from ASSISTANT_STAFF_PASSWORD or prompt)")
    add.add_argument("username")
    add.add_argument("--role", choices=["officer", "admin"], default=None,
                     help="officer (the desk) or admin (also adds and disables officers); default: keep, new = officer")
    add.set_defaults(func=cmd_staff)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``assistant`` console script."""
    from assistant.logs import configure_logging

    args = build_parser().parse_args(argv)
    configure_logging(get_settings().log_level if args.command != "parse" else "WARNING")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
