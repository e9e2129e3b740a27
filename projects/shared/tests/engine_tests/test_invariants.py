"""Invariants of the engine, as property tests."""

from __future__ import annotations

import math

import msgspec
import numpy as np
from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from backtest_shared.engine import OHLCV
from backtest_shared.engine import StrategySpec
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import strategy_to_builtins
from backtest_shared.engine import warmup_bars
from backtest_shared.engine.signals import SeriesCache
from backtest_shared.engine.signals import strategy_signals
from engine_tests.strategies import ohlcv_data
from engine_tests.strategies import strategy_spec

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(data=ohlcv_data(), spec=strategy_spec())
def test_equity_is_finite_and_stored_result_is_plain_json(data: OHLCV, spec: StrategySpec) -> None:
    assume(data.n_bars >= warmup_bars(spec) + 2)
    result = run_backtest(data, spec)
    assert np.isfinite(result.equity).all()
    for value in msgspec.to_builtins(result.metrics).values():
        assert value is None or math.isfinite(value)
    stored = result.to_stored(max_points=50)
    assert len(stored.equity_curve) <= 50
    msgspec.json.decode(msgspec.json.encode(stored))


@PROPERTY
@given(data=ohlcv_data(), spec=strategy_spec())
def test_no_trade_without_a_signal(data: OHLCV, spec: StrategySpec) -> None:
    assume(data.n_bars >= warmup_bars(spec) + 2)
    entry, exit_ = strategy_signals(SeriesCache(data), spec)
    for trade in run_backtest(data, spec).trades:
        signal_bar = trade.entry_bar - 1
        if trade.side == "long" or spec.direction == "short":
            assert entry[signal_bar] and not exit_[signal_bar]
        else:
            assert exit_[signal_bar] and not entry[signal_bar]
        assert signal_bar >= warmup_bars(spec)
        if trade.exit_reason == "signal":
            closing = exit_ if spec.direction != "both" or trade.side == "long" else entry
            assert closing[trade.exit_bar - 1]


@PROPERTY
@given(data=ohlcv_data(), spec=strategy_spec(), extra=st.sampled_from([1.0, 5.0, 50.0]))
def test_raising_fees_never_raises_returns(data: OHLCV, spec: StrategySpec, extra: float) -> None:
    assume(data.n_bars >= warmup_bars(spec) + 2)
    raw = strategy_to_builtins(spec)
    raw["money"]["leverage"] = 1.0
    cheap = decode_strategy(raw)
    raw["costs"]["fee_bps"] += extra
    dear = decode_strategy(raw)
    low = run_backtest(data, cheap).equity[-1]
    high = run_backtest(data, dear).equity[-1]
    assert high <= low * (1 + 1e-12)


def _mirror(data: OHLCV) -> OHLCV:
    centre = float(np.mean(np.concatenate([data.high, data.low])))
    return OHLCV(
        data.timestamps,
        2 * centre - data.open,
        2 * centre - data.low,
        2 * centre - data.high,
        2 * centre - data.close,
        data.volume,
    )


_SWAP = {"crosses_above": "crosses_below", "crosses_below": "crosses_above"}


@PROPERTY
@given(
    data=ohlcv_data(),
    fast=st.integers(1, 10),
    slow=st.integers(11, 30),
    kind=st.sampled_from(["sma", "ema", "wma"]),
)
def test_long_on_mirrored_prices_behaves_as_short_on_the_originals(
    data: OHLCV, fast: int, slow: int, kind: str
) -> None:
    mirrored = _mirror(data)
    assume(float(mirrored.low.min()) > 0)

    def spec(direction: str, up: str) -> StrategySpec:
        return decode_strategy(
            {
                "indicators": {
                    "f": {"kind": kind, "period": fast},
                    "s": {"kind": kind, "period": slow},
                },
                "entry": {"conditions": [{"kind": up, "left": "f", "right": "s"}]},
                "exit": {"conditions": [{"kind": _SWAP[up], "left": "f", "right": "s"}]},
                "direction": direction,
            }
        )

    long_trades = run_backtest(mirrored, spec("long", "crosses_above")).trades
    short_trades = run_backtest(data, spec("short", "crosses_below")).trades
    assert [(t.entry_bar, t.exit_bar, t.exit_reason) for t in long_trades] == [
        (t.entry_bar, t.exit_bar, t.exit_reason) for t in short_trades
    ]
    assert all(t.side == "short" for t in short_trades)
    for a, b in zip(long_trades, short_trades, strict=True):
        if abs(a.pnl) > 1e-6 and abs(b.pnl) > 1e-6:
            assert (a.pnl > 0) == (b.pnl > 0)
