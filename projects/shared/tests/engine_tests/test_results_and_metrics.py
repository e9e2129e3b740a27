"""Metrics, stored results, progress reporting and the public interface."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

import backtest_shared.engine as engine
from backtest_shared.engine import ENGINE_VERSION
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import StoredResult
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import strategy_to_builtins
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.engine.drawdown import running_peak
from backtest_shared.engine.metrics import compute_metrics
from backtest_shared.engine.result import downsample_indices
from engine_tests.helpers import DAY


def test_metrics_of_a_hand_made_equity_curve() -> None:
    equity = np.array([100.0, 110.0, 99.0, 99.0, 120.0, 108.0])
    ts = np.arange(6, dtype=np.int64) * DAY
    pnl = np.array([10.0, -5.0, 15.0])
    m = compute_metrics(
        equity,
        ts,
        np.array([0, 2, 3]),
        np.array([1, 3, 5]),
        pnl,
        np.array([10.0, -5.0, 15.0]),
        100.0,
    )
    assert m.total_return == pytest.approx(0.08)
    assert m.max_drawdown == pytest.approx(0.1)
    assert m.max_drawdown_duration_bars == 2
    assert m.win_rate == pytest.approx(2 / 3)
    assert m.profit_factor == pytest.approx(5.0)
    assert m.expectancy == pytest.approx(20 / 3)
    assert m.num_trades == 3
    assert m.avg_trade_duration_bars == pytest.approx(4 / 3)
    assert m.exposure_pct == pytest.approx(100 * 4 / 6)
    assert (m.best_trade, m.worst_trade) == (15.0, -5.0)
    years = 5 * DAY / (365.25 * DAY)
    assert m.cagr == pytest.approx(1.08 ** (1 / years) - 1)
    r = equity[1:] / equity[:-1] - 1
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(5 / years))


def test_metrics_without_trades_are_null_not_nan() -> None:
    equity = np.full(10, 100.0)
    m = compute_metrics(
        equity,
        np.arange(10, dtype=np.int64) * DAY,
        np.array([], dtype=np.int64),
        np.array([], dtype=np.int64),
        np.array([]),
        np.array([]),
        100.0,
    )
    assert m.sharpe is None and m.sortino is None and m.calmar is None and m.win_rate is None
    assert m.total_return == 0.0 and m.max_drawdown == 0.0 and m.num_trades == 0
    assert b"NaN" not in msgspec.json.encode(m)


def test_stored_result_is_downsampled_keeping_first_last_and_drawdown_extremes() -> None:
    data = synthetic_ohlcv(20_000, seed=2)
    result = run_backtest(data, decode_strategy(STRATEGY_B_EXAMPLE))
    stored = result.to_stored()
    assert len(stored.equity_curve) <= 1000
    times = [t for t, _ in stored.equity_curve]
    assert times == sorted(times)
    assert times[0] == data.timestamps[0] and times[-1] == data.timestamps[-1]
    peak = np.maximum.accumulate(result.equity)
    trough = int(np.argmax(1 - result.equity / peak))
    assert int(data.timestamps[trough]) in times
    assert int(data.timestamps[int(np.argmax(result.equity[: trough + 1]))]) in times
    decoded: StoredResult = msgspec.json.decode(msgspec.json.encode(stored), type=StoredResult)
    assert decoded.metrics == result.metrics
    assert len(decoded.trades) == result.metrics.num_trades
    assert decoded.engine_version == ENGINE_VERSION


def test_downsampling_keeps_short_curves_whole() -> None:
    assert downsample_indices(np.ones(10), 1000).tolist() == list(range(10))
    assert len(downsample_indices(np.random.default_rng(0).random(5000), 7)) <= 7


def test_progress_is_reported_a_few_times_ending_at_one() -> None:
    calls: list[float] = []
    run_backtest(
        synthetic_ohlcv(1000),
        decode_strategy(STRATEGY_A_EXAMPLE),
        progress=calls.append,
    )
    assert 2 <= len(calls) <= 10
    assert calls == sorted(calls) and calls[-1] == 1.0 and all(0 <= c <= 1 for c in calls)


def test_example_specs_round_trip_through_json() -> None:
    for example in (
        STRATEGY_A_EXAMPLE,
        STRATEGY_B_EXAMPLE,
        engine.examples.RSI_BOTH_EXAMPLE,
    ):
        spec = decode_strategy(example)
        assert decode_strategy(msgspec.json.encode(strategy_to_builtins(spec))) == spec
        run_backtest(synthetic_ohlcv(3000, seed=4), spec)


def test_public_interface_names_exist() -> None:
    for name in (
        "ENGINE_VERSION",
        "EngineValidationError",
        "StrategySpec",
        "decode_strategy",
        "validate_strategy",
        "strategy_to_builtins",
        "warmup_bars",
        "OHLCV",
        "validate_ohlcv",
        "ohlcv_from_frame",
        "load_csv",
        "load_parquet",
        "to_parquet_bytes",
        "synthetic_ohlcv",
        "ohlcv_content_hash",
        "run_backtest",
        "BacktestResult",
        "Metrics",
        "Trade",
        "StoredResult",
        "run_sweep",
        "SweepEntry",
        "expand_grid",
        "RANKABLE_METRICS",
        "STRATEGY_A_EXAMPLE",
        "STRATEGY_B_EXAMPLE",
    ):
        assert hasattr(engine, name), name


def test_engine_never_imports_database_libraries_or_sibling_packages() -> None:
    import pathlib
    import re

    root = pathlib.Path(engine.__file__).parent
    for path in root.glob("*.py"):
        for line in path.read_text().splitlines():
            if re.match(r"\s*(from|import)\s", line):
                assert "sqlalchemy" not in line and "psycopg" not in line, path
                if "backtest_shared" in line:
                    assert "backtest_shared.engine" in line, (path, line)
                assert not re.match(r"\s*import\s+\w+(\.\w+)*\s*,", line), (path, line)


@pytest.mark.parametrize("n", [1, 2, 255, 256, 511, 512, 513, 5_000, 100_001])
def test_running_peak_equals_the_plain_running_maximum(n: int) -> None:
    rng = np.random.default_rng(n)
    curves = [
        np.cumprod(1.0 + rng.normal(0.0, 0.01, n)) * 100.0,  # mostly below its peak
        np.arange(1.0, n + 1.0),  # a new high on every bar
        np.full(n, 5.0),
        np.where(rng.random(n) < 0.001, 50.0, rng.random(n)),  # rare spikes
    ]
    for equity in curves:
        np.testing.assert_array_equal(running_peak(equity), np.maximum.accumulate(equity))
