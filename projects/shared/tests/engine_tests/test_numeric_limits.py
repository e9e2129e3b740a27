"""Inputs whose magnitude makes a result meaningless are refused, naming the field.

No result may hold NaN or infinity: prices are bounded, capital x leverage is
checked against the lowest open, and compounding beyond float64 is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from backtest_shared.engine import OHLCV
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import validate_ohlcv
from engine_tests.helpers import cross_spec


def flat_bars(closes: np.ndarray) -> OHLCV:
    n = closes.shape[0]
    return OHLCV(1_600_000_000 + 3600 * np.arange(n), closes, closes, closes, closes, np.ones(n))


def walk(level: float, n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(3)
    return level * np.exp(0.01 * rng.standard_normal(n).cumsum())


@pytest.mark.parametrize("level", [1e304, 1e100, 1e13, 1e-13, 1e-300])
def test_prices_outside_the_supported_range_are_refused_naming_the_field(level: float) -> None:
    with pytest.raises(EngineValidationError) as info:
        validate_ohlcv(flat_bars(walk(level)))
    assert info.value.field == "data.open[0]"
    assert "outside the supported range" in info.value.reason


def test_huge_volume_is_refused_naming_the_field() -> None:
    data = flat_bars(walk(1.0))
    data = OHLCV(data.timestamps, data.open, data.high, data.low, data.close, np.full(data.n_bars, 1e30))
    with pytest.raises(EngineValidationError, match=r"data\.volume\[0\]"):
        validate_ohlcv(data)


def test_capital_times_leverage_against_tiny_prices_is_refused_not_turned_into_infinite_sizes() -> None:
    spec = decode_strategy(
        {
            "indicators": {"fast": {"kind": "sma", "period": 10}, "slow": {"kind": "sma", "period": 50}},
            "entry": {"conditions": [{"kind": "crosses_above", "left": "fast", "right": "slow"}]},
            "money": {"leverage": 100.0},
            "initial_capital": 1e15,
        }
    )
    with pytest.raises(EngineValidationError) as info:
        run_backtest(flat_bars(walk(1e-11)), spec)
    assert info.value.field == "initial_capital"


def test_compounding_beyond_float64_is_refused_instead_of_storing_infinity() -> None:
    closes = np.array([1e12 if i % 2 else 1e-12 for i in range(80)])
    spec = cross_spec(1.0, leverage=100.0)
    with pytest.raises(EngineValidationError) as info:
        run_backtest(flat_bars(closes), spec)
    assert info.value.field == "money.leverage"


def test_results_inside_the_limits_are_finite_at_the_extreme_levels() -> None:
    for level in (1e-12 * 1.5, 1e12 / 1.5):
        result = run_backtest(flat_bars(np.clip(walk(level), 1e-12, 1e12)), decode_strategy(STRATEGY_A_EXAMPLE))
        assert np.isfinite(result.equity).all()
        assert all(np.isfinite([t.size, t.pnl, t.entry_price]).all() for t in result.trades)
