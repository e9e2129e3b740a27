"""``backtest-api``: serve the HTTP API, and the admin commands for users and API keys.

    api.pex serve [--host H] [--port P] [--processes N] [--access-log] [--<setting> VALUE ...]
    api.pex create-user NAME [--admin] [--max-pending-jobs N] [--max-running-jobs N]
    api.pex issue-key USER           (prints the key once; only its hash is stored)
    api.pex revoke-key KEY|PREFIX|ID

The database URL comes from ``--database-url`` or ``BACKTEST_DATABASE_URL``; every
``serve`` option and API setting is also a ``BACKTEST_API_*`` variable (settings.py
declares them; ``serve --help`` lists them with their defaults).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from types import FrameType

import psycopg

from backtest_api.accounts import repository
from backtest_api.settings import SCHEMA
from backtest_api.settings import SERVE_SCHEMA
from backtest_api.settings import ServeSettings
from backtest_shared.db.urls import DATABASE_URL_ENV
from backtest_shared.db.urls import MissingDatabaseURLError
from backtest_shared.db.urls import database_url_from_env


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backtest-api", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help=f"PostgreSQL URL (default: ${DATABASE_URL_ENV})")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API with uvicorn")
    SERVE_SCHEMA.add_arguments(serve)
    SCHEMA.add_arguments(serve.add_argument_group("API settings (passed on to every API process)"))
    # The flag's name until this release; ``--processes`` replaces it.
    serve.add_argument("--workers", dest="old_workers", default=None, help=argparse.SUPPRESS)
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


def serve(database_url: str, options: ServeSettings) -> int:
    import uvicorn

    # API processes read their settings from the environment.
    os.environ[DATABASE_URL_ENV] = database_url
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal with the handlers
    # it found installed: these no-ops turn that into a normal return, so a clean stop exits 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _ignore_signal)
    uvicorn.run(
        "backtest_api.app:asgi_app",
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.processes,
        access_log=options.access_log,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
    return 0


def _serve_command(parser: argparse.ArgumentParser, args: argparse.Namespace, url: str) -> int:
    if args.old_workers is not None:
        warnings.warn("--workers is deprecated, use --processes", FutureWarning, stacklevel=2)
        args.processes = args.processes or args.old_workers
    try:
        options = SERVE_SCHEMA.load(args)
        SCHEMA.export_flags(args, os.environ)
        SCHEMA.load(None, {**os.environ, DATABASE_URL_ENV: url})  # refuse bad settings before starting
    except ValueError as exc:
        parser.error(str(exc))
    return serve(url, options)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        url = args.database_url or database_url_from_env()
    except MissingDatabaseURLError as exc:
        parser.error(str(exc))
    try:
        if args.command == "serve":
            return _serve_command(parser, args, url)
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
