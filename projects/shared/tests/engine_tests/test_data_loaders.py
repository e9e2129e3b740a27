"""OHLCV loaders (CSV/Parquet from paths and bytes), hashing and synthetic data."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import load_csv
from backtest_shared.engine import load_parquet
from backtest_shared.engine import ohlcv_content_hash
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.engine import to_parquet_bytes
from backtest_shared.engine import validate_ohlcv

CSV = b"""Timestamp, Open ,HIGH,low,close,Volume
2024-01-01T00:00:00Z,100,101,99,100.5,10
2024-01-01T01:00:00Z,100.5,102,100,101.5,12
2024-01-01T02:00:00+00:00,101.5,101.8,100.9,101,9
"""


def test_csv_with_iso_timestamps_and_mixed_case_headers_loads_from_bytes() -> None:
    data = load_csv(CSV)
    assert data.timestamps.tolist() == [1704067200, 1704070800, 1704074400]
    assert data.close.tolist() == [100.5, 101.5, 101.0]
    assert data.close.dtype == np.float64 and data.timestamps.dtype == np.int64


def test_csv_loads_from_a_path_and_epoch_milliseconds_are_detected(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("timestamp,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5,3\n1704070800000,1.5,2,1,1.8,4\n")
    assert load_csv(path).timestamps.tolist() == [1704067200, 1704070800]
    assert load_csv(str(path)).n_bars == 2


def test_parquet_round_trips_through_bytes_and_paths(tmp_path: pathlib.Path) -> None:
    data = synthetic_ohlcv(500, seed=11)
    raw = to_parquet_bytes(data)
    assert ohlcv_content_hash(load_parquet(raw)) == ohlcv_content_hash(data)
    path = tmp_path / "bars.parquet"
    path.write_bytes(raw)
    assert ohlcv_content_hash(load_parquet(path)) == ohlcv_content_hash(data)


@pytest.mark.parametrize(
    ("content", "field", "words"),
    [
        (b"", "data", "empty"),
        (
            b"timestamp,open,high,low,close\n2024-01-01,1,1,1,1\n",
            "data.volume",
            "missing column",
        ),
        (
            b"timestamp,open,high,low,close,volume\n2024-01-01,1,1,1,abc,1\n",
            "data.close[0]",
            "abc",
        ),
        (
            b"timestamp,open,high,low,close,volume\n2024-01-01,1,1,1,,1\n",
            "data.close[0]",
            "missing",
        ),
        (
            b"timestamp,open,high,low,close,volume\nyesterday,1,1,1,1,1\n",
            "data.timestamp[0]",
            "ISO-8601",
        ),
        (b"timestamp,open,high,low,close,volume\n", "data", "no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "data", ""),
    ],
)
def test_bad_csv_files_name_what_is_wrong(content: bytes, field: str, words: str) -> None:
    with pytest.raises(EngineValidationError) as info:
        load_csv(content)
    assert info.value.field.startswith(field)
    assert words in info.value.reason


def test_csv_rows_are_validated_as_bars() -> None:
    content = b"timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,1,1\n2024-01-01,1,2,0.5,1,1\n"
    with pytest.raises(EngineValidationError) as info:
        load_csv(content)
    assert info.value.field == "data.timestamps[1]"


def test_a_file_that_is_not_parquet_is_rejected() -> None:
    with pytest.raises(EngineValidationError) as info:
        load_parquet(CSV)
    assert info.value.field == "data"
    assert "Parquet" in info.value.reason
    with pytest.raises(EngineValidationError):
        load_parquet(b"")


def test_missing_file_is_a_validation_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(EngineValidationError) as info:
        load_csv(tmp_path / "nope.csv")
    assert "no such file" in info.value.reason


def test_synthetic_data_is_seeded_valid_and_realistic() -> None:
    a = synthetic_ohlcv(2000, seed=5)
    b = synthetic_ohlcv(2000, seed=5)
    validate_ohlcv(a)
    assert ohlcv_content_hash(a) == ohlcv_content_hash(b)
    assert ohlcv_content_hash(a) != ohlcv_content_hash(synthetic_ohlcv(2000, seed=6))
    assert (a.high > np.maximum(a.open, a.close)).mean() > 0.9
    assert (a.volume > 0).all()
    assert a.open[0] == 100.0


def test_ohlcv_arrays_are_read_only_and_contiguous() -> None:
    data = synthetic_ohlcv(10)
    assert data.close.flags.c_contiguous
    with pytest.raises(ValueError):
        data.close[0] = 1.0
