"""The Python client against a real platform: DataFrame in, backtests and sweeps run, DataFrames out."""

from __future__ import annotations

import pandas as pd
import pytest

from backtest_client import AsyncClient
from backtest_client import AuthenticationError
from backtest_client import BacktestFailedError
from backtest_client import Client
from backtest_client import InvalidRequestError
from backtest_client import NotFoundError
from client_tests.helpers import ohlcv_frame
from client_tests.helpers import sma_cross


@pytest.fixture
def client(platform):
    with Client(platform.url, platform.new_key(), timeout=30) as opened:
        yield opened


def test_a_dataframe_becomes_a_backtest_with_pandas_results(client, tmp_path):
    frame = ohlcv_frame()

    data = client.upload(frame, name="random-walk")
    run = client.run(sma_cross(), data).wait(progress=False)

    assert (data.n_bars, data.existing) == (len(frame), False)
    assert data.first_timestamp == frame.index[0]
    assert run.status == "succeeded"
    assert isinstance(run.metrics, pd.Series)
    assert {"sharpe", "total_return", "max_drawdown", "buy_and_hold_return"} <= set(run.metrics.index)
    assert isinstance(run.equity.index, pd.DatetimeIndex)
    assert str(run.equity.index.tz) == "UTC"
    assert run.equity.index[0] == frame.index[0]
    assert (run.drawdown <= 0).all()
    assert run.drawdown.min() == pytest.approx(-run.metrics["max_drawdown"], abs=1e-9)
    assert list(run.trades.columns[:2]) == ["entry_time", "exit_time"]
    assert len(run.trades) == run.metrics["num_trades"]
    assert isinstance(run.trades["entry_time"].dtype, pd.DatetimeTZDtype)
    chart = run.chart().save(tmp_path / "chart.html")
    assert "<svg" in chart.read_text()


def test_uploading_the_same_bars_again_returns_the_existing_dataset(client):
    first = client.upload(ohlcv_frame(seed=11))

    again = client.upload(ohlcv_frame(seed=11), name="again")

    assert again.id == first.id
    assert again.existing is True


def test_a_sweep_with_a_constraint_ranks_every_allowed_combination(client):
    data = client.upload(ohlcv_frame(seed=3))

    sweep = client.sweep(
        sma_cross(),
        data,
        grid={"fast.period": range(5, 30, 5), "slow.period": [10, 20, 40]},
        where="fast.period < slow.period",
        rank_by="sharpe",
    ).wait(progress=False)
    ranking = sweep.results()

    allowed = [(f, s) for f in range(5, 30, 5) for s in (10, 20, 40) if f < s]
    assert sweep.status == "finished"
    assert sweep.total_jobs == len(allowed)
    assert ranking.index.name == "rank"
    assert list(ranking.index) == list(range(1, len(allowed) + 1))
    assert sorted(zip(ranking["fast.period"], ranking["slow.period"], strict=True)) == sorted(allowed)
    assert {"backtest_id", "sharpe", "total_return", "num_trades"} <= set(ranking.columns)
    sharpes = ranking["sharpe"].dropna().tolist()
    assert sharpes == sorted(sharpes, reverse=True)
    heat = sweep.heatmap("fast.period", "slow.period", "sharpe")
    assert "<table>" in heat.html


def test_cancelling_a_sweep_reports_it_cancelled(client):
    data = client.upload(ohlcv_frame(n_bars=3000, seed=5))
    sweep = client.sweep(
        sma_cross(), data, grid={"fast.period": range(2, 42), "slow.period": range(50, 90, 2)}, priority=-5
    )

    counts = sweep.cancel()
    sweep.wait(progress=False, timeout=120)

    assert counts["cancelled"] + counts["cancel_requested"] > 0
    assert sweep.status == "cancelled"
    assert sweep.state["finished"] is True


def test_a_bad_constraint_raises_a_typed_error_naming_the_field(client):
    data = client.upload(ohlcv_frame(seed=4))

    with pytest.raises(InvalidRequestError) as refused:
        client.sweep(sma_cross(), data, grid={"fast.period": [5, 10]}, where="fast.period << 3")

    assert refused.value.status == 400
    assert refused.value.field == "where"


def test_a_misspelt_strategy_field_raises_with_a_suggestion(client):
    data = client.upload(ohlcv_frame(seed=4))
    spec = sma_cross().to_dict()
    spec["money"] = {"stop_los_pct": 2.0}

    with pytest.raises(InvalidRequestError) as refused:
        client.run(spec, data)

    assert refused.value.field == "strategy.money.stop_los_pct"
    assert "stop_loss_pct" in refused.value.message


def test_unknown_ids_and_bad_keys_raise_typed_errors(client, platform):
    with pytest.raises(NotFoundError):
        client.backtest("00000000-0000-0000-0000-000000000000")
    with Client(platform.url, "bt_not-a-key") as stranger, pytest.raises(AuthenticationError):
        stranger.datasets()


def test_a_cancelled_backtest_has_no_result(client):
    data = client.upload(ohlcv_frame(seed=8))
    blocker = client.sweep(sma_cross(), data, grid={"fast.period": range(2, 40)}, priority=10)
    run = client.run(sma_cross(), data, priority=-100, reuse=False)

    run.cancel()
    blocker.cancel()

    with pytest.raises(BacktestFailedError):
        run.result()


async def test_the_async_client_runs_the_same_flow(platform):
    async with AsyncClient(platform.url, platform.new_key(), timeout=30) as client:
        data = await client.upload(ohlcv_frame(seed=21))
        run = await (await client.run(sma_cross(), data)).wait(progress=False)
        result = await run.result()
        sweep = await (
            await client.sweep(sma_cross(), data, grid={"fast.period": [5, 10], "slow.period": [20, 40]})
        ).wait(progress=False)
        ranking = await sweep.results()

    assert run.status == "succeeded"
    assert isinstance(result.equity.index, pd.DatetimeIndex)
    assert len(ranking) == 4
