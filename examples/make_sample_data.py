"""Regenerate data/sample_hourly.csv: 2,000 hourly bars of a seeded random walk (about 150 kB).

    python examples/make_sample_data.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def sample_bars(n_bars: int = 2000, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.00005, 0.006, n_bars) + 0.0006 * np.sin(np.arange(n_bars) / 120)  # slow swings to trade
    close = 100 * np.exp(np.cumsum(returns))
    open_ = np.concatenate(([100.0], close[:-1])) * (1 + rng.normal(0, 0.001, n_bars))
    wick = np.abs(rng.normal(0, 0.003, n_bars)) * close
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=n_bars, freq="h", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) + wick,
            "low": np.minimum(open_, close) - wick,
            "close": close,
            "volume": rng.uniform(50, 500, n_bars),
        }
    )
    return frame.round({"open": 4, "high": 4, "low": 4, "close": 4, "volume": 2})


if __name__ == "__main__":
    target = Path(__file__).parent / "data" / "sample_hourly.csv"
    sample_bars().to_csv(target, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    print(f"wrote {target}")
