"""CSV / Parquet loaders (through pandas) and Parquet export.

Array conventions: produces ``OHLCV`` (int64 epoch-second timestamps, float64
prices/volume, contiguous). Column names are matched case-insensitively after
stripping whitespace: ``timestamp`` (aliases ``time``, ``date``, ``datetime``),
``open``, ``high``, ``low``, ``close``, ``volume``. Timestamps may be ISO-8601
strings (naive = UTC) or numbers (epoch seconds, milliseconds, microseconds or
nanoseconds, one unit per column, chosen by the median row's magnitude: < 1e11 s,
< 1e14 ms, < 1e17 us, else ns; a row of a larger magnitude, or one no int64 holds,
is refused at its own row).
NaN policy: a missing or unparseable cell is an ``EngineValidationError`` naming
the column and row; the result is then checked with ``validate_ohlcv``. Messages
speak of rows, lines and values as the file wrote them, never of the parsing
libraries' internals.
pandas is imported lazily so that importing the engine stays fast.
"""

from __future__ import annotations

import io
import math
import pathlib
import re
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


#: Epoch units by magnitude: a number below the bound is read in that unit.
_EPOCH_UNITS: tuple[tuple[float, int, str], ...] = (
    (1e11, 1, "seconds"),
    (1e14, 1_000, "milliseconds"),
    (1e17, 1_000_000, "microseconds"),
    (math.inf, 1_000_000_000, "nanoseconds"),
)
#: No int64 holds a number this large (unsigned Parquet columns can).
_INT64_BOUND = 2.0**63
ISO_EXAMPLE = "2024-01-31T12:00:00Z"


def _shown(value: Any) -> str:
    """A cell as the user wrote it: numbers without numpy's type names, text as text."""
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    if isinstance(value, (np.floating, float)):
        return repr(float(value))
    return repr(str(value))


def _epoch_seconds(numbers: Any, cells: pd.Series[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Epoch numbers to int64 seconds; one unit for the column, chosen by its typical row.

    The unit is that of the median row's magnitude, so a single wild value is
    named at its own row instead of shifting every other row into another unit.
    ``cells`` are the values as the file wrote them, for messages.
    """
    values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(values)
    if missing.any():
        i = int(np.argmax(missing))
        raise EngineValidationError(f"data.timestamp[{i}]", "missing timestamp")
    unusable = ~np.isfinite(values) | (np.abs(values) >= _INT64_BOUND)
    if unusable.any():
        i = int(np.argmax(unusable))
        raise EngineValidationError(
            f"data.timestamp[{i}]", f"timestamp {_shown(cells.iloc[i])} is out of range for epoch seconds"
        )
    classes = np.searchsorted([bound for bound, _, _ in _EPOCH_UNITS[:-1]], np.abs(values), side="right")
    unit = int(np.sort(classes)[classes.size // 2]) if classes.size else 0
    foreign = classes > unit
    _, divisor, unit_name = _EPOCH_UNITS[unit]
    if foreign.any():
        i = int(np.argmax(foreign))
        raise EngineValidationError(
            f"data.timestamp[{i}]",
            f"timestamp {_shown(cells.iloc[i])} is far larger than the others, which read as epoch {unit_name}",
        )
    # Integers convert exactly (all are below 2**63 now); floats truncate like int().
    ints = numbers.to_numpy(dtype=np.int64) if numbers.dtype.kind in "iu" else values.astype(np.int64)
    return np.ascontiguousarray(ints // divisor, dtype=np.int64)


def _timestamps(col: pd.Series[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        dt = pd.to_datetime(col, utc=True)
    elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return _epoch_seconds(col, col)
    else:
        text = col.astype("string").str.strip()
        absent = text.isna().to_numpy() | (text.fillna("") == "").to_numpy()
        if absent.any():
            i = int(np.argmax(absent))
            raise EngineValidationError(f"data.timestamp[{i}]", "missing timestamp")
        numeric = pd.to_numeric(text, errors="coerce")
        if len(text) and not numeric.isna().any():
            return _epoch_seconds(numeric, col)
        if len(text) and not pd.isna(numeric.iloc[0]):
            # The first row is an epoch number: the column is read as numbers, and the
            # first row that is not one is the one to blame.
            i = int(np.argmax(numeric.isna().to_numpy()))
            raise EngineValidationError(
                f"data.timestamp[{i}]",
                f"cannot read {text.iloc[i]!r} as an epoch timestamp like the rows before it",
            )
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        unparsed = parsed.isna().to_numpy()
        if unparsed.any():
            i = int(np.argmax(unparsed))
            raise EngineValidationError(
                f"data.timestamp[{i}]",
                f"cannot parse {text.iloc[i]!r} as an ISO-8601 timestamp such as {ISO_EXAMPLE} "
                "(years 1677 to 2262) or an epoch number",
            )
        dt = parsed
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


_CSV_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
PARQUET_MAGIC = b"PAR1"


def _raw_bytes(source: Source) -> bytes:
    return bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else pathlib.Path(source).read_bytes()


def _csv_problem(err: Exception, source: Source) -> str:
    """What pandas' CSV parser refused, in terms of the file's lines (its own words name its C tokenizer)."""
    if isinstance(err, UnicodeDecodeError):
        raw = _raw_bytes(source)
        try:  # the parser's error counts from the start of its chunk, not of the file
            raw.decode("utf-8")
        except UnicodeDecodeError as whole:
            at = raw[: whole.start].count(b"\n") + 1
            return f"line {at} is not UTF-8 text (byte 0x{raw[whole.start]:02x}); save the CSV file as UTF-8"
    fields = _CSV_FIELDS.search(str(err))
    if fields is not None:
        expected, line, seen = fields.groups()
        return f"line {line} has {seen} fields where the header has {expected}"
    if "EOF inside string" in str(err):
        return 'a quoted field is never closed (a " opens it and no " ends it)'
    return "not a readable CSV file (damaged, or another format)"


def _parquet_problem(source: Source) -> str:
    """Why pyarrow could not read a Parquet file, without its internals (thrift, codecs, buffers)."""
    raw = _raw_bytes(source)
    if raw[:4] != PARQUET_MAGIC:
        return "not a Parquet file (it does not start with the Parquet signature PAR1)"
    if raw[-4:] != PARQUET_MAGIC:
        return "the Parquet file is truncated (it does not end with the Parquet signature PAR1)"
    return "the Parquet file is damaged: its contents cannot be decoded"


def load_csv(source: Source) -> OHLCV:
    """Load a CSV from a path or from bytes (an upload)."""
    import pandas as pd

    buffer = _as_buffer(source)
    try:
        df = pd.read_csv(buffer, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise EngineValidationError("data", "file is empty (no CSV header)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise EngineValidationError("data", _csv_problem(err, source)) from None
    return ohlcv_from_frame(df)


def load_parquet(source: Source) -> OHLCV:
    """Load a Parquet file from a path or from bytes (an upload)."""
    import pandas as pd

    buffer = _as_buffer(source)
    try:
        df = pd.read_parquet(buffer)
    except ImportError:
        raise
    except Exception:  # pyarrow raises many unrelated types, all worded for its developers
        raise EngineValidationError("data", _parquet_problem(source)) from None
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
