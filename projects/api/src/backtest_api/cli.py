"""``backtest-api``: serve the HTTP API, and the admin commands for users and API keys.

    api.pex serve [--host H] [--port P] [--workers N]
    api.pex create-user NAME [--admin] [--max-pending-jobs N] [--max-running-jobs N]
    api.pex issue-key USER           (prints the key once; only its hash is stored)
    api.pex revoke-key KEY|PREFIX|ID

The database URL comes from ``--database-url`` or ``BACKTEST_DATABASE_URL``; every
``serve`` option has an environment variable (``BACKTEST_HOST``, ``BACKTEST_PORT``,
``BACKTEST_WORKERS``), and the API's settings are read from ``BACKTEST_*`` (see settings.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

import psycopg

from backtest_api.accounts import repository
from backtest_shared.db.urls import DATABASE_URL_ENV
from backtest_shared.db.urls import MissingDatabaseURLError
from backtest_shared.db.urls import database_url_from_env


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backtest-api", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help=f"PostgreSQL URL (default: ${DATABASE_URL_ENV})")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host", default=os.environ.get("BACKTEST_HOST", "127.0.0.1"), help="($BACKTEST_HOST)")
    serve.add_argument("--port", type=int, default=_env_int("BACKTEST_PORT", 8000), help="($BACKTEST_PORT)")
    serve.add_argument(
        "--workers", type=int, default=_env_int("BACKTEST_WORKERS", 1), help="processes ($BACKTEST_WORKERS)"
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
    user = commands.add_parser("create-user", help="create a user")
    user.add_argument("name")
    user.add_argument("--admin", action="store_true", help="give the user the admin role (sees everything)")
    user.add_argument("--max-pending-jobs", type=int, help="cap on waiting jobs (default: the platform's)")
    user.add_argument("--max-running-jobs", type=int, help="cap on jobs running at once (default: none)")
    key = commands.add_parser("issue-key", help="issue an API key for a user and print it")
    key.add_argument("user")
    revoke = commands.add_parser("revoke-key", help="revoke a key by its value, display prefix or id")
    revoke.add_argument("key")
    return parser


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    return None


def serve(database_url: str, host: str, port: int, workers: int, access_log: bool) -> int:
    import uvicorn

    # Worker processes read their settings from the environment.
    os.environ[DATABASE_URL_ENV] = database_url
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal with the handlers
    # it found installed: these no-ops turn that into a normal return, so a clean stop exits 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _ignore_signal)
    uvicorn.run(
        "backtest_api.app:asgi_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        url = args.database_url or database_url_from_env()
    except MissingDatabaseURLError as exc:
        parser.error(str(exc))
    try:
        if args.command == "serve":
            return serve(url, args.host, args.port, args.workers, args.access_log)
        if args.command == "create-user":
            user_id = repository.create_user(
                url,
                args.name,
                role="admin" if args.admin else "user",
                max_pending_jobs=args.max_pending_jobs,
                max_running_jobs=args.max_running_jobs,
            )
            print(f"created user {args.name} ({user_id})")
        elif args.command == "issue-key":
            print(repository.issue_key(url, args.user))
        elif args.command == "revoke-key":
            revoked = repository.revoke_key(url, args.key)
            if not revoked:
                print("no active key matched", file=sys.stderr)
                return 1
            print("revoked " + ", ".join(revoked))
    except repository.UnknownUserError as exc:
        print(f"no user named {exc}", file=sys.stderr)
        return 1
    except psycopg.errors.UniqueViolation:
        print(f"a user named {args.name} already exists", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
