"""``backtest``: upload data, run backtests and sweeps, and read their results from a terminal.

Every command takes ``--json`` (one JSON document on stdout, for scripts);
the API's URL and key come from ``--url``/``--key``, ``BACKTEST_API_URL``/
``BACKTEST_API_KEY``, or ``~/.config/backtest/config.toml``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import httpx
from rich.console import Console

from backtest_client.cli import commands
from backtest_client.cli import config
from backtest_client.cli import render
from backtest_client.client import Client
from backtest_client.errors import ApiError
from backtest_client.errors import BacktestClientError

Command = Callable[[commands.Context], int]


def _common(*, root: bool) -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (sub-commands must not reset them)."""
    common = argparse.ArgumentParser(add_help=False)
    unset: dict[str, Any] = {} if root else {"default": argparse.SUPPRESS}
    common.add_argument("--json", action="store_true", help="print one JSON document (for scripts)", **unset)
    common.add_argument(
        "--url", help="API URL (default $BACKTEST_API_URL, the config file, or http://127.0.0.1:8000)", **unset
    )
    common.add_argument("--key", help="API key (default $BACKTEST_API_KEY or the config file)", **unset)
    return common


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="DATASET_ID", help="the dataset to run on")
    parser.add_argument("--priority", type=int, default=None, help="-100..100, higher runs first")
    parser.add_argument("--no-wait", action="store_true", help="print the id and return at once")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar while waiting")


def build_parser() -> argparse.ArgumentParser:
    common = _common(root=False)
    parser = argparse.ArgumentParser(
        prog="backtest",
        description="Upload market data, run backtests and sweeps, and read their results.",
        parents=[_common(root=True)],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="upload and list datasets", parents=[common])
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    upload = data_sub.add_parser("upload", help="upload OHLCV bars (CSV or Parquet)", parents=[common])
    upload.add_argument("file", help="CSV (timestamp,open,high,low,close,volume) or .parquet file")
    upload.add_argument("--name", help="display name (default: the file name)")
    upload.set_defaults(handler=commands.data_upload)
    data_ls = data_sub.add_parser("ls", help="list your datasets", parents=[common])
    data_ls.add_argument("--limit", type=int, default=100)
    data_ls.set_defaults(handler=commands.data_ls)

    run = sub.add_parser("run", help="run one backtest, wait, print its metrics", parents=[common])
    run.add_argument("strategy", help="strategy JSON file")
    _wait_options(run)
    run.set_defaults(handler=commands.run)

    sweep = sub.add_parser("sweep", help="run a parameter sweep, wait, print the ranking", parents=[common])
    sweep.add_argument("strategy", help="base strategy JSON file")
    _wait_options(sweep)
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="PATH=VALUES",
        help="e.g. fast.period=5:50:5 (start:stop:step, stop included) or slow.period=20,50,100; repeatable",
    )
    sweep.add_argument(
        "--where",
        action="append",
        metavar="EXPR",
        help="keep combinations where EXPR holds, e.g. 'fast.period < slow.period'; repeatable",
    )
    sweep.add_argument("--rank-by", default=None, help="metric to rank by (default sharpe)")
    sweep.add_argument("--top", type=int, default=10, help="rows of the ranking to print (default 10)")
    sweep.add_argument("--name", help="a name for the sweep")
    sweep.set_defaults(handler=commands.sweep)

    show = sub.add_parser("show", help="a backtest's metrics and exports, or a sweep's ranking", parents=[common])
    show.add_argument("id", help="a backtest id or a sweep (bundle) id")
    show.add_argument("--trades", metavar="CSV", help="write the trades to this CSV file")
    show.add_argument("--equity", metavar="CSV", help="write the equity curve and drawdown to this CSV file")
    show.add_argument("--chart", metavar="HTML", help="write a chart (a sweep: a heatmap of its first two parameters)")
    show.add_argument("--top", type=int, default=10, help="a sweep: rows of the ranking (default 10)")
    show.add_argument("--rank-by", default=None, help="a sweep: metric to rank by")
    show.set_defaults(handler=commands.show)

    ls = sub.add_parser("ls", help="your recent backtests and sweeps", parents=[common])
    ls.add_argument("--limit", type=int, default=20)
    ls.set_defaults(handler=commands.ls)

    cancel = sub.add_parser("cancel", help="cancel a backtest or a whole sweep", parents=[common])
    cancel.add_argument("id")
    cancel.set_defaults(handler=commands.cancel)
    return parser


def _report(out: Console, err: Console, as_json: bool, error: Exception) -> None:
    if isinstance(error, ApiError):
        body = {"status": error.status, "code": error.code, "field": error.field, "message": error.message}
        text = f"error: {error.status} {error.message}"
    else:
        body = {"message": str(error)}
        text = f"error: {error}"
    if as_json:
        render.emit_json(out, {"error": body})
    else:
        err.print(text, style="red", markup=False, highlight=False)


def main(argv: Sequence[str] | None = None, *, stdout: Console | None = None) -> int:
    """Run one command; returns the exit code (0 success, 1 API or usage error, 2 bad arguments)."""
    args = build_parser().parse_args(argv)
    out = stdout or Console()
    err = Console(stderr=True)
    settings = config.resolve(args.url, args.key)
    try:
        with Client(settings.url, settings.key) as client:
            handler: Command = args.handler
            return handler(commands.Context(client, args, out))
    except (BacktestClientError, httpx.HTTPError, OSError, ValueError) as error:
        _report(out, err, args.json, error)
        return 1


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
