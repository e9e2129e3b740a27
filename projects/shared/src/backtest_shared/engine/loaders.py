"""CSV / Parquet loaders (through pandas) and Parquet export.

Array conventions: produces ``OHLCV`` (int64 epoch-second timestamps, float64
prices/volume, contiguous). Column names are matched case-insensitively after
stripping whitespace: ``timestamp`` (aliases ``time``, ``date``, ``datetime``),
``open``, ``high``, ``low``, ``close``, ``volume``. Timestamps may be ISO-8601
strings (naive = UTC) or numbers (epoch seconds, milliseconds, microseconds or
nanoseconds, chosen by magnitude: < 1e11 s, < 1e14 ms, < 1e17 us, else ns).
NaN policy: a missing or unparseable cell is an ``EngineValidationError`` naming
the column and row; the result is then checked with ``validate_ohlcv``.
pandas is imported lazily so that importing the engine stays fast.
"""

from __future__ import annotations

import io
import math
import pathlib
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from backtest_shared.engine.data import OHLCV
from backtest_shared.engine.data import PRICE_COLUMNS
from backtest_shared.engine.data import validate_ohlcv
from backtest_shared.engine.errors import EngineValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_csv", "load_parquet", "ohlcv_from_frame", "to_parquet_bytes"]

Source = str | pathlib.Path | bytes
_TS_ALIASES = ("timestamp", "time", "date", "datetime")


def _timestamps(col: pd.Series[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        dt = pd.to_datetime(col, utc=True)
    elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            raise EngineValidationError(f"data.timestamp[{i}]", "missing timestamp")
        peak = float(np.abs(values).max()) if values.size else 0.0
        divisor = 1 if peak < 1e11 else 1_000 if peak < 1e14 else 10**6 if peak < 1e17 else 10**9
        ints = col.to_numpy(dtype=np.int64)
        return np.ascontiguousarray(ints // divisor, dtype=np.int64)
    else:
        text = col.astype("string").str.strip()
        numeric = pd.to_numeric(text, errors="coerce")
        if len(text) and not numeric.isna().any():
            return _timestamps(numeric)
        try:
            dt = pd.to_datetime(text, utc=True, format="ISO8601")
        except (ValueError, TypeError, OverflowError):
            parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
            i = int(np.argmax(parsed.isna().to_numpy()))
            raise EngineValidationError(
                f"data.timestamp[{i}]",
                f"cannot parse {text.iloc[i]!r} as an ISO-8601 timestamp",
            ) from None
    missing = dt.isna().to_numpy()
    if missing.any():
        i = int(np.argmax(missing))
        raise EngineValidationError(f"data.timestamp[{i}]", "missing timestamp")
    secs = (dt - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "s")
    return np.ascontiguousarray(secs.to_numpy(dtype=np.int64))


def _numbers(col: pd.Series[Any], name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(values)
        if missing.any():
            i = int(np.argmax(missing))
            raise EngineValidationError(f"data.{name}[{i}]", "missing value")
        return np.asarray(values, dtype=np.float64)
    parsed = pd.to_numeric(col.astype("string").str.strip(), errors="coerce")
    values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values)
    if bad.any():
        i = int(np.argmax(bad))
        raw = col.iloc[i]
        if raw is None or (isinstance(raw, float) and math.isnan(raw)) or str(raw).strip() == "":
            raise EngineValidationError(f"data.{name}[{i}]", "missing value")
        raise EngineValidationError(f"data.{name}[{i}]", f"cannot parse {str(raw)!r} as a number")
    return np.asarray(values, dtype=np.float64)


def ohlcv_from_frame(df: pd.DataFrame) -> OHLCV:
    """Build and validate ``OHLCV`` from a DataFrame (see module docstring)."""
    columns: dict[str, Any] = {}
    for col in df.columns:
        key = str(col).strip().lower()
        if key in columns:
            raise EngineValidationError(f"data.{key}", "duplicate column")
        columns[key] = col
    ts_col = next((columns[a] for a in _TS_ALIASES if a in columns), None)
    if ts_col is None:
        raise EngineValidationError("data.timestamp", f"missing column 'timestamp' (found: {list(columns)})")
    for name in PRICE_COLUMNS:
        if name not in columns:
            raise EngineValidationError(f"data.{name}", f"missing column {name!r} (found: {list(columns)})")
    if len(df) == 0:
        raise EngineValidationError("data", "file contains no rows")
    frame = df.reset_index(drop=True)
    arrays = {name: _numbers(frame[columns[name]], name) for name in PRICE_COLUMNS}
    data = OHLCV(timestamps=_timestamps(frame[ts_col]), **arrays)
    validate_ohlcv(data)
    return data


def _as_buffer(source: Source) -> Any:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise EngineValidationError("data", "file is empty")
        return io.BytesIO(bytes(source))
    path = pathlib.Path(source)
    if not path.is_file():
        raise EngineValidationError("data", f"no such file: {str(path)!r}")
    if path.stat().st_size == 0:
        raise EngineValidationError("data", "file is empty")
    return path


def load_csv(source: Source) -> OHLCV:
    """Load a CSV from a path or from bytes (an upload)."""
    import pandas as pd

    buffer = _as_buffer(source)
    try:
        df = pd.read_csv(buffer, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise EngineValidationError("data", "file is empty (no CSV header)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise EngineValidationError("data", f"not a readable CSV file: {err}") from None
    return ohlcv_from_frame(df)


def load_parquet(source: Source) -> OHLCV:
    """Load a Parquet file from a path or from bytes (an upload)."""
    import pandas as pd

    buffer = _as_buffer(source)
    try:
        df = pd.read_parquet(buffer)
    except ImportError:
        raise
    except Exception as err:  # - pyarrow raises many unrelated types
        raise EngineValidationError("data", f"not a readable Parquet file: {type(err).__name__}: {err}") from None
    return ohlcv_from_frame(df)


def to_parquet_bytes(data: OHLCV) -> bytes:
    """Serialise bars to Parquet bytes (``timestamp`` as int64 epoch seconds)."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "timestamp": data.timestamps,
            **{name: getattr(data, name) for name in PRICE_COLUMNS},
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
