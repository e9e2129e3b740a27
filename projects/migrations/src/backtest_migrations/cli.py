"""``backtest-migrations``: upgrade, downgrade or show the schema version.

Usage: ``migrations.pex upgrade [REV]`` | ``downgrade REV`` | ``current`` | ``heads`` | ``repair-queue``
| ``prune --older-than 30d [--batch N]``.
The database URL comes from ``--database-url`` or ``BACKTEST_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import sys

from backtest_migrations import prune
from backtest_migrations import repair
from backtest_migrations import runner
from backtest_shared.db.urls import DATABASE_URL_ENV
from backtest_shared.db.urls import MissingDatabaseURLError
from backtest_shared.db.urls import database_url_from_env
from backtest_shared.jobs.retention import DEFAULT_BATCH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backtest-migrations", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help=f"PostgreSQL URL (default: ${DATABASE_URL_ENV})")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upgrade", help="migrate up (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    down = commands.add_parser("downgrade", help="migrate down to a revision ('base' for empty)")
    down.add_argument("revision")
    commands.add_parser("current", help="print the database's revision")
    commands.add_parser("heads", help="print the newest revision of this release")
    commands.add_parser(
        "repair-queue",
        help="give pending jobs whose fair key clashes with a running job of the same owner a fresh key "
        "(safe while the platform runs; changes nothing on a healthy queue)",
    )
    pruning = commands.add_parser(
        "prune",
        help="delete finished jobs (with their results) that finished longer ago than --older-than, "
        "in bounded batches (safe while the platform runs; datasets are never deleted)",
    )
    pruning.add_argument("--older-than", required=True, help="age such as 30d, 12h, 90m (no unit: days)")
    pruning.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="jobs per statement (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.command == "heads":
        print(runner.head_revision())
        return 0
    try:
        url = args.database_url or database_url_from_env()
    except MissingDatabaseURLError as exc:
        parser.error(str(exc))
    if args.command == "prune":
        try:
            keep_seconds = prune.parse_age(args.older_than)
        except ValueError as exc:
            parser.error(f"--older-than: {exc}")
        if args.batch < 1:
            parser.error("--batch must be at least 1")
        pruned = prune.prune(url, keep_seconds, args.batch)
        print(f"pruned: {pruned.jobs} finished jobs (with their results), {pruned.bundles} emptied bundles")
    elif args.command == "repair-queue":
        rekeyed, raised = repair.repair_queue(url)
        print(f"repaired: {rekeyed} pending jobs given fresh keys, {raised} owners' key counters raised")
    elif args.command == "upgrade":
        runner.upgrade(url, args.revision)
    elif args.command == "downgrade":
        runner.downgrade(url, args.revision)
    else:
        current = runner.current_revision(url)
        head = runner.head_revision()
        print(f"{current or 'base (empty)'}{' (head)' if current == head else f' (head is {head})'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
