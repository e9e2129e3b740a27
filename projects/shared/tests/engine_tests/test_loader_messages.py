"""The loaders blame the row the user wrote, in plain numbers, without library internals."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import load_csv
from backtest_shared.engine import load_parquet

HEADER = "timestamp,open,high,low,close,volume\n"
#: Epoch starts in each unit the loader reads (seconds, ms, us, ns).
EPOCH_STARTS = [1_700_000_000 * 10**k for k in (0, 3, 6, 9)]


def _csv(timestamps: list[str], prices: list[str] | None = None) -> bytes:
    prices = prices or ["10"] * len(timestamps)
    rows = [f"{t},{p},11,9,10,100\n" for t, p in zip(timestamps, prices, strict=True)]
    return (HEADER + "".join(rows)).encode()


def _refusal(load, body: bytes) -> EngineValidationError:
    with pytest.raises(EngineValidationError) as info:
        load(body)
    return info.value


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 40),
    data=st.data(),
    start=st.sampled_from(EPOCH_STARTS),
    bad=st.sampled_from(["garbage", "12:00", "1e400", "99999999999999999999999", "-"]),
)
def test_one_bad_epoch_timestamp_is_blamed_on_its_own_row(n, data, start, bad) -> None:
    row = data.draw(st.integers(1, n - 1), label="row")
    timestamps = [str(start + 60 * i * start // EPOCH_STARTS[0]) for i in range(n)]
    timestamps[row] = bad

    error = _refusal(load_csv, _csv(timestamps))

    assert error.field == f"data.timestamp[{row}]"
    assert repr(bad) in error.reason or bad in error.reason


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 30), data=st.data(), bad=st.sampled_from(["garbage", "2024-02-30T00:00:00", "1700000000"]))
def test_one_bad_iso_timestamp_is_blamed_on_its_own_row(n, data, bad) -> None:
    row = data.draw(st.integers(1, n - 1), label="row")
    timestamps = [f"2024-01-01T{i // 60:02d}:{i % 60:02d}:00Z" for i in range(n)]
    timestamps[row] = bad

    error = _refusal(load_csv, _csv(timestamps))

    assert error.field == f"data.timestamp[{row}]"


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1", "1e300"])
def test_price_values_are_written_as_plain_numbers(value) -> None:
    error = _refusal(load_csv, _csv(["1700000000", "1700000060", "1700000120"], ["10", value, "10"]))

    assert error.field == "data.open[1]"
    assert "np." not in error.reason and "float64" not in error.reason


@pytest.mark.parametrize("wild", [2**63, 2**64 - 1])
def test_unsigned_parquet_timestamps_beyond_int64_are_refused(wild) -> None:
    out = io.BytesIO()
    columns = {name: [10.0, 10.0] for name in ("open", "close", "volume")}
    table = pa.table({"timestamp": pa.array([1_700_000_000, wild], pa.uint64()), **columns, "high": [11.0] * 2})
    pq.write_table(table.append_column("low", pa.array([9.0, 9.0])), out)

    error = _refusal(load_parquet, out.getvalue())

    assert error.field == "data.timestamp[1]"
    assert str(wild) in error.reason


def test_parquet_refusals_name_no_library() -> None:
    out = io.BytesIO()
    pq.write_table(pa.table({"timestamp": [1, 2], "open": [1.0, 1.0]}), out)
    good = out.getvalue()
    for broken in (good[:8] + bytes(len(good) - 16) + good[-8:], good[: len(good) // 2], b"not parquet at all"):
        reason = _refusal(load_parquet, broken).reason
        assert "Parquet" in reason
        assert not any(word in reason for word in ("Arrow", "Thrift", "thrift", "snappy", "Error", "<Buffer>"))
