"""``run_backtest``: validate, compute indicators and signals, simulate.

Array conventions: takes ``OHLCV`` (int64 epoch-second timestamps, float64
prices); returns a ``BacktestResult`` whose ``equity`` is float64 of length n.
All validation (spec, data, enough bars for warm-up, capital against
prices) happens before any computation; a result whose compounded equity
would leave the float64 range is refused instead of holding infinity. The
execution semantics are documented in ``simulate``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from backtest_shared.engine.data import OHLCV
from backtest_shared.engine.data import lowest_open
from backtest_shared.engine.data import validate_ohlcv
from backtest_shared.engine.errors import EngineValidationError
from backtest_shared.engine.ledger import apply_ruin
from backtest_shared.engine.ledger import equity_curve
from backtest_shared.engine.ledger import trade_growth
from backtest_shared.engine.metrics import compute_metrics
from backtest_shared.engine.result import BacktestResult
from backtest_shared.engine.signals import SeriesCache
from backtest_shared.engine.signals import strategy_signals
from backtest_shared.engine.simulate import SimConfig
from backtest_shared.engine.simulate import schedule_trades
from backtest_shared.engine.spec import StrategySpec
from backtest_shared.engine.spec import min_bars
from backtest_shared.engine.spec import validate_strategy
from backtest_shared.engine.spec import warmup_bars

Progress = Callable[[float], None]
FloatArray = npt.NDArray[np.float64]

__all__ = ["Progress", "check_scale", "run_backtest", "sim_config"]


def sim_config(spec: StrategySpec) -> SimConfig:
    mm = spec.money

    def pct(x: float | None) -> float | None:
        return None if x is None else x / 100.0

    return SimConfig(
        direction=spec.direction,
        fraction=mm.position_size * mm.leverage,
        fee=spec.costs.fee_bps / 10_000.0,
        slippage=spec.costs.slippage_bps / 10_000.0,
        stop=pct(mm.stop_loss_pct),
        target=pct(mm.take_profit_pct),
        trail=pct(mm.trailing_stop_pct),
    )


def check_length(data: OHLCV, spec: StrategySpec) -> None:
    need = min_bars(spec)
    if data.n_bars < need:
        raise EngineValidationError(
            "data",
            f"{data.n_bars} bars are too few: the strategy needs {warmup_bars(spec)} "
            f"warm-up bars plus a signal bar and a fill bar ({need} bars)",
        )


MAX_POSITION_UNITS = 1e27


def check_scale(data: OHLCV, spec: StrategySpec) -> None:
    """Refuse capital x leverage so large against the prices that sizes lose meaning.

    Units bought = equity x position_size x leverage / entry price; at the
    lowest open that must stay below ``MAX_POSITION_UNITS`` so that sizes,
    notionals and fees remain finite with room for the equity to grow.
    """
    units = spec.initial_capital * spec.money.position_size * spec.money.leverage / lowest_open(data)
    if not units <= MAX_POSITION_UNITS:
        raise EngineValidationError(
            "initial_capital",
            f"initial_capital x position_size x leverage / lowest open price = {units:.3g} units, "
            f"more than {MAX_POSITION_UNITS:g}; lower the capital or leverage, or rescale the prices",
        )


def check_finite(equity: FloatArray, pnl: FloatArray, size: FloatArray) -> None:
    """A result never holds NaN or infinity: compounding past float64 is refused."""
    extremes = (equity.min(), equity.max(), pnl.min(initial=0.0), pnl.max(initial=0.0), size.max(initial=0.0))
    if not np.isfinite(extremes).all():
        raise EngineValidationError(
            "money.leverage",
            "the compounded equity exceeds the float64 range (about 1e308); "
            "lower leverage or position_size, or test fewer bars",
        )


def simulate_spec(
    data: OHLCV,
    spec: StrategySpec,
    cache: SeriesCache,
    progress: Progress | None = None,
) -> BacktestResult:
    for ind in spec.indicators.values():
        cache.indicator(ind)
    if progress is not None:
        progress(0.4)
    entry, exit_ = strategy_signals(cache, spec)
    if progress is not None:
        progress(0.6)
    cfg = sim_config(spec)
    sched = schedule_trades(data.open, data.high, data.low, data.close, entry, exit_, cfg)
    sched, growth = apply_ruin(sched, trade_growth(sched, cfg))
    # Overflow is detected by check_finite and refused; it is not a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        equity, before = equity_curve(data.close, sched, growth, cfg, spec.initial_capital)
        pnl = before * growth
        size = before * cfg.fraction / sched.entry_price
    check_finite(equity, pnl, size)
    if progress is not None:
        progress(0.9)
    return_pct = 100.0 * growth / cfg.fraction
    metrics = compute_metrics(
        equity,
        data.timestamps,
        sched.entry_bar,
        sched.exit_bar,
        pnl,
        return_pct,
        spec.initial_capital,
    )
    return BacktestResult(metrics, equity, data.timestamps, sched, size, pnl, return_pct)


def run_backtest(
    data: OHLCV,
    spec: StrategySpec,
    *,
    progress: Progress | None = None,
    cache: SeriesCache | None = None,
) -> BacktestResult:
    """Run one backtest; raises ``EngineValidationError`` before any work.

    ``cache``, a ``SeriesCache`` of this very ``data``, shares price fields and
    indicators between backtests on the same data, as a sweep does: a worker
    running several children of one bundle computes each indicator once. The
    result is the same, bit for bit, with or without it (indicators are pure
    functions of the data and their parameters).
    """
    if cache is None:
        cache = SeriesCache(data)
    elif cache.data is not data:
        raise ValueError("the SeriesCache was built for other data")
    validate_strategy(spec)
    validate_ohlcv(data)
    check_length(data, spec)
    check_scale(data, spec)
    if progress is not None:
        progress(0.05)
    result = simulate_spec(data, spec, cache, progress)
    if progress is not None:
        progress(1.0)
    return result
