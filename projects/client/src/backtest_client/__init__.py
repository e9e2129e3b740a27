"""Python client for the backtest platform: DataFrames in, DataFrames and charts out.

    from backtest_client import Client, Strategy, SMA, crosses_above, crosses_below

    with Client("http://127.0.0.1:8000", "bt_...") as client:
        data = client.upload(df)
        run = client.run(strategy, data).wait()
        run.metrics, run.equity, run.drawdown, run.trades
"""

from __future__ import annotations

from backtest_client.aio import AsyncBacktestRun
from backtest_client.aio import AsyncClient
from backtest_client.aio import AsyncSweepRun
from backtest_client.chart import Chart
from backtest_client.client import BacktestRun
from backtest_client.client import Client
from backtest_client.client import SweepRun
from backtest_client.errors import ApiError
from backtest_client.errors import AuthenticationError
from backtest_client.errors import BacktestClientError
from backtest_client.errors import BacktestFailedError
from backtest_client.errors import ConflictError
from backtest_client.errors import InvalidRequestError
from backtest_client.errors import NotFoundError
from backtest_client.errors import PayloadTooLargeError
from backtest_client.errors import RateLimitError
from backtest_client.errors import ServerError
from backtest_client.models import Dataset
from backtest_client.results import Result
from backtest_client.strategy import ATR
from backtest_client.strategy import EMA
from backtest_client.strategy import MACD
from backtest_client.strategy import ROC
from backtest_client.strategy import RSI
from backtest_client.strategy import SMA
from backtest_client.strategy import WMA
from backtest_client.strategy import Bollinger
from backtest_client.strategy import Condition
from backtest_client.strategy import Costs
from backtest_client.strategy import Donchian
from backtest_client.strategy import Money
from backtest_client.strategy import Rule
from backtest_client.strategy import Stochastic
from backtest_client.strategy import Strategy
from backtest_client.strategy import SuperTrend
from backtest_client.strategy import all_of
from backtest_client.strategy import any_of
from backtest_client.strategy import crosses_above
from backtest_client.strategy import crosses_below
from backtest_client.strategy import greater_than
from backtest_client.strategy import less_than
from backtest_client.transport import RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "ROC",
    "RSI",
    "SMA",
    "WMA",
    "ApiError",
    "AsyncBacktestRun",
    "AsyncClient",
    "AsyncSweepRun",
    "AuthenticationError",
    "BacktestClientError",
    "BacktestFailedError",
    "BacktestRun",
    "Bollinger",
    "Chart",
    "Client",
    "Condition",
    "ConflictError",
    "Costs",
    "Dataset",
    "Donchian",
    "InvalidRequestError",
    "Money",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitError",
    "Result",
    "RetryPolicy",
    "Rule",
    "ServerError",
    "Stochastic",
    "Strategy",
    "SuperTrend",
    "SweepRun",
    "all_of",
    "any_of",
    "crosses_above",
    "crosses_below",
    "greater_than",
    "less_than",
]
