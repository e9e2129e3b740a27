"""The backtest process: a long-lived child that runs backtests one after another.

It runs at a lower CPU priority (nice 10) so the worker's I/O loop and a
co-located PostgreSQL stay responsive under full load, and ignores SIGINT and
SIGTERM: a terminal's Ctrl-C or systemd's SIGTERM to the whole group must not
kill running backtests while the main process shuts down gracefully; the main
process stops children itself (a ``None`` message, or SIGKILL).

Market data is loaded by the child itself (one short-lived connection per
dataset it has not seen) and kept in a ``DatasetCache``, so the main process
never ships megabytes per job. Indicators of the last dataset are kept too
(``IndicatorCache``): children of one bundle, run one after another, compute
each distinct indicator once.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from multiprocessing.connection import Connection
from typing import Any

import msgspec
import psycopg

from backtest_compute.dataset_cache import DatasetCache
from backtest_compute.protocol import Failed
from backtest_compute.protocol import Finished
from backtest_compute.protocol import Progress
from backtest_compute.protocol import Ready
from backtest_compute.protocol import RunBacktest
from backtest_shared.datasets.store import LOAD_PARQUET
from backtest_shared.datasets.store import stored_ohlcv
from backtest_shared.db.urls import psycopg_url
from backtest_shared.engine import OHLCV
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import SeriesCache
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import load_parquet
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.engine import to_parquet_bytes
from backtest_shared.results import encode_result
from backtest_shared.results import encode_summary

#: The child sends progress at most this often (the main process throttles the database writes).
PROGRESS_EVERY_SECONDS = 0.5

#: Indicator arrays a backtest process keeps for its last dataset, in bytes
#: (each distinct indicator holds a few float64 arrays of the dataset's length).
INDICATOR_CACHE_BYTES = 256 * 1024 * 1024
#: Arrays of the dataset's length one cached indicator holds, counted generously
#: (outputs plus the rounding bounds and exact values kept for comparisons).
_ARRAYS_PER_INDICATOR = 6

#: Environment every backtest process gets: one BLAS/OpenMP thread (the slots are
#: the parallelism), and glibc malloc settings that keep the engine's large
#: temporaries out of mmap (docs/engine.md, 'Performance').
CHILD_ENVIRONMENT = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": "268435456",
    "MALLOC_TRIM_THRESHOLD_": "1073741824",
}


class DatasetMissingError(Exception):
    """The job names a dataset that does not exist (deterministic: retrying cannot help)."""


class DatasetLoader:
    """Dataset id -> OHLCV through the content-hash cache."""

    def __init__(self, database_url: str, cache_bytes: int) -> None:
        self._url = psycopg_url(database_url)
        self._cache = DatasetCache(cache_bytes)
        self._hash_of: dict[str, str] = {}

    def load(self, dataset_id: str) -> tuple[OHLCV, bool]:
        """The dataset and whether it came from the cache."""
        known = self._hash_of.get(dataset_id)
        if known is not None:
            cached = self._cache.get(known)
            if cached is not None:
                return cached, True
        content_hash, parquet = self._fetch(dataset_id)
        if len(self._hash_of) > 100_000:
            self._hash_of.clear()
        self._hash_of[dataset_id] = content_hash
        cached = self._cache.get(content_hash)
        if cached is not None:
            return cached, True
        data = stored_ohlcv(dataset_id, content_hash, parquet)
        self._cache.put(content_hash, data)
        return data, False

    def _fetch(self, dataset_id: str) -> tuple[str, bytes]:
        with psycopg.connect(self._url, autocommit=True, application_name="backtest-compute-loader") as conn:
            row = conn.execute(LOAD_PARQUET, {"id": uuid.UUID(dataset_id)}).fetchone()
        if row is None:
            raise DatasetMissingError(f"dataset {dataset_id} does not exist")
        return str(row[0]), bytes(row[1])


class IndicatorCache:
    """The ``SeriesCache`` of the dataset the process used last, bounded in size.

    Replaced when another dataset comes (``DatasetCache`` hands out the same
    ``OHLCV`` object for the same content, so identity names the data), and
    emptied once it holds more indicators than ``INDICATOR_CACHE_BYTES`` allows.
    """

    def __init__(self, budget_bytes: int = INDICATOR_CACHE_BYTES) -> None:
        self._budget = budget_bytes
        self._series: SeriesCache | None = None

    def for_data(self, data: OHLCV) -> SeriesCache:
        series = self._series
        most = max(4, self._budget // (max(data.n_bars, 1) * 8 * _ARRAYS_PER_INDICATOR))
        if series is None or series.data is not data or series.indicator_count > most:
            series = self._series = SeriesCache(data)
        return series


def warm_up() -> None:
    """Import and exercise the Parquet reader before the process says it is ready.

    The engine imports pandas and pyarrow lazily (importing the engine stays
    fast for the API); here that would cost the first job of every new
    process, including the replacement of a process killed by a cancel, a
    second or more of load time. Paid while starting instead, it delays no job.
    """
    load_parquet(to_parquet_bytes(synthetic_ohlcv(64, seed=0)))


def _strategy_of(config_json: str) -> Any:
    """The strategy part of a stored job config (validated by ``decode_strategy``)."""
    try:
        config = msgspec.json.decode(config_json)
    except msgspec.DecodeError as err:
        raise EngineValidationError("config", f"malformed JSON: {err}") from None
    return config.get("strategy") if isinstance(config, dict) else None


def run_one(
    task: RunBacktest, loader: DatasetLoader, indicators: IndicatorCache, conn: Connection
) -> Finished | Failed:
    """Run a task, turning every exception into a ``Failed`` reply of the right kind."""
    started = time.perf_counter()
    try:
        data, cached = loader.load(task.dataset_id)
    except DatasetMissingError as exc:
        return Failed(seq=task.seq, kind="invalid", message=str(exc))
    except Exception as exc:
        # Stored datasets were validated on upload, so a load failure is a storage
        # or network fault (or corruption): worth a retry, never the user's input.
        return Failed(seq=task.seq, kind="error", message=f"loading dataset: {type(exc).__name__}: {exc}")
    loaded = time.perf_counter()
    # The first report goes out at once (the engine's first call comes before the
    # slow part, indicators); later ones at most every PROGRESS_EVERY_SECONDS.
    last_sent = -PROGRESS_EVERY_SECONDS

    def progress(fraction: float) -> None:
        nonlocal last_sent
        now = time.perf_counter()
        if now - last_sent >= PROGRESS_EVERY_SECONDS:
            last_sent = now
            conn.send(Progress(seq=task.seq, fraction=fraction))

    encode = encode_summary if task.summary else encode_result
    try:
        spec = decode_strategy(_strategy_of(task.config_json))
        reply = Finished(
            seq=task.seq,
            result=encode(run_backtest(data, spec, progress=progress, cache=indicators.for_data(data))),
            load_ms=(loaded - started) * 1000,
            run_ms=(time.perf_counter() - loaded) * 1000,
            dataset_cached=cached,
        )
    except EngineValidationError as exc:
        return Failed(seq=task.seq, kind="invalid", message=str(exc))
    except Exception as exc:
        return Failed(seq=task.seq, kind="error", message=f"{type(exc).__name__}: {exc}")
    return reply


def child_main(conn: Connection, database_url: str, cache_bytes: int) -> None:
    """Entry point of a backtest process (started with the 'spawn' context)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.nice(10)
    except OSError:
        pass
    loader = DatasetLoader(database_url, cache_bytes)
    indicators = IndicatorCache()
    warm_up()
    try:
        conn.send(Ready(pid=os.getpid()))
        while True:
            task = conn.recv()
            if task is None:
                return
            conn.send(run_one(task, loader, indicators, conn))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        # The main process is gone: nobody will read our results.
        return
