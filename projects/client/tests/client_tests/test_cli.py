"""The ``backtest`` command line against a real platform, through ``main()`` with ``--json``."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from rich.console import Console

from backtest_client.cli.main import main
from client_tests.helpers import ohlcv_frame
from client_tests.helpers import sma_cross


@pytest.fixture
def cli(platform, monkeypatch, tmp_path):
    """Runs ``backtest ...`` as a fresh user (key from the environment); returns (exit code, parsed JSON)."""
    monkeypatch.setenv("BACKTEST_API_URL", platform.url)
    monkeypatch.setenv("BACKTEST_API_KEY", platform.new_key())
    monkeypatch.setenv("BACKTEST_CONFIG", str(tmp_path / "absent.toml"))

    def run(*args: str) -> tuple[int, object]:
        out = io.StringIO()
        code = main([*args, "--json"], stdout=Console(file=out))
        return code, json.loads(out.getvalue())

    return run


@pytest.fixture
def files(tmp_path):
    data = tmp_path / "bars.csv"
    ohlcv_frame(seed=31).to_csv(data)
    strategy = tmp_path / "sma.json"
    sma_cross().save(strategy)
    return data, strategy


def test_upload_run_sweep_show_and_list_from_the_command_line(cli, files, tmp_path):
    data_file, strategy_file = files

    code, dataset = cli("data", "upload", str(data_file))
    assert code == 0
    assert dataset["name"] == "bars.csv"
    assert dataset["n_bars"] == 1500
    code, listed = cli("data", "ls")
    assert [d["id"] for d in listed] == [dataset["id"]]

    code, backtest = cli("run", str(strategy_file), "--data", dataset["id"])
    assert code == 0
    assert backtest["status"] == "succeeded"
    assert "sharpe" in backtest["result"]["metrics"]

    code, sweep = cli(
        "sweep", str(strategy_file), "--data", dataset["id"],
        "--grid", "fast.period=5:25:5", "--grid", "slow.period=10,20,40",
        "--where", "fast.period < slow.period", "--top", "3",
    )  # fmt: skip
    assert code == 0
    assert sweep["status"] == "finished"
    assert sweep["total_jobs"] == 9  # fast < slow: 1 with slow 10, 3 with 20, 5 with 40
    assert sweep["total_results"] == 9
    assert len(sweep["results"]) == 3
    parameters = [r["parameters"] for r in sweep["results"]]
    assert all(p["indicators.fast.period"] < p["indicators.slow.period"] for p in parameters)

    trades, equity, chart = tmp_path / "trades.csv", tmp_path / "equity.csv", tmp_path / "chart.html"
    code, shown = cli("show", backtest["id"], "--trades", str(trades), "--equity", str(equity), "--chart", str(chart))
    assert code == 0
    assert shown["id"] == backtest["id"]
    assert pd.read_csv(trades)["entry_time"].str.endswith("+00:00").all()
    equity_frame = pd.read_csv(equity, index_col="timestamp", parse_dates=True)
    assert list(equity_frame.columns) == ["equity", "drawdown"]
    assert "<svg" in chart.read_text()

    code, shown_sweep = cli("show", sweep["id"], "--top", "2")
    assert code == 0
    assert len(shown_sweep["results"]) == 2

    code, recent = cli("ls")
    assert backtest["id"] in [b["id"] for b in recent["backtests"]]
    assert sweep["id"] in [b["id"] for b in recent["bundles"]]


def test_cancel_stops_a_sweep_from_the_command_line(cli, files):
    data_file, strategy_file = files
    _, dataset = cli("data", "upload", str(data_file))
    _, sweep = cli(
        "sweep", str(strategy_file), "--data", dataset["id"],
        "--grid", "fast.period=2:41", "--grid", "slow.period=50:90:2", "--no-wait",
    )  # fmt: skip

    code, cancelled = cli("cancel", sweep["id"])

    assert code == 0
    assert cancelled["cancelled"] + cancelled["cancel_requested"] > 0


def test_api_errors_exit_1_with_the_field_in_the_json(cli, files):
    data_file, strategy_file = files
    _, dataset = cli("data", "upload", str(data_file))

    code, answer = cli(
        "sweep", str(strategy_file), "--data", dataset["id"], "--grid", "fast.period=5:10", "--where", "fast.period <"
    )

    assert code == 1
    assert answer["error"]["status"] == 400
    assert answer["error"]["field"] == "where"


def test_the_config_file_supplies_url_and_key(platform, monkeypatch, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{platform.url}"\nkey = "{platform.new_key()}"\n')
    monkeypatch.setenv("BACKTEST_CONFIG", str(config))
    monkeypatch.delenv("BACKTEST_API_URL", raising=False)
    monkeypatch.delenv("BACKTEST_API_KEY", raising=False)
    out = io.StringIO()

    code = main(["data", "ls", "--json"], stdout=Console(file=out))

    assert code == 0
    assert json.loads(out.getvalue()) == []


def test_grid_ranges_include_their_stop_and_lists_keep_their_order():
    from backtest_client.grid import parse_grid_arg

    assert parse_grid_arg("fast.period=5:50:5") == ("fast.period", list(range(5, 55, 5)))
    assert parse_grid_arg("money.stop_loss_pct=1:2:0.5") == ("money.stop_loss_pct", [1.0, 1.5, 2.0])
    assert parse_grid_arg("slow.period=50,20,100") == ("slow.period", [50, 20, 100])
