"""The compact result form against the JSON form it replaces.

Oracle: ``BacktestResult.to_stored()``, the engine's JSON form, encoded with
msgspec as the worker stored it before. Any result of any strategy on any data,
encoded as columns, stored, decoded and turned back into builtins, must encode
to exactly the same JSON bytes; and the codec must give back every column bit
for bit, whatever the values (NaN payloads, infinities, extreme integers).
"""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from engine_tests.strategies import ohlcv_data
from engine_tests.strategies import strategy_spec
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.results import ResultColumns
from backtest_shared.results import ResultFormatError
from backtest_shared.results import decode_columns
from backtest_shared.results import encode_columns
from backtest_shared.results import encode_result
from backtest_shared.results import result_builtins
from backtest_shared.results.columns import CURVE_DTYPES
from backtest_shared.results.columns import TRADE_DTYPES


def _old_json(result) -> tuple[bytes, bytes, bytes]:  # type: ignore[no-untyped-def]
    stored = result.to_stored()
    return (
        msgspec.json.encode(stored.metrics),
        msgspec.json.encode(stored.equity_curve),
        msgspec.json.encode(stored.trades),
    )


def _new_json(result, max_points: int = 1000) -> tuple[bytes, bytes, bytes]:  # type: ignore[no-untyped-def]
    encoded = encode_result(result, max_points)
    curve, trades = result_builtins(None, None, encoded.detail)
    # The metrics travel as JSON text into jsonb, and come back as builtins.
    metrics = msgspec.json.decode(encoded.metrics_json)
    return msgspec.json.encode(metrics), msgspec.json.encode(curve), msgspec.json.encode(trades)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ohlcv_data(), spec=strategy_spec())
def test_any_result_reads_back_as_exactly_the_json_the_old_form_stored(data, spec) -> None:  # type: ignore[no-untyped-def]
    result = run_backtest(data, spec)
    assert _new_json(result) == _old_json(result)


@pytest.mark.parametrize("example", [STRATEGY_A_EXAMPLE, STRATEGY_B_EXAMPLE])
def test_a_long_result_with_a_downsampled_curve_reads_back_as_the_old_json(example) -> None:  # type: ignore[no-untyped-def]
    result = run_backtest(synthetic_ohlcv(20_000, seed=7), decode_strategy(example))
    assert len(result.trades) > 50
    assert _new_json(result) == _old_json(result)


def test_the_compact_form_is_a_fraction_of_the_json_form() -> None:
    result = run_backtest(synthetic_ohlcv(20_000, seed=7), decode_strategy(STRATEGY_B_EXAMPLE))
    _, curve, trades = _old_json(result)
    assert len(encode_result(result).detail) < (len(curve) + len(trades)) / 3


def _columns(dtypes: dict[str, str], n: int) -> st.SearchStrategy[dict[str, np.ndarray]]:
    return st.fixed_dictionaries(
        {
            name: hnp.arrays(np.dtype(dtype), n, elements=None if "f" not in dtype else st.floats(width=64))
            for name, dtype in dtypes.items()
        }
    )


@st.composite
def any_columns(draw: st.DrawFn) -> ResultColumns:
    n_curve = draw(st.integers(0, 40))
    n_trades = draw(st.integers(0, 40))
    return ResultColumns.of(
        draw(_columns(CURVE_DTYPES, n_curve)), draw(_columns(TRADE_DTYPES, n_trades)), draw(st.integers(0, 2**40))
    )


@settings(max_examples=200, deadline=None)
@given(columns=any_columns())
def test_the_codec_gives_back_every_column_bit_for_bit(columns: ResultColumns) -> None:
    decoded = decode_columns(encode_columns(columns))
    assert decoded.n_bars == columns.n_bars
    for group, back in ((columns.curve, decoded.curve), (columns.trades, decoded.trades)):
        assert set(back) == set(group)
        for name, array in group.items():
            assert back[name].dtype == array.dtype
            assert back[name].tobytes() == array.tobytes(), name


def test_results_from_builtins_round_trip_to_the_same_builtins() -> None:
    result = run_backtest(synthetic_ohlcv(5_000, seed=3), decode_strategy(STRATEGY_B_EXAMPLE))
    stored = result.to_stored()
    curve = [list(point) for point in stored.equity_curve]
    trades = msgspec.to_builtins(stored.trades)
    assert ResultColumns.from_builtins(curve, trades).to_builtins() == (curve, trades)


def test_rows_in_the_json_form_are_read_as_they_are() -> None:
    curve = [[1, 10.0], [2, 11.5]]
    trades = [{"anything": "as stored"}]
    assert result_builtins(curve, trades, None) == (curve, trades)


@pytest.mark.parametrize(
    "stored",
    [b"", b"BTR", b"XXXX\x00\x00\x00\x00", b"BTR\x01\x10\x00\x00\x00garbage"],
)
def test_bytes_that_are_not_a_stored_result_are_refused_by_name(stored: bytes) -> None:
    with pytest.raises(ResultFormatError):
        decode_columns(stored)


def test_a_trade_without_every_field_is_refused() -> None:
    with pytest.raises(ValueError, match="entry_price"):
        ResultColumns.from_builtins([], [{"entry_time": 1, "exit_time": 2, "side": "long"}])
