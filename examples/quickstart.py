"""From a DataFrame to a chart with the Python client: upload, backtest, sweep, heatmap.

    pip install dist/backtest_client-*.whl        # or: ./pants package projects/client:wheel first
    BACKTEST_API_URL=http://127.0.0.1:8000 BACKTEST_API_KEY=bt_... python examples/quickstart.py

Writes equity.html (equity, drawdown, trades) and heatmap.html next to this file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from backtest_client import SMA
from backtest_client import Client
from backtest_client import Costs
from backtest_client import Money
from backtest_client import Strategy
from backtest_client import crosses_above
from backtest_client import crosses_below

HERE = Path(__file__).parent

bars = pd.read_csv(HERE / "data" / "sample_hourly.csv", parse_dates=["timestamp"], index_col="timestamp")

strategy = Strategy(
    name="sma_cross",
    indicators={"fast": SMA(10), "slow": SMA(50)},
    entry=crosses_above("fast", "slow"),
    exit=crosses_below("fast", "slow"),
    money=Money(stop_loss_pct=3.0),
    costs=Costs(fee_bps=10),
)

with Client(os.environ.get("BACKTEST_API_URL", "http://127.0.0.1:8000"), os.environ["BACKTEST_API_KEY"]) as client:
    data = client.upload(bars, name="sample-hourly")  # the same bars again: the existing dataset comes back

    run = client.run(strategy, data).wait()  # a progress bar, then the result
    print(run.metrics[["total_return", "buy_and_hold_return", "sharpe", "max_drawdown", "num_trades"]])
    print(run.trades.head())
    run.chart().save(HERE / "equity.html")

    sweep = client.sweep(
        strategy,
        data,
        grid={"fast.period": range(5, 55, 5), "slow.period": range(20, 210, 10)},
        where="fast.period < slow.period",
        rank_by="sharpe",
    ).wait()
    ranking = sweep.results()  # one row per backtest: parameters and every metric, best first
    print(ranking.head(10)[["fast.period", "slow.period", "sharpe", "total_return", "max_drawdown"]])
    sweep.heatmap("fast.period", "slow.period", "sharpe").save(HERE / "heatmap.html")
    print(f"wrote {HERE / 'equity.html'} and {HERE / 'heatmap.html'}")
