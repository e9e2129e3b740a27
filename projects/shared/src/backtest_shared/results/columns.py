"""A backtest's stored detail as columns: the equity curve and the trades, one numpy array per field.

Array conventions: every curve column has one element per stored curve point,
every trade column one element per trade; times are int64 epoch seconds, bars
int64 indices into the data, prices and amounts float64, ``side`` int8 (+1
long, -1 short), ``reason`` uint8 (an index into ``simulate.REASONS``).

The columns come straight from the engine's arrays (``from_backtest``): no
per-trade Python object is built when a result is made. ``to_builtins`` gives
back exactly the lists the JSON form held (same keys, same order, the same
floats bit for bit), so clients see identical payloads whichever form a result
was stored in.

A *summary* (``summary_of``) keeps only a coarse curve: for results nobody is
expected to open (a sweep's backtests), whose full detail is regenerated from
the data and the config when someone does.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from backtest_shared.engine.result import BacktestResult
from backtest_shared.engine.result import downsample_indices
from backtest_shared.engine.simulate import REASONS

__all__ = ["CURVE_DTYPES", "TRADE_DTYPES", "TRADE_FIELDS", "ResultColumns"]

#: Column name -> little-endian dtype, for the curve and for the trades.
CURVE_DTYPES: dict[str, str] = {"time": "<i8", "equity": "<f8"}
TRADE_DTYPES: dict[str, str] = {
    "entry_time": "<i8",
    "exit_time": "<i8",
    "entry_price": "<f8",
    "exit_price": "<f8",
    "side": "i1",
    "size": "<f8",
    "pnl": "<f8",
    "return_pct": "<f8",
    "reason": "u1",
    "entry_bar": "<i8",
    "exit_bar": "<i8",
}
#: The JSON form's keys of one trade, in its order (``engine.result.Trade``).
TRADE_FIELDS: tuple[str, ...] = (
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
_REASON_CODE = {name: code for code, name in enumerate(REASONS)}


@dataclass(frozen=True)
class ResultColumns:
    """The curve and the trades of one result; ``n_bars`` is the length of the data it ran on.
    ``summary``: the trades are not held (their columns are empty) and the curve is coarse."""

    curve: dict[str, npt.NDArray[Any]]
    trades: dict[str, npt.NDArray[Any]]
    n_bars: int
    summary: bool = False

    @property
    def n_trades(self) -> int:
        return int(self.trades["pnl"].shape[0])

    @classmethod
    def from_backtest(cls, result: BacktestResult, max_points: int = 1000) -> ResultColumns:
        """The stored columns of ``result``: its curve downsampled to at most ``max_points``
        points (``downsample_indices``; non-finite points dropped), all its trades."""
        s = result.schedule
        ts = result.timestamps
        trades: dict[str, npt.ArrayLike] = {
            "entry_time": ts[s.entry_bar],
            "exit_time": ts[s.exit_bar],
            "entry_price": s.entry_price,
            "exit_price": s.exit_price,
            "side": s.side,
            "size": result.trade_size,
            "pnl": result.trade_pnl,
            "return_pct": result.trade_return_pct,
            "reason": s.reason,
            "entry_bar": s.entry_bar,
            "exit_bar": s.exit_bar,
        }
        return cls.of(_curve(result, max_points), trades, int(result.equity.shape[0]))

    @classmethod
    def summary_of(cls, result: BacktestResult, max_points: int) -> ResultColumns:
        """The summary of ``result``: its curve downsampled as ``from_backtest`` does it,
        to at most ``max_points`` points; no trades."""
        empty = {name: np.empty(0, dtype=dtype) for name, dtype in TRADE_DTYPES.items()}
        columns = cls.of(_curve(result, max_points), empty, int(result.equity.shape[0]))
        return replace(columns, summary=True)

    @classmethod
    def of(cls, curve: Mapping[str, npt.ArrayLike], trades: Mapping[str, npt.ArrayLike], n_bars: int) -> ResultColumns:
        """Columns cast to their stored dtypes; every column of a group must have the same length."""
        return cls(
            curve=_cast("curve", curve, CURVE_DTYPES),
            trades=_cast("trades", trades, TRADE_DTYPES),
            n_bars=n_bars,
        )

    @classmethod
    def from_builtins(cls, equity_curve: Sequence[Sequence[Any]], trades: Sequence[Mapping[str, Any]]) -> ResultColumns:
        """Columns of a result in its JSON form (``[[time, equity], ...]`` and trade objects)."""
        try:
            columns: dict[str, list[Any]] = {name: [] for name in TRADE_DTYPES}
            for trade in trades:
                for name in TRADE_FIELDS:
                    if name == "side":
                        columns["side"].append(1 if trade["side"] == "long" else -1)
                    elif name == "exit_reason":
                        columns["reason"].append(_REASON_CODE[trade["exit_reason"]])
                    else:
                        columns[name].append(trade[name])
        except KeyError as err:
            raise ValueError(f"a trade lacks {err} or has an unknown exit reason") from None
        curve: dict[str, npt.ArrayLike] = {
            "time": [int(point[0]) for point in equity_curve],
            "equity": [float(point[1]) for point in equity_curve],
        }
        return cls.of(curve, columns, 0)

    def to_builtins(self) -> tuple[list[list[Any]], list[dict[str, Any]]]:
        """(equity curve, trades) exactly as the JSON form held them."""
        curve = [list(point) for point in zip(self.curve["time"].tolist(), self.curve["equity"].tolist(), strict=True)]
        t = self.trades
        sides = ["long" if side > 0 else "short" for side in t["side"].tolist()]
        reasons = [REASONS[code] for code in t["reason"].tolist()]
        rows = zip(
            t["entry_time"].tolist(),
            t["exit_time"].tolist(),
            t["entry_price"].tolist(),
            t["exit_price"].tolist(),
            sides,
            t["size"].tolist(),
            t["pnl"].tolist(),
            t["return_pct"].tolist(),
            reasons,
            t["entry_bar"].tolist(),
            t["exit_bar"].tolist(),
            strict=True,
        )
        return curve, [dict(zip(TRADE_FIELDS, row, strict=True)) for row in rows]


def _curve(result: BacktestResult, max_points: int) -> dict[str, npt.ArrayLike]:
    """The stored curve of ``result``: ``downsample_indices`` points, non-finite ones dropped."""
    idx = downsample_indices(result.equity, max_points)
    equity = result.equity[idx]
    times = result.timestamps[idx]
    finite = np.isfinite(equity)
    if not finite.all():
        equity, times = equity[finite], times[finite]
    return {"time": times, "equity": equity}


def _cast(group: str, columns: Mapping[str, npt.ArrayLike], dtypes: Mapping[str, str]) -> dict[str, npt.NDArray[Any]]:
    if set(columns) != set(dtypes):
        raise ValueError(f"{group} columns must be exactly {sorted(dtypes)}, got {sorted(columns)}")
    cast = {name: np.ascontiguousarray(columns[name], dtype=dtype) for name, dtype in dtypes.items()}
    lengths = {array.shape for array in cast.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise ValueError(f"{group} columns must be one-dimensional and of one length, got {sorted(lengths)}")
    return cast
