"""Hand-computed cases, one per execution rule (see docs/engine.md)."""

from __future__ import annotations

import pytest

from backtest_shared.engine import run_backtest
from engine_tests.helpers import bars
from engine_tests.helpers import cross_spec

FLAT = (99.0, 99.5, 98.5, 99.0)
CROSS_UP = (99.0, 101.5, 98.8, 101.0)  # close crosses above 100 on this bar


def test_signal_on_close_fills_at_next_open_with_slippage_and_fees() -> None:
    data = bars(
        [
            FLAT,
            CROSS_UP,
            (102, 103, 101, 102.5),
            (102, 102.5, 98, 99),
            (98, 99, 97, 98),
            (98, 98.5, 97.5, 98),
        ]
    )
    spec = cross_spec(fee_bps=10, slippage_bps=5)
    result = run_backtest(data, spec)
    (trade,) = result.trades
    entry = 102 * 1.0005
    size = 10_000 / entry
    exit_ = 98 * 0.9995
    pnl = size * (exit_ - entry) - 0.001 * size * entry - 0.001 * size * exit_
    assert (trade.entry_bar, trade.exit_bar) == (2, 4)
    assert trade.entry_price == pytest.approx(entry)
    assert trade.exit_price == pytest.approx(exit_)
    assert trade.size == pytest.approx(size)
    assert trade.pnl == pytest.approx(pnl)
    assert trade.exit_reason == "signal"
    assert trade.side == "long"
    assert trade.entry_time == data.timestamps[2]
    assert result.equity[1] == 10_000
    assert result.equity[2] == pytest.approx(10_000 - 10 + size * (102.5 - entry))
    assert result.equity[5] == pytest.approx(10_000 + pnl)


def test_stop_wins_when_stop_and_target_touched_in_same_bar() -> None:
    data = bars(
        [
            FLAT,
            CROSS_UP,
            (100, 101, 99.5, 100.5),
            (100.5, 103, 97, 101),
            (101, 102, 100, 101),
        ]
    )
    (trade,) = run_backtest(data, cross_spec(stop_loss_pct=2, take_profit_pct=2)).trades
    assert (trade.exit_bar, trade.exit_reason) == (3, "stop_loss")
    assert trade.exit_price == pytest.approx(98.0)


def test_gap_below_stop_fills_at_the_open() -> None:
    data = bars(
        [
            FLAT,
            CROSS_UP,
            (100, 101, 99.5, 100.5),
            (95, 101, 94, 100.5),
            (101, 102, 100, 101),
        ]
    )
    (trade,) = run_backtest(data, cross_spec(stop_loss_pct=2, take_profit_pct=4)).trades
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (
        3,
        "stop_loss",
        95.0,
    )


def test_gap_above_target_fills_at_the_open() -> None:
    data = bars(
        [
            FLAT,
            CROSS_UP,
            (100, 101, 99.5, 100.5),
            (105, 106, 97, 105.5),
            (105, 106, 104, 105),
        ]
    )
    (trade,) = run_backtest(data, cross_spec(stop_loss_pct=2, take_profit_pct=4)).trades
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (
        3,
        "take_profit",
        105.0,
    )


def test_target_touched_inside_a_bar_fills_at_the_target_level() -> None:
    data = bars(
        [
            FLAT,
            CROSS_UP,
            (100, 101, 99.5, 100.5),
            (101, 104.5, 100, 103),
            (103, 104, 102, 103),
        ]
    )
    (trade,) = run_backtest(data, cross_spec(stop_loss_pct=2, take_profit_pct=4)).trades
    assert (trade.exit_bar, trade.exit_reason) == (3, "take_profit")
    assert trade.exit_price == pytest.approx(104.0)


def test_stop_is_checked_on_the_entry_bar_itself() -> None:
    data = bars([FLAT, CROSS_UP, (100, 100.5, 97, 99.5), (99.5, 100, 99, 99.8)])
    (trade,) = run_backtest(data, cross_spec(stop_loss_pct=2)).trades
    assert (trade.entry_bar, trade.exit_bar, trade.exit_reason) == (2, 2, "stop_loss")
    assert trade.exit_price == pytest.approx(98.0)


def test_stop_wins_over_exit_signal_on_the_same_bar() -> None:
    # bar 3 touches the stop intrabar and closes below 100 (an exit signal)
    data = bars(
        [
            FLAT,
            CROSS_UP,
            (100, 101, 99.5, 100.5),
            (100, 100.2, 97, 99),
            (99, 99.5, 98.5, 99),
        ]
    )
    (trade,) = run_backtest(data, cross_spec(stop_loss_pct=2)).trades
    assert (trade.exit_bar, trade.exit_reason) == (3, "stop_loss")


def test_exit_signal_fills_at_the_open_before_a_later_stop_in_that_bar() -> None:
    data = bars(
        [
            FLAT,
            CROSS_UP,
            (100, 101, 99.5, 100.5),
            (100.5, 100.8, 99, 99.5),
            (99.2, 99.4, 90, 91),
        ]
    )
    (trade,) = run_backtest(data, cross_spec(stop_loss_pct=2)).trades
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (4, "signal", 99.2)


def test_open_position_is_closed_at_the_last_close() -> None:
    data = bars([FLAT, CROSS_UP, (100, 101, 99.5, 100.5), (100.5, 102, 100, 101.5)])
    (trade,) = run_backtest(data, cross_spec(slippage_bps=10)).trades
    assert (trade.exit_bar, trade.exit_reason) == (3, "end_of_data")
    assert trade.exit_price == pytest.approx(101.5 * 0.999)


