"""Property tests: the vectorised engine equals the per-bar oracle."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import given
from hypothesis import settings

from backtest_shared.engine import OHLCV
from backtest_shared.engine import StrategySpec
from backtest_shared.engine import backtest as backtest_module
from backtest_shared.engine import run_backtest
from backtest_shared.engine import warmup_bars
from backtest_shared.engine.simulate import schedule_trades
from engine_tests.oracle import as_arrays
from engine_tests.oracle import oracle_backtest
from engine_tests.strategies import ohlcv_data
from engine_tests.strategies import strategy_spec

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_same(data: OHLCV, spec: StrategySpec) -> None:
    result = run_backtest(data, spec)
    trades, equity = oracle_backtest(data, spec)
    expected = as_arrays(trades)
    s = result.schedule
    np.testing.assert_array_equal(s.entry_bar, expected["entry_bar"])
    np.testing.assert_array_equal(s.exit_bar, expected["exit_bar"])
    np.testing.assert_array_equal(s.side, expected["side"])
    assert [t.exit_reason for t in result.trades] == [t.reason for t in trades]
    np.testing.assert_allclose(s.entry_price, expected["entry_price"], rtol=1e-12)
    np.testing.assert_allclose(s.exit_price, expected["exit_price"], rtol=1e-12)
    np.testing.assert_allclose(result.trade_pnl, expected["pnl"], rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(result.equity, equity, rtol=1e-9, atol=1e-6)


@PROPERTY
@given(data=ohlcv_data(), spec=strategy_spec())
def test_engine_trades_and_equity_equal_the_oracle(data: OHLCV, spec: StrategySpec) -> None:
    assume(data.n_bars >= warmup_bars(spec) + 2)
    _assert_same(data, spec)


@PROPERTY
@given(data=ohlcv_data(), spec=strategy_spec())
def test_per_trade_fallback_path_equals_the_oracle(data: OHLCV, spec: StrategySpec) -> None:
    assume(data.n_bars >= warmup_bars(spec) + 2)
    lazy = functools.partial(schedule_trades, vector_budget=-1.0)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(backtest_module, "schedule_trades", lazy)
        _assert_same(data, spec)


@PROPERTY
@given(data=ohlcv_data(), spec=strategy_spec(stops=False))
def test_signal_only_strategies_equal_the_oracle(data: OHLCV, spec: StrategySpec) -> None:
    assume(data.n_bars >= warmup_bars(spec) + 2)
    _assert_same(data, spec)
