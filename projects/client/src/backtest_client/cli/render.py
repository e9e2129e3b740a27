"""Tables the CLI prints (rich), and the JSON it prints with ``--json``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from backtest_client.results import METRIC_ORDER
from backtest_client.results import ordered

PERCENT_METRICS = frozenset(
    {"total_return", "buy_and_hold_return", "cagr", "annual_volatility", "max_drawdown", "win_rate"}
)


def emit_json(console: Console, value: Any) -> None:
    """One JSON document on stdout (no colour, no wrapping), for scripts."""
    console.file.write(json.dumps(value, indent=2, default=str) + "\n")


def fmt(name: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        if name in PERCENT_METRICS:
            return f"{value:.2%}"
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def metrics_table(metrics: Mapping[str, Any], title: str) -> Table:
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in ordered(metrics).items():
        table.add_row(name, fmt(name, value))
    return table


def ranked_table(frame: pd.DataFrame, title: str, metrics: Iterable[str]) -> Table:
    """Rank, parameters, then the chosen metrics (all columns would not fit a terminal)."""
    table = Table(title=title)
    table.add_column("rank", justify="right")
    metric_list = [m for m in metrics if m in frame.columns]
    params = [c for c in frame.columns if c not in metric_list and c != "backtest_id" and c not in _ALL_METRICS]
    for column in [*params, *metric_list]:
        table.add_column(column, justify="right")
    table.add_column("backtest", style="dim")
    for rank, row in frame.iterrows():
        cells = [fmt(c, row[c]) for c in [*params, *metric_list]]
        table.add_row(str(rank), *cells, str(row["backtest_id"])[:8])
    return table


_ALL_METRICS = frozenset(METRIC_ORDER)


def rows_table(title: str, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(fmt(c, row.get(c)) for c in columns))
    return table