def test_warm_up_bars_never_trade() -> None:
    rows = [(100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i) for i in range(10)]
    spec = cross_spec(
        0.0,
        entry_kind="greater_than",
        exit_kind="less_than",
        indicators={"s": {"kind": "sma", "period": 5}},
    )
    (trade,) = run_backtest(bars(rows), spec).trades
    # warm-up = lookback 4 + 1 = 5: first signal on the close of bar 5, fill at bar 6
    assert trade.entry_bar == 6
    assert trade.exit_reason == "end_of_data"


def test_signal_on_the_last_bar_is_ignored() -> None:
    data = bars([FLAT, FLAT, CROSS_UP])
    assert run_backtest(data, cross_spec()).trades == []


def test_trailing_stop_trails_the_best_price_up_to_the_previous_bar() -> None:
    data = bars(
        [
            FLAT,
            CROSS_UP,
            (100, 110, 99, 109),
            (108, 109, 104, 105),
            (105, 106, 104, 105),
        ]
    )
    (trade,) = run_backtest(data, cross_spec(trailing_stop_pct=5)).trades
    assert (trade.exit_bar, trade.exit_reason) == (3, "trailing_stop")
    assert trade.exit_price == pytest.approx(110 * 0.95)


def test_fixed_stop_is_reported_when_it_is_tighter_than_the_trailing_stop() -> None:
    data = bars(
        [
            FLAT,
            CROSS_UP,
            (100, 100.5, 99.5, 100),
            (100, 100.2, 97, 98),
            (98, 99, 97, 98),
        ]
    )
    (trade,) = run_backtest(data, cross_spec(trailing_stop_pct=5, stop_loss_pct=2)).trades
    assert (trade.exit_bar, trade.exit_reason) == (3, "stop_loss")
    assert trade.exit_price == pytest.approx(98.0)


def test_short_stop_is_above_and_target_below_the_entry() -> None:
    cross_down = (101.0, 101.2, 98.5, 99.0)
    rows = [
        (101, 101.5, 100.5, 101),
        cross_down,
        (100, 100.5, 99, 99.5),
        (99.5, 100, 95, 96),
        (96, 97, 95, 96),
    ]
    spec = cross_spec(
        direction="short",
        entry_kind="crosses_below",
        exit_kind="crosses_above",
        stop_loss_pct=2,
        take_profit_pct=4,
    )
    (trade,) = run_backtest(bars(rows), spec).trades
    assert trade.side == "short"
    assert (trade.exit_bar, trade.exit_reason) == (3, "take_profit")
    assert trade.exit_price == pytest.approx(96.0)
    assert trade.pnl == pytest.approx(10_000 / 100 * 4)
    rows[3] = (100.5, 102.5, 100, 101)
    (trade,) = run_backtest(bars(rows), spec).trades
    assert (trade.exit_reason, trade.exit_price) == ("stop_loss", pytest.approx(102.0))


def test_both_direction_reverses_at_the_same_open() -> None:
    rows = [
        FLAT,
        CROSS_UP,
        (101, 102, 100.5, 101.5),
        (101.5, 101.6, 98, 99),
        (98.5, 99, 97, 97.5),
        (97, 98, 96, 97),
    ]
    trades = run_backtest(bars(rows), cross_spec(direction="both")).trades
    assert [(t.side, t.entry_bar, t.exit_bar, t.exit_reason) for t in trades] == [
        ("long", 2, 4, "signal"),
        ("short", 4, 5, "end_of_data"),
    ]
    assert trades[1].entry_price == trades[0].exit_price == 98.5


def test_new_entry_signal_on_the_stop_bar_close_reenters_at_the_next_open() -> None:
    rows = [
        FLAT,
        CROSS_UP,
        (101, 101.5, 100.5, 101),
        (101, 101.5, 98.5, 101),
        (101.2, 102, 101, 101.5),
    ]
    spec = cross_spec(entry_kind="greater_than", exit_kind="less_than", stop_loss_pct=2)
    trades = run_backtest(bars(rows), spec).trades
    assert [(t.entry_bar, t.exit_bar, t.exit_reason) for t in trades] == [
        (2, 3, "stop_loss"),
        (4, 4, "end_of_data"),
    ]


def test_a_ruined_account_stops_trading() -> None:
    rows = [
        FLAT,
        CROSS_UP,
        (101, 101.5, 100.5, 101),
        (90, 91, 89, 90.5),
        (90.5, 101.5, 90, 101),
        (101, 102, 100.5, 101.5),
        (101.5, 102, 101, 101.5),
    ]
    spec = cross_spec(leverage=50, stop_loss_pct=1)
    result = run_backtest(bars(rows), spec)
    assert len(result.trades) == 1
    assert result.trades[0].pnl < -10_000
    assert result.equity[-1] == result.equity[3] < 0
    assert result.metrics.total_return is not None and result.metrics.total_return < -1


def test_signal_is_computed_on_close_so_an_entry_never_fills_on_its_signal_bar() -> None:
    data = bars([FLAT, CROSS_UP, (102, 103, 101, 102.5), (102, 103, 101, 102.5)])
    (trade,) = run_backtest(data, cross_spec()).trades
    assert trade.entry_bar == 2
    assert trade.entry_price == 102
