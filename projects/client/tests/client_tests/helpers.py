"""Market data and strategies the client tests use."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtest_client import SMA
from backtest_client import Costs
from backtest_client import Strategy
from backtest_client import crosses_above
from backtest_client import crosses_below


def ohlcv_frame(n_bars: int = 1500, seed: int = 7) -> pd.DataFrame:
    """Hourly random-walk bars on a DatetimeIndex, as a user would have them in a notebook."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n_bars)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0, 0.004, n_bars)) * close
    index = pd.date_range("2024-01-01", periods=n_bars, freq="h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(100, 1000, n_bars),
        },
        index=index,
    )


def sma_cross(fast: int = 10, slow: int = 50) -> Strategy:
    return Strategy(
        name="sma_cross",
        indicators={"fast": SMA(fast), "slow": SMA(slow)},
        entry=crosses_above("fast", "slow"),
        exit=crosses_below("fast", "slow"),
        costs=Costs(fee_bps=5),
    )
