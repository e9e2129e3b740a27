"""OHLCV container, validation, hashing and the synthetic GBM generator.

Array conventions: ``timestamps`` is a C-contiguous ``int64`` array of UTC
epoch **seconds**, strictly increasing; ``open``, ``high``, ``low``, ``close``
and ``volume`` are C-contiguous ``float64`` arrays of the same length ``n``.
NaN policy: no NaN or infinity is allowed anywhere; prices must lie in
[``PRICE_MIN``, ``PRICE_MAX``], ``low <= min(open, close)``,
``high >= max(open, close)`` and volume in [0, ``VOLUME_MAX``].
``validate_ohlcv`` raises ``EngineValidationError`` with field
``"data.<column>[<row>]"`` for the first offending row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backtest_shared.engine.errors import EngineValidationError

__all__ = [
    "OHLCV",
    "PRICE_MAX",
    "PRICE_MIN",
    "VOLUME_MAX",
    "lowest_open",
    "ohlcv_content_hash",
    "synthetic_ohlcv",
    "validate_ohlcv",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
SECONDS_PER_YEAR = 365.25 * 86400.0
# Magnitude limits: no traded instrument is quoted outside [1e-12, 1e12], and
# inside it every intermediate (window sums of 100 000 bars, squared
# deviations, position units at capital 1e15 x leverage 100) stays at least
# 1e200 away from float64 overflow and underflow.
PRICE_MIN = 1e-12
PRICE_MAX = 1e12
VOLUME_MAX = 1e18


@dataclass(frozen=True, eq=False)
class OHLCV:
    """Bars; arrays are coerced to contiguous int64/float64 on construction.

    The stored arrays are read-only views: an ``OHLCV`` is immutable, which
    lets ``validate_ohlcv`` remember a successful validation.
    """

    timestamps: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        ts = np.asarray(self.timestamps)
        if ts.dtype.kind == "M":
            ts = ts.astype("datetime64[s]").astype(np.int64)
        ts = np.ascontiguousarray(ts, np.int64).view()
        ts.flags.writeable = False
        object.__setattr__(self, "timestamps", ts)
        for name in PRICE_COLUMNS:
            arr = np.ascontiguousarray(getattr(self, name), dtype=np.float64).view()
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "_validated", False)

    @property
    def n_bars(self) -> int:
        return int(self.close.shape[0])

    def __len__(self) -> int:
        return self.n_bars

    @property
    def nbytes(self) -> int:
        return int(self.timestamps.nbytes + sum(getattr(self, name).nbytes for name in PRICE_COLUMNS))


def _first_bad(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.argmax(mask))


def validate_ohlcv(data: OHLCV) -> None:
    """Raise ``EngineValidationError`` naming the first bad column and row."""
    if getattr(data, "_validated", False):
        return
    _validate(data)
    object.__setattr__(data, "_validated", True)


def lowest_open(data: OHLCV) -> float:
    """The smallest open price, computed once per (immutable) ``OHLCV``."""
    cached: float | None = getattr(data, "_lowest_open", None)
    if cached is None:
        cached = float(data.open.min())
        object.__setattr__(data, "_lowest_open", cached)
    return cached


def _validate(data: OHLCV) -> None:
    n = int(data.timestamps.shape[0])
    if n == 0:
        raise EngineValidationError("data", "no bars")
    for name in ("timestamps", *PRICE_COLUMNS):
        arr = getattr(data, name)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise EngineValidationError(f"data.{name}", f"expected a 1-D array of {n} values, got {arr.shape}")
    for name in PRICE_COLUMNS:
        arr = getattr(data, name)
        bad = ~np.isfinite(arr)
        if bad.any():
            i = _first_bad(bad)
            raise EngineValidationError(f"data.{name}[{i}]", f"value {float(arr[i])!r} is not a finite number")
        floor_bad = arr < 0.0 if name == "volume" else arr <= 0.0
        if floor_bad.any():
            i = _first_bad(floor_bad)
            what = "negative" if name == "volume" else "not positive"
            raise EngineValidationError(f"data.{name}[{i}]", f"value {float(arr[i])!r} is {what}")
        _check_magnitude(name, arr)
    if n > 1:
        nonincreasing = data.timestamps[1:] <= data.timestamps[:-1]
        if nonincreasing.any():
            i = _first_bad(nonincreasing) + 1
            raise EngineValidationError(
                f"data.timestamps[{i}]",
                f"timestamp {int(data.timestamps[i])} is not after the previous "
                f"{int(data.timestamps[i - 1])} (timestamps must strictly increase)",
            )
    checks = (
        ("high", data.high < data.low, "high {v} is below low {w}", data.low),
        ("open", data.open > data.high, "open {v} is above high {w}", data.high),
        ("open", data.open < data.low, "open {v} is below low {w}", data.low),
        ("close", data.close > data.high, "close {v} is above high {w}", data.high),
        ("close", data.close < data.low, "close {v} is below low {w}", data.low),
    )
    for name, mask, template, other in checks:
        if mask.any():
            i = _first_bad(mask)
            value = getattr(data, name)[i]
            raise EngineValidationError(f"data.{name}[{i}]", template.format(v=float(value), w=float(other[i])))


def _check_magnitude(name: str, arr: FloatArray) -> None:
    """Refuse values whose magnitude makes indicator sums or position sizes meaningless."""
    if name == "volume":
        too_large = arr > VOLUME_MAX
        if too_large.any():
            i = _first_bad(too_large)
            raise EngineValidationError(
                f"data.volume[{i}]", f"value {float(arr[i])!r} exceeds the maximum volume {VOLUME_MAX:g}"
            )
        return
    out_of_range = (arr < PRICE_MIN) | (arr > PRICE_MAX)
    if out_of_range.any():
        i = _first_bad(out_of_range)
        raise EngineValidationError(
            f"data.{name}[{i}]",
            f"price {float(arr[i])!r} is outside the supported range [{PRICE_MIN:g}, {PRICE_MAX:g}]",
        )


def ohlcv_content_hash(data: OHLCV) -> str:
    """SHA-256 hex digest of the bar count and the six arrays (little endian)."""
    digest = hashlib.sha256()
    digest.update(f"ohlcv-v1:{data.n_bars}".encode())
    digest.update(np.ascontiguousarray(data.timestamps, dtype="<i8").tobytes())
    for name in PRICE_COLUMNS:
        digest.update(np.ascontiguousarray(getattr(data, name), dtype="<f8").tobytes())
    return digest.hexdigest()


def synthetic_ohlcv(
    n_bars: int,
    seed: int = 0,
    start_price: float = 100.0,
    *,
    annual_drift: float = 0.05,
    annual_volatility: float = 0.6,
    bar_seconds: int = 3600,
    start_timestamp: int = 1_577_836_800,
    base_volume: float = 1_000.0,
) -> OHLCV:
    """Seeded geometric Brownian motion bars with realistic high/low/volume.

    Closes follow GBM with the given annual drift and volatility; each open is
    the previous close times a small gap; high/low extend beyond the body by
    half-normal excursions; volume is log-normal and grows with |return|.
    Default bars are hourly (24/7, crypto-like volatility) starting 2020-01-01T00:00:00Z.
    """
    if n_bars < 1:
        raise EngineValidationError("n_bars", "must be at least 1")
    if start_price <= 0 or not np.isfinite(start_price):
        raise EngineValidationError("start_price", "must be a positive finite number")
    if bar_seconds < 1:
        raise EngineValidationError("bar_seconds", "must be at least 1")
    rng = np.random.default_rng(seed)
    dt = bar_seconds / SECONDS_PER_YEAR
    sigma = annual_volatility * np.sqrt(dt)
    mu = (annual_drift - 0.5 * annual_volatility**2) * dt
    shocks = rng.standard_normal(n_bars)
    log_ret = mu + sigma * shocks
    close = start_price * np.exp(np.cumsum(log_ret))
    gap = np.exp(0.1 * sigma * rng.standard_normal(n_bars))
    open_ = np.empty(n_bars)
    open_[0] = start_price
    open_[1:] = close[:-1] * gap[1:]
    body_hi = np.maximum(open_, close)
    body_lo = np.minimum(open_, close)
    high = body_hi * np.exp(0.5 * sigma * np.abs(rng.standard_normal(n_bars)))
    low = body_lo * np.exp(-0.5 * sigma * np.abs(rng.standard_normal(n_bars)))
    volume = base_volume * np.exp(0.5 * rng.standard_normal(n_bars)) * (1.0 + np.abs(shocks))
    timestamps = start_timestamp + bar_seconds * np.arange(n_bars, dtype=np.int64)
    return OHLCV(timestamps, open_, high, low, close, np.round(volume, 3))
