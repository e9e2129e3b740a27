"""A deliberately simple per-bar reference implementation (the test oracle).

It re-implements signal evaluation and the whole execution semantics with a
plain Python loop over bars and explicit cash/size bookkeeping; only the
indicator series themselves come from the engine (they are tested against
naive formulas separately). Array conventions: as in the engine (float64
arrays of length n); the oracle returns Python lists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from backtest_shared.engine.data import OHLCV
from backtest_shared.engine.signals import SeriesCache
from backtest_shared.engine.spec import Condition
from backtest_shared.engine.spec import Rule
from backtest_shared.engine.spec import StrategySpec
from backtest_shared.engine.spec import warmup_bars


@dataclass
class OracleTrade:
    entry_bar: int
    exit_bar: int
    side: int
    entry_price: float
    exit_price: float
    size: float
    pnl: float
    reason: str


def _value(series: dict[str, list[float]], ref: str | float, i: int) -> float:
    if isinstance(ref, str):
        return series[ref][i]
    return float(ref)


def _condition(series: dict[str, list[float]], cond: Condition, i: int) -> bool:
    a = _value(series, cond.left, i)
    b = _value(series, cond.right, i)
    if cond.kind == "greater_than":
        return a > b
    if cond.kind == "less_than":
        return a < b
    if i == 0:
        return False
    a0 = _value(series, cond.left, i - 1)
    b0 = _value(series, cond.right, i - 1)
    if cond.kind == "crosses_above":
        return a > b and a0 <= b0
    return a < b and a0 >= b0


def _rule(series: dict[str, list[float]], rule: Rule, i: int) -> bool:
    if not rule.conditions:
        return False
    results = [_condition(series, c, i) for c in rule.conditions]
    return all(results) if rule.combine == "all" else any(results)


def oracle_backtest(data: OHLCV, spec: StrategySpec) -> tuple[list[OracleTrade], list[float]]:
    cache = SeriesCache(data)
    refs: set[str] = set()
    for rule in (spec.entry, spec.exit):
        for cond in rule.conditions:
            refs.add(cond.left)
            if isinstance(cond.right, str):
                refs.add(cond.right)
    series = {ref: [float(v) for v in cache.series(spec, ref)] for ref in refs}
    o, h, lo, c = (
        data.open.tolist(),
        data.high.tolist(),
        data.low.tolist(),
        data.close.tolist(),
    )
    n = len(c)
    warm = warmup_bars(spec)
    mm = spec.money
    f = mm.position_size * mm.leverage
    fee = spec.costs.fee_bps / 10_000
    slip = spec.costs.slippage_bps / 10_000
    stop = None if mm.stop_loss_pct is None else mm.stop_loss_pct / 100
    target = None if mm.take_profit_pct is None else mm.take_profit_pct / 100
    trail = None if mm.trailing_stop_pct is None else mm.trailing_stop_pct / 100

    cash = spec.initial_capital  # equity when flat / equity before entry
    side = 0
    size = entry_price = entry_fee = 0.0
    entry_bar = 0
    best = 0.0  # best price since entry, up to the previous bar
    pending: list[str] = []  # actions for the next open: "close", "long", "short"
    ruined = False
    trades: list[OracleTrade] = []
    equity: list[float] = []

    def open_position(t: int, new_side: int, raw: float) -> None:
        nonlocal side, size, entry_price, entry_fee, entry_bar, best
        side = new_side
        entry_price = raw * (1 + side * slip)
        size = cash * f / entry_price
        entry_fee = fee * size * entry_price
        entry_bar = t
        best = entry_price

    def close_position(t: int, raw: float, reason: str) -> None:
        nonlocal side, cash, ruined
        exit_price = raw * (1 - side * slip)
        pnl = side * size * (exit_price - entry_price) - entry_fee - fee * size * exit_price
        trades.append(OracleTrade(entry_bar, t, side, entry_price, exit_price, size, pnl, reason))
        cash = cash + pnl
        side = 0
        if cash <= 0:
            ruined = True

    for t in range(n):
        # 1. orders decided on the previous close fill at this open
        for action in pending:
            if action == "close" and side != 0:
                close_position(t, o[t], "signal")
            elif action in ("long", "short") and side == 0 and not ruined:
                open_position(t, 1 if action == "long" else -1, o[t])
        pending = []
        # 2. stops and targets inside the bar
        if side != 0 and (stop is not None or target is not None or trail is not None):
            if side > 0:
                fixed = -math.inf if stop is None else entry_price * (1 - stop)
                trail_lvl = -math.inf if trail is None else best * (1 - trail)
                stop_lvl = max(fixed, trail_lvl)
                tgt = math.inf if target is None else entry_price * (1 + target)
                stop_reason = "trailing_stop" if trail_lvl > fixed else "stop_loss"
                if o[t] <= stop_lvl:
                    close_position(t, o[t], stop_reason)
                elif o[t] >= tgt:
                    close_position(t, o[t], "take_profit")
                elif lo[t] <= stop_lvl:
                    close_position(t, stop_lvl, stop_reason)
                elif h[t] >= tgt:
                    close_position(t, tgt, "take_profit")
                else:
                    best = max(best, h[t])
            else:
                fixed = math.inf if stop is None else entry_price * (1 + stop)
                trail_lvl = math.inf if trail is None else best * (1 + trail)
                stop_lvl = min(fixed, trail_lvl)
                tgt = -math.inf if target is None else entry_price * (1 - target)
                stop_reason = "trailing_stop" if trail_lvl < fixed else "stop_loss"
                if o[t] >= stop_lvl:
                    close_position(t, o[t], stop_reason)
                elif o[t] <= tgt:
                    close_position(t, o[t], "take_profit")
                elif h[t] >= stop_lvl:
                    close_position(t, stop_lvl, stop_reason)
                elif lo[t] <= tgt:
                    close_position(t, tgt, "take_profit")
                else:
                    best = min(best, lo[t])
        # 3. last bar: close what is open at the close
        if t == n - 1 and side != 0:
            close_position(t, c[t], "end_of_data")
        # 4. mark to market at the close
        if side != 0:
            equity.append(cash - entry_fee + side * size * (c[t] - entry_price))
        else:
            equity.append(cash)
        # 5. signals on this close decide the next open's orders
        if t >= warm and t < n - 1:
            en = _rule(series, spec.entry, t)
            ex = _rule(series, spec.exit, t)
            go_long = go_short = False
            if spec.direction == "long":
                go_long = en and not ex
                close = side > 0 and ex
            elif spec.direction == "short":
                go_short = en and not ex
                close = side < 0 and ex
            else:
                go_long = en and not ex
                go_short = ex and not en
                close = (side > 0 and go_short) or (side < 0 and go_long)
            if close:
                pending.append("close")
            if side == 0 or close:
                if go_long:
                    pending.append("long")
                elif go_short:
                    pending.append("short")
    return trades, equity


def as_arrays(trades: list[OracleTrade]) -> dict[str, np.ndarray]:
    return {
        "entry_bar": np.array([t.entry_bar for t in trades], dtype=np.int64),
        "exit_bar": np.array([t.exit_bar for t in trades], dtype=np.int64),
        "side": np.array([t.side for t in trades], dtype=np.int64),
        "entry_price": np.array([t.entry_price for t in trades]),
        "exit_price": np.array([t.exit_price for t in trades]),
        "pnl": np.array([t.pnl for t in trades]),
    }
