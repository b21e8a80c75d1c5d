"""``unmask arena``: run the challenge server and its workers, or submit to one."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

EXAMPLES = """examples:
  unmask arena serve                                   demo challenge on SQLite, http://127.0.0.1:8000
  UNMASK_DATABASE_URL=postgresql+psycopg://u@db/arena UNMASK_ARENA_SECRET_KEY=... \\
      unmask arena serve --workers 0                   web node only, on PostgreSQL
  unmask arena worker                                  one scoring worker (start N for N workers)
  unmask arena submit --url http://127.0.0.1:8000 --token umk_... preds.csv --wait
  unmask arena host-token                              a new host token (needs database access)
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "arena",
        help="the challenge server: serve, score, submit",
        description=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(title="arena commands", metavar="ACTION", required=True)

    serve = sub.add_parser("serve", help="run the web server (and scoring workers)", description=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1,
                       help="scoring worker threads inside the server (default 1; 0: none; SQLite: at most 1)")  # fmt: skip
    serve.add_argument(
        "--no-demo",
        action="store_true",
        help="do not create the demo challenge on an empty database",
    )
    serve.add_argument(
        "--data-dir", type=Path, help="where the SQLite file, secret and code runs live"
    )
    serve.set_defaults(run=run_serve)

    worker = sub.add_parser("worker", help="run one scoring worker process")
    worker.add_argument("--until-empty", action="store_true", help="stop when the queue is empty")
    worker.add_argument("--name", help="worker name shown on the jobs it takes")
    worker.add_argument("--data-dir", type=Path)
    worker.set_defaults(run=run_worker)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--data-dir", type=Path)
    migrate.set_defaults(run=run_migrate)

    host = sub.add_parser("host-token", help="create a host token (printed once)")
    host.add_argument("--name", default="host")
    host.add_argument("--data-dir", type=Path)
    host.set_defaults(run=run_host_token)

    submit = sub.add_parser("submit", help="submit a prediction CSV or a code archive")
    submit.add_argument("file", type=Path, help="preds.csv, or a .zip/.tar.gz with predict.py")
    submit.add_argument("--url", required=True, help="the arena, e.g. http://127.0.0.1:8000")
    submit.add_argument("--token", required=True, help="your team's token")
    submit.add_argument("--challenge", help="challenge slug (default: the server's only one)")
    submit.add_argument("--kind", choices=("csv", "code"), help="default: from the file name")
    submit.add_argument("--note", default="")
    submit.add_argument("--wait", action="store_true", help="wait for the score")
    submit.add_argument("--json", action="store_true", help="print the submission as JSON")
    submit.set_defaults(run=run_submit)


def _settings(args: argparse.Namespace) -> Any:
    from unmask.arena.core.config import Settings

    overrides = {"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}
    return Settings(**overrides)


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from unmask.arena.core.db import make_engine, migrate, session_factory
    from unmask.arena.demo import ensure_host, seed_demo
    from unmask.arena.main import create_app

    _logging()
    settings = _settings(args)
    app = create_app(settings, workers=args.workers)  # checks settings before touching the database
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    with session_factory(engine, write=True)() as session:
        host_token = ensure_host(session)
        demo = None if args.no_demo else seed_demo(session, settings.data_dir)
    engine.dispose()
    url = f"http://{args.host}:{args.port}"
    if host_token:
        print(f"host token (shown once; log in at {url}/login): {host_token}")
    if demo:
        print(f"demo challenge {demo.slug!r}: team {demo.team_name!r}, token {demo.team_token}")
        print(
            f"  try: unmask arena submit --url {url} --token {demo.team_token} {demo.predictions} --wait"
        )
    print(
        f"database: {engine.url.render_as_string(hide_password=True)}; scoring workers in this process: {args.workers}"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def run_worker(args: argparse.Namespace) -> int:
    import threading

    # first, so that a SIGTERM during start-up also ends the worker cleanly
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    from unmask.arena.core.db import make_engine, migrate, session_factory
    from unmask.arena.sandbox import probe_isolation
    from unmask.arena.worker import Worker

    _logging()
    log = logging.getLogger("unmask.arena")
    settings = _settings(args)
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    ok, how = probe_isolation()
    log.info("code submissions: %s%s", "" if ok else "sandbox unavailable: ", how)
    if not ok:
        log.warning("sandbox=%s: code submissions will %s", settings.sandbox,
                    "end with status error" if settings.sandbox == "strict" else "run WITHOUT isolation")  # fmt: skip
    worker = Worker(
        session_factory(engine, write=True),
        session_factory(engine),
        settings,
        name=args.name,
        stop=stop,
    )
    try:
        done = worker.run(until_empty=args.until_empty)
    finally:
        engine.dispose()
    log.info("worker %s: %d jobs", worker.name, done)
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    from unmask.arena.core.db import current_revision, make_engine, migrate

    engine = make_engine(_settings(args).sqlalchemy_url)
    migrate(engine)
    print(f"database at revision {current_revision(engine)}")
    engine.dispose()
    return 0


def run_host_token(args: argparse.Namespace) -> int:
    from unmask.arena import crud
    from unmask.arena.core.db import make_engine, migrate, session_factory

    engine = make_engine(_settings(args).sqlalchemy_url)
    migrate(engine)
    with session_factory(engine, write=True)() as session:
        _, token = crud.create_host(session, args.name)
    engine.dispose()
    print(token)
    return 0


def run_submit(args: argparse.Namespace) -> int:
    from unmask.arena.client import submit

    out = submit(
        args.url,
        args.token,
        args.file,
        challenge=args.challenge,
        kind=args.kind,
        note=args.note,
        wait=args.wait,
    )
    if args.json:
        json.dump(out, sys.stdout, indent=2, default=str)
        print()
        return 0 if out["status"] not in ("invalid", "crashed", "timeout", "error") else 1
    usage = out["usage"]
    print(f"submission {out['id']} to {out['challenge']}: {out['status']} "
          f"({usage['left_today']} left today)")  # fmt: skip
    if out["status"] == "scored":
        auc = "n/a" if out["public_auc"] is None else f"{out['public_auc']:.4f}"
        print(
            f"public log loss {out['public_score']:.5f}, AUC {auc}, run time {out['execution_s']:.2f} s"
        )
    elif out.get("error"):
        print(f"error: {out['error']}")
        return 1
    return 0
