"""A backtest's trades and equity curve as CSV, with ISO-8601 UTC times.

Spreadsheets and ``pandas.read_csv(parse_dates=...)`` read ISO-8601 at once;
epoch seconds made every user convert them by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

from backtest_shared.engine import Trade

TRADE_COLUMNS = tuple(Trade.__struct_fields__)
TIME_COLUMNS = frozenset({"entry_time", "exit_time"})


def iso(epoch_seconds: Any) -> str:
    """``1700000000`` -> ``2023-11-14T22:13:20Z``."""
    return dt.datetime.fromtimestamp(int(epoch_seconds), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trades_csv(trades: Sequence[Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    for trade in trades:
        row = [trade.get(c) for c in TRADE_COLUMNS] if isinstance(trade, dict) else list(trade)
        cells = zip(TRADE_COLUMNS, row, strict=False)
        writer.writerow([iso(v) if c in TIME_COLUMNS and v is not None else v for c, v in cells])
    return out.getvalue()


def equity_csv(curve: Sequence[Sequence[Any]]) -> str:
    """``timestamp, equity, drawdown``; drawdown is the fraction below the running peak (0 or negative)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("timestamp", "equity", "drawdown"))
    peak = float("-inf")
    for timestamp, equity in curve:
        peak = max(peak, float(equity))
        drawdown = float(equity) / peak - 1.0 if peak > 0 else 0.0
        writer.writerow((iso(timestamp), equity, round(drawdown, 12)))
    return out.getvalue()
