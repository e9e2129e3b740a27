"""Backtests sharing one ``SeriesCache`` (as a worker's batch of bundle children does) give the same bits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from backtest_shared.engine import OHLCV
from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import SeriesCache
from backtest_shared.engine import StrategySpec
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.engine.result import BacktestResult
from engine_tests.strategies import ohlcv_data
from engine_tests.strategies import strategy_spec


def _outcome(data: OHLCV, spec: StrategySpec, cache: SeriesCache | None) -> BacktestResult | str:
    try:
        return run_backtest(data, spec, cache=cache)
    except EngineValidationError as err:
        return f"{err.field}: {err.reason}"


def _assert_same(a: BacktestResult | str, b: BacktestResult | str) -> None:
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    assert a.metrics == b.metrics
    np.testing.assert_array_equal(a.equity, b.equity, strict=True)
    assert a.equity.tobytes() == b.equity.tobytes()
    assert a.to_stored(max_points=10_000) == b.to_stored(max_points=10_000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ohlcv_data(), specs=st.lists(strategy_spec(), min_size=1, max_size=6))
def test_a_sequence_of_backtests_sharing_a_cache_equals_each_run_alone(data: OHLCV, specs: list[StrategySpec]) -> None:
    shared = SeriesCache(data)
    for spec in specs:
        _assert_same(_outcome(data, spec, shared), _outcome(data, spec, None))


def test_a_cache_of_other_data_is_refused() -> None:
    data = synthetic_ohlcv(200, seed=1)
    other = synthetic_ohlcv(200, seed=2)
    with pytest.raises(ValueError, match="other data"):
        run_backtest(data, decode_strategy(STRATEGY_B_EXAMPLE), cache=SeriesCache(other))
