"""Sweeps and grid expansion."""

from __future__ import annotations

import pytest

from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import expand_grid
from backtest_shared.engine import run_backtest
from backtest_shared.engine import run_sweep
from backtest_shared.engine import synthetic_ohlcv

BASE = decode_strategy(STRATEGY_A_EXAMPLE)
DATA = synthetic_ohlcv(5_000, seed=21)


def test_expand_grid_returns_the_cartesian_product_in_key_order() -> None:
    specs = expand_grid(
        BASE,
        {"indicators.fast.period": [5, 10], "indicators.slow.period": [30, 40, 50]},
    )
    assert [(s.indicators["fast"].period, s.indicators["slow"].period) for s in specs] == [  # type: ignore[union-attr]
        (5, 30),
        (5, 40),
        (5, 50),
        (10, 30),
        (10, 40),
        (10, 50),
    ]
    assert expand_grid(BASE, {}) == [BASE]


def test_expand_grid_reaches_optional_money_fields_and_list_items() -> None:
    specs = expand_grid(
        BASE,
        {
            "money.stop_loss_pct": [None, 2.0],
            "entry.conditions.0.kind": ["greater_than"],
        },
    )
    assert [s.money.stop_loss_pct for s in specs] == [None, 2.0]
    assert specs[0].entry.conditions[0].kind == "greater_than"


def test_expand_grid_rejects_an_unknown_path() -> None:
    with pytest.raises(EngineValidationError) as info:
        expand_grid(BASE, {"indicators.fast.length": [3]})
    assert info.value.field == "grid.indicators.fast.length"


def test_expand_grid_rejects_an_invalid_value_naming_the_field() -> None:
    with pytest.raises(EngineValidationError) as info:
        expand_grid(BASE, {"indicators.fast.period": [5, 0]})
    assert info.value.field == "indicators.fast.period"
    assert "=0" in info.value.reason
    with pytest.raises(EngineValidationError):
        expand_grid(BASE, {"costs.fee_bps": []})


def test_sweep_metrics_equal_single_runs_and_are_ranked_best_first() -> None:
    specs = expand_grid(
        decode_strategy(STRATEGY_B_EXAMPLE),
        {"indicators.fast.period": [5, 10, 20], "indicators.slow.period": [30, 60]},
    )
    calls: list[float] = []
    entries = run_sweep(DATA, specs, rank_by="total_return", progress=calls.append)
    assert [e.rank for e in entries] == list(range(1, 7))
    assert sorted(e.index for e in entries) == list(range(6))
    returns = [e.metrics.total_return for e in entries]
    assert returns == sorted(returns, reverse=True)  # type: ignore[type-var]
    for e in entries:
        assert e.metrics == run_backtest(DATA, specs[e.index]).metrics
    assert calls[-1] == 1.0


def test_sweep_ranks_drawdown_lowest_first() -> None:
    specs = expand_grid(BASE, {"indicators.fast.period": [3, 8, 15]})
    entries = run_sweep(DATA, specs, rank_by="max_drawdown")
    dd = [e.metrics.max_drawdown for e in entries]
    assert dd == sorted(dd)  # type: ignore[type-var]


def test_sweep_validates_everything_before_work() -> None:
    with pytest.raises(EngineValidationError) as info:
        run_sweep(DATA, [BASE], rank_by="luck")
    assert info.value.field == "rank_by"
    with pytest.raises(EngineValidationError) as info:
        run_sweep(
            synthetic_ohlcv(55),
            [BASE, expand_grid(BASE, {"indicators.slow.period": [80]})[0]],
        )
    assert info.value.field == "specs[1].data"
