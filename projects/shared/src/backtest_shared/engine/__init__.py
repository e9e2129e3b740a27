"""Pure numpy backtest engine: specs, data, indicators, simulation, sweeps.

Array conventions: see ``data`` (int64 epoch-second timestamps, float64 prices,
contiguous, no NaN). The engine imports only numpy, msgspec and (lazily, for
file I/O) pandas; it never touches databases or other backtest_shared packages.
"""

from __future__ import annotations

from backtest_shared.engine.backtest import run_backtest
from backtest_shared.engine.data import OHLCV
from backtest_shared.engine.data import ohlcv_content_hash
from backtest_shared.engine.data import synthetic_ohlcv
from backtest_shared.engine.data import validate_ohlcv
from backtest_shared.engine.errors import EngineValidationError
from backtest_shared.engine.examples import STRATEGY_A_EXAMPLE
from backtest_shared.engine.examples import STRATEGY_B_EXAMPLE
from backtest_shared.engine.loaders import load_csv
from backtest_shared.engine.loaders import load_parquet
from backtest_shared.engine.loaders import ohlcv_from_frame
from backtest_shared.engine.loaders import to_parquet_bytes
from backtest_shared.engine.metrics import Metrics
from backtest_shared.engine.result import BacktestResult
from backtest_shared.engine.result import StoredResult
from backtest_shared.engine.result import Trade
from backtest_shared.engine.signals import SeriesCache
from backtest_shared.engine.spec import Condition
from backtest_shared.engine.spec import Costs
from backtest_shared.engine.spec import MoneyManagement
from backtest_shared.engine.spec import Rule
from backtest_shared.engine.spec import StrategySpec
from backtest_shared.engine.spec import decode_strategy
from backtest_shared.engine.spec import strategy_to_builtins
from backtest_shared.engine.spec import validate_strategy
from backtest_shared.engine.spec import warmup_bars
from backtest_shared.engine.sweep import RANKABLE_METRICS
from backtest_shared.engine.sweep import SweepEntry
from backtest_shared.engine.sweep import expand_grid
from backtest_shared.engine.sweep import run_sweep
from backtest_shared.engine.version import ENGINE_VERSION

__all__ = [
    "ENGINE_VERSION",
    "OHLCV",
    "RANKABLE_METRICS",
    "STRATEGY_A_EXAMPLE",
    "STRATEGY_B_EXAMPLE",
    "BacktestResult",
    "Condition",
    "Costs",
    "EngineValidationError",
    "Metrics",
    "MoneyManagement",
    "Rule",
    "SeriesCache",
    "StoredResult",
    "StrategySpec",
    "SweepEntry",
    "Trade",
    "decode_strategy",
    "expand_grid",
    "load_csv",
    "load_parquet",
    "ohlcv_content_hash",
    "ohlcv_from_frame",
    "run_backtest",
    "run_sweep",
    "strategy_to_builtins",
    "synthetic_ohlcv",
    "to_parquet_bytes",
    "validate_ohlcv",
    "validate_strategy",
    "warmup_bars",
]
