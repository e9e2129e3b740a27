"""The summary form: metrics and a coarse curve, marked so readers regenerate the rest.

Oracle for the curve: ``ResultColumns.from_backtest`` with the summary's point
budget (the summary must downsample exactly as the complete form does); for the
metrics: ``encode_result``. Complete details must keep the bytes they always
had, and every reader must tell a summary from a complete detail.
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

from backtest_shared.engine import OHLCV
from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import StrategySpec
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.results import SUMMARY_POINTS
from backtest_shared.results import ResultColumns
from backtest_shared.results import ResultFormatError
from backtest_shared.results import SummaryDetailError
from backtest_shared.results import decode_columns
from backtest_shared.results import detail_is_complete
from backtest_shared.results import encode_columns
from backtest_shared.results import encode_result
from backtest_shared.results import encode_summary
from backtest_shared.results import result_builtins
from backtest_shared.results.codec import _envelope_bytes
from backtest_shared.results.columns import CURVE_DTYPES
from backtest_shared.results.columns import TRADE_DTYPES


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ohlcv_data(), spec=strategy_spec(), max_points=st.integers(4, 300))
def test_a_summary_decodes_to_the_downsampled_curve_no_trades_and_the_same_metrics(
    data: OHLCV, spec: StrategySpec, max_points: int
) -> None:
    result = run_backtest(data, spec)
    summary = encode_summary(result, max_points)

    decoded = decode_columns(summary.detail)
    expected = ResultColumns.from_backtest(result, max_points)
    assert decoded.summary
    assert not detail_is_complete(summary.detail)
    assert decoded.n_bars == expected.n_bars == len(data.close)
    assert decoded.n_trades == 0
    assert set(decoded.trades) == set(TRADE_DTYPES)
    for name, array in expected.curve.items():
        assert decoded.curve[name].dtype == array.dtype
        assert decoded.curve[name].tobytes() == array.tobytes(), name
    assert summary.metrics_json == encode_result(result).metrics_json
    with pytest.raises(SummaryDetailError):
        result_builtins(None, None, summary.detail)

    complete = encode_result(result)
    assert detail_is_complete(complete.detail)
    assert not decode_columns(complete.detail).summary


def _columns(dtypes: dict[str, str], n: int) -> st.SearchStrategy[dict[str, np.ndarray]]:
    return st.fixed_dictionaries(
        {
            name: hnp.arrays(np.dtype(dtype), n, elements=None if "f" not in dtype else st.floats(width=64))
            for name, dtype in dtypes.items()
        }
    )


@st.composite
def any_columns(draw: st.DrawFn) -> ResultColumns:
    curve = draw(_columns(CURVE_DTYPES, draw(st.integers(0, 40))))
    trades = draw(_columns(TRADE_DTYPES, draw(st.integers(0, 40))))
    return ResultColumns.of(curve, trades, draw(st.integers(0, 2**40)))


@st.composite
def any_summary(draw: st.DrawFn) -> ResultColumns:
    curve = draw(_columns(CURVE_DTYPES, draw(st.integers(0, 120))))
    empty = {name: np.empty(0, dtype=dtype) for name, dtype in TRADE_DTYPES.items()}
    columns = ResultColumns.of(curve, empty, draw(st.integers(0, 2**40)))
    return ResultColumns(curve=columns.curve, trades=columns.trades, n_bars=columns.n_bars, summary=True)


@settings(max_examples=200, deadline=None)
@given(columns=any_summary())
def test_the_codec_gives_back_a_summary_bit_for_bit(columns: ResultColumns) -> None:
    stored = encode_columns(columns)
    decoded = decode_columns(stored)
    assert decoded.summary and not detail_is_complete(stored)
    assert decoded.n_bars == columns.n_bars
    for group, back in ((columns.curve, decoded.curve), (columns.trades, decoded.trades)):
        assert set(back) == set(group)
        for name, array in group.items():
            assert back[name].dtype == array.dtype
            assert back[name].tobytes() == array.tobytes(), name


@settings(max_examples=100, deadline=None)
@given(columns=any_columns())
def test_a_complete_detail_carries_no_summary_key(columns: ResultColumns) -> None:
    """Complete details keep the envelope they had before summaries existed (byte for byte)."""
    stored = encode_columns(columns)
    envelope = msgspec.msgpack.decode(_envelope_bytes(stored))
    assert list(envelope) == ["version", "n_bars", "n_curve", "n_trades", "curve", "trades"]
    assert detail_is_complete(stored)


def test_a_summary_is_small_and_marked() -> None:
    result = run_backtest(synthetic_ohlcv(20_000, seed=7), decode_strategy(STRATEGY_B_EXAMPLE))
    summary = encode_summary(result)
    complete = encode_result(result)
    envelope = msgspec.msgpack.decode(_envelope_bytes(summary.detail))
    assert envelope["summary"] is True
    assert envelope["trades"] == {}
    assert envelope["n_curve"] <= SUMMARY_POINTS < len(result.equity)
    assert len(summary.detail) * 10 < len(complete.detail)


def test_a_summary_with_trades_cannot_be_written() -> None:
    result = run_backtest(synthetic_ohlcv(5_000, seed=3), decode_strategy(STRATEGY_B_EXAMPLE))
    columns = ResultColumns.from_backtest(result)
    assert columns.n_trades > 0
    with pytest.raises(ValueError, match="no trades"):
        encode_columns(ResultColumns(curve=columns.curve, trades=columns.trades, n_bars=1, summary=True))


def test_json_form_rows_count_as_complete() -> None:
    assert detail_is_complete(None)


@pytest.mark.parametrize("stored", [b"", b"BTR", b"XXXX\x00\x00\x00\x00", b"BTR\x01\x10\x00\x00\x00garbage"])
def test_asking_bytes_that_are_not_a_stored_result_is_refused_by_name(stored: bytes) -> None:
    with pytest.raises(ResultFormatError):
        detail_is_complete(stored)
