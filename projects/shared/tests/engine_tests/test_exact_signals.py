"""Signals equal those of the exact (rational) indicator values.

Each test compares the engine with ``exact_oracle`` (``Fraction`` arithmetic,
no rounding). The data are the cases floating point gets wrong: flat runs at
awkward levels, level shifts across many orders of magnitude, repeated
values, and tiny or huge prices.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from backtest_shared.engine import OHLCV
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import StrategySpec
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import indicators
from backtest_shared.engine import run_backtest
from backtest_shared.engine.signals import SeriesCache
from backtest_shared.engine.signals import strategy_signals
from backtest_shared.engine.spec import warmup_bars
from engine_tests import exact_oracle

EXACT = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LEVELS = (1e-12, 1e-9, 1e-6, 0.001, 0.1, 1.0, 1.0001, 1.1, 123.456, 1e6, 1e9, 1e12)
UNIT_ROUNDOFF = 2.0**-53


def flat_bars(closes: np.ndarray) -> OHLCV:
    """Bars whose open, high, low and close are all the given close."""
    n = closes.shape[0]
    return OHLCV(1_600_000_000 + 3600 * np.arange(n), closes, closes, closes, closes, np.ones(n))


def cross_spec(fast: dict[str, Any], slow: dict[str, Any]) -> StrategySpec:
    return decode_strategy(
        {
            "indicators": {"fast": fast, "slow": slow},
            "entry": {"conditions": [{"kind": "crosses_above", "left": "fast", "right": "slow"}]},
            "exit": {"conditions": [{"kind": "crosses_below", "left": "fast", "right": "slow"}]},
            "costs": {"fee_bps": 10.0},
        }
    )


def sma_cross(fast: int, slow: int) -> StrategySpec:
    return cross_spec({"kind": "sma", "period": fast}, {"kind": "sma", "period": slow})


def exact_cross_signals(fast: list[Any], slow: list[Any], warmup: int) -> tuple[list[bool], list[bool]]:
    sign = exact_oracle.signs(fast, slow)
    entry = exact_oracle.crosses_above(sign)
    exit_ = exact_oracle.crosses_below(sign)
    return [e and t >= warmup for t, e in enumerate(entry)], [e and t >= warmup for t, e in enumerate(exit_)]


def assert_sma_cross_is_exact(closes: np.ndarray, fast: int, slow: int) -> None:
    spec = sma_cross(fast, slow)
    entry, exit_ = strategy_signals(SeriesCache(flat_bars(closes)), spec)
    want_entry, want_exit = exact_cross_signals(
        exact_oracle.sma(closes, fast), exact_oracle.sma(closes, slow), warmup_bars(spec)
    )
    assert entry.tolist() == want_entry
    assert exit_.tolist() == want_exit


@pytest.mark.parametrize("level", [1.1, 0.1, 123.456, 0.001, 1.0001, 1e-12, 1e12, 7.77e-7])
def test_flat_prices_never_cross_at_any_level(level: float) -> None:
    closes = np.full(118, level)
    assert run_backtest(flat_bars(closes), decode_strategy(STRATEGY_A_EXAMPLE)).metrics.num_trades == 0
    assert run_backtest(flat_bars(closes[:36]), sma_cross(5, 20)).metrics.num_trades == 0


@pytest.mark.parametrize("kind", ["sma", "wma", "ema"])
def test_flat_prices_never_cross_for_any_moving_average(kind: str) -> None:
    for level in LEVELS:
        closes = np.full(200, level)
        spec = cross_spec({"kind": kind, "period": 7}, {"kind": kind, "period": 31})
        entry, exit_ = strategy_signals(SeriesCache(flat_bars(closes)), spec)
        assert not entry.any() and not exit_.any(), level


def test_history_before_the_window_does_not_leak_into_later_signals() -> None:
    rng = np.random.default_rng(7)
    closes = np.concatenate((np.full(50, 1e12), 1.0 + 0.01 * rng.standard_normal(400).cumsum().clip(-50, 50)))
    closes = np.abs(closes)
    assert_sma_cross_is_exact(closes, 10, 50)


def test_sma_error_is_bounded_by_its_window_not_by_the_history() -> None:
    closes = np.concatenate((np.full(50, 1e12), np.full(200, 1.1), np.linspace(1.0, 2.0, 100)))
    for period in (5, 20, 50):
        got = indicators.sma(closes, period)
        want = exact_oracle.sma(closes, period)
        for t in range(period - 1, closes.shape[0]):
            exact_value = want[t]
            assert exact_value is not None
            assert abs(got[t] - float(exact_value)) <= (period + 1) * UNIT_ROUNDOFF * float(exact_value), (period, t)


def test_wide_random_walks_cross_exactly_where_the_exact_averages_cross() -> None:
    rng = np.random.default_rng(11)
    log_prices = np.clip(rng.standard_normal(3000).cumsum() * 0.8, -27.0, 27.0)
    assert_sma_cross_is_exact(np.exp(log_prices), 10, 50)


@st.composite
def hard_closes(draw: st.DrawFn, min_bars: int = 40, max_bars: int = 160) -> np.ndarray:
    """Flat runs, level shifts across orders of magnitude, repeats, tiny and huge prices."""
    n = draw(st.integers(min_bars, max_bars))
    pieces: list[np.ndarray] = []
    total = 0
    while total < n:
        level = draw(st.sampled_from(LEVELS))
        length = draw(st.integers(1, 70))
        shape = draw(st.sampled_from(["flat", "repeat", "walk"]))
        if shape == "flat":
            piece = np.full(length, level)
        elif shape == "repeat":
            cycle = np.array(draw(st.lists(st.sampled_from([1.0, 1.1, 0.9, 1.0001, 3.0]), min_size=1, max_size=3)))
            piece = level * np.resize(cycle, length)
        else:
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            piece = level * np.exp(0.05 * rng.standard_normal(length).cumsum())
        pieces.append(piece)
        total += length
    return np.clip(np.concatenate(pieces)[:n], 1e-12, 1e12)


@EXACT
@given(closes=hard_closes(), fast=st.integers(1, 12), slow=st.integers(2, 30))
def test_sma_crossings_equal_the_exact_crossings_on_hard_data(closes: np.ndarray, fast: int, slow: int) -> None:
    assert_sma_cross_is_exact(closes, fast, slow)


@EXACT
@given(closes=hard_closes(), period=st.integers(1, 20))
def test_wma_and_close_comparisons_equal_the_exact_ones(closes: np.ndarray, period: int) -> None:
    spec = decode_strategy(
        {
            "indicators": {"w": {"kind": "wma", "period": period}, "s": {"kind": "sma", "period": period + 3}},
            "entry": {"conditions": [{"kind": "greater_than", "left": "close", "right": "w"}]},
            "exit": {"conditions": [{"kind": "crosses_below", "left": "w", "right": "s"}]},
        }
    )
    entry, exit_ = strategy_signals(SeriesCache(flat_bars(closes)), spec)
    warm = warmup_bars(spec)
    above = exact_oracle.signs(exact_oracle.exact(closes), exact_oracle.wma(closes, period))  # type: ignore[arg-type]
    assert entry.tolist() == [t >= warm and s is not None and s > 0 for t, s in enumerate(above)]
    _, want_exit = exact_cross_signals(exact_oracle.wma(closes, period), exact_oracle.sma(closes, period + 3), warm)
    assert exit_.tolist() == want_exit


@EXACT
@given(closes=hard_closes(), period=st.integers(2, 20), stddev=st.sampled_from([1.0, 2.0, 0.5]))
def test_bollinger_band_comparisons_equal_the_exact_ones(closes: np.ndarray, period: int, stddev: float) -> None:
    spec = decode_strategy(
        {
            "indicators": {"bb": {"kind": "bollinger", "period": period, "stddev": stddev}},
            "entry": {"conditions": [{"kind": "greater_than", "left": "close", "right": "bb.upper"}]},
            "exit": {"conditions": [{"kind": "less_than", "left": "close", "right": "bb.middle"}]},
        }
    )
    entry, exit_ = strategy_signals(SeriesCache(flat_bars(closes)), spec)
    warm = warmup_bars(spec)
    middle = exact_oracle.sma(closes, period)
    var = exact_oracle.variance(closes, period)
    values = exact_oracle.exact(closes)
    want_entry = []
    for t in range(closes.shape[0]):
        mean, spread = middle[t], var[t]
        want_entry.append(
            t >= warm
            and mean is not None
            and spread is not None
            and exact_oracle.above_band(values[t], mean, stddev, spread) > 0
        )
    want_exit = [t >= warm and m is not None and values[t] < m for t, m in enumerate(middle)]
    assert entry.tolist() == want_entry
    assert exit_.tolist() == want_exit


@EXACT
@given(closes=hard_closes(), period=st.integers(1, 15))
def test_stochastic_and_roc_thresholds_equal_the_exact_ones(closes: np.ndarray, period: int) -> None:
    spec = decode_strategy(
        {
            "indicators": {
                "st": {"kind": "stochastic", "k_period": period, "d_period": 1},
                "r": {"kind": "roc", "period": period},
            },
            "entry": {"conditions": [{"kind": "crosses_above", "left": "st.k", "right": 50.0}]},
            "exit": {"conditions": [{"kind": "greater_than", "left": "r", "right": 10.0}]},
        }
    )
    entry, exit_ = strategy_signals(SeriesCache(flat_bars(closes)), spec)
    warm = warmup_bars(spec)
    k = exact_oracle.stochastic_k(closes, closes, closes, period)
    half: list[Fraction | None] = [Fraction(50)] * closes.shape[0]
    want_entry = exact_oracle.crosses_above(exact_oracle.signs(k, half))
    assert entry.tolist() == [e and t >= warm for t, e in enumerate(want_entry)]
    rates = exact_oracle.roc(closes, period)
    assert exit_.tolist() == [t >= warm and v is not None and v > 10 for t, v in enumerate(rates)]
