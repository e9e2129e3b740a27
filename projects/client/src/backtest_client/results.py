"""API results as pandas: metrics as a Series, curves on a DatetimeIndex, trades and rankings as DataFrames.

The API sends epoch seconds and plain lists (compact on the wire); a notebook
wants ``df.plot()`` to work at once, so every timestamp becomes a UTC
``DatetimeIndex`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from backtest_client.grid import short_path

TRADE_COLUMNS = (
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "side",
    "size",
    "pnl",
    "return_pct",
    "exit_reason",
    "entry_bar",
    "exit_bar",
)


def _times(values: Any) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(values, dtype="int64"), unit="s", utc=True))


#: The order metrics are shown in (the API's JSON objects come back in the database's key order).
METRIC_ORDER = (
    "total_return",
    "buy_and_hold_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration_bars",
    "num_trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_trade_duration_bars",
    "exposure_pct",
    "best_trade",
    "worst_trade",
)


def ordered(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Known metrics in ``METRIC_ORDER``, then any others alphabetically."""
    rank = {name: i for i, name in enumerate(METRIC_ORDER)}
    return {k: metrics[k] for k in sorted(metrics, key=lambda k: (rank.get(k, len(rank)), k))}


def metrics_series(metrics: Mapping[str, Any], name: str | None = None) -> pd.Series:
    return pd.Series(ordered(metrics), name=name, dtype=object).infer_objects()


def equity_series(curve: Sequence[Sequence[float]]) -> pd.Series:
    """``[[epoch_seconds, equity], ...]`` -> equity on a UTC DatetimeIndex."""
    if not curve:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), name="equity", dtype=float)
    index = _times([point[0] for point in curve])
    index.name = "timestamp"
    return pd.Series([float(point[1]) for point in curve], index=index, name="equity")


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Fraction below the running peak (0 at a new high, -0.25 a quarter below it)."""
    return (equity / equity.cummax() - 1.0).rename("drawdown")


def trades_frame(trades: Sequence[Any]) -> pd.DataFrame:
    """One row per round trip; ``entry_time``/``exit_time`` as UTC datetimes."""
    rows = [t if isinstance(t, Mapping) else dict(zip(TRADE_COLUMNS, t, strict=False)) for t in trades]
    frame = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
    for column in ("entry_time", "exit_time"):
        frame[column] = pd.to_datetime(frame[column].astype("int64"), unit="s", utc=True)
    return frame


def ranked_frame(results: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A bundle's ranked results: ``rank`` index, ``backtest_id``, one column per parameter and metric."""
    rows = []
    for item in results:
        row: dict[str, Any] = {"rank": item["rank"], "backtest_id": item["backtest_id"]}
        row.update({short_path(k): v for k, v in item.get("parameters", {}).items()})
        row.update(ordered(item.get("metrics", {})))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["backtest_id"], index=pd.Index([], name="rank"))
    return frame.set_index("rank")


@dataclass(frozen=True)
class Result:
    """A succeeded backtest's result (``raw`` is the API's JSON)."""

    backtest_id: str
    raw: Mapping[str, Any]
    strategy: Mapping[str, Any]

    @property
    def metrics(self) -> pd.Series:
        return metrics_series(self.raw.get("metrics", {}), name=self.backtest_id)

    @property
    def equity(self) -> pd.Series:
        return equity_series(self.raw.get("equity_curve", []))

    @property
    def drawdown(self) -> pd.Series:
        return drawdown_series(self.equity)

    @property
    def trades(self) -> pd.DataFrame:
        return trades_frame(self.raw.get("trades", []))

    def chart(self, title: str | None = None) -> Any:
        """Equity, drawdown and trades as a self-contained HTML chart (``.save(path)``; shows in notebooks)."""
        from backtest_client.chart import result_chart

        return result_chart(self, title or str(self.strategy.get("name") or self.backtest_id))
