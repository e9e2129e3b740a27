"""A succeeded backtest's result as clients get it, whichever form it was stored in.

Most rows hold the complete detail (``backtest_shared.results``). A sweep's
backtests may be stored as a *summary* (metrics and a coarse curve, no trades):
their detail is rarely read, so workers skip storing it. When a client does
read one, its detail is regenerated here: the job's config is run again on its
dataset and encoded exactly as a worker does (``encode_result``). The engine is
deterministic, so this is the detail the worker would have stored, and clients
get the same bytes as if it had been. The regenerated detail then replaces the
summary (``repository.replace_summary``), so only the first read pays for it.

Regeneration refuses (409) rather than serve something else when it cannot be
exact: the engine version changed since the job ran (its config hash no longer
matches), or the regenerated metrics differ from the stored ones.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backtest_api.backtests import repository
from backtest_api.core.errors import ConflictError
from backtest_api.core.state import Services
from backtest_shared.datasets.store import load_dataset_parquet
from backtest_shared.datasets.store import stored_ohlcv
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.jobs.config import config_content_hash
from backtest_shared.jobs.models import JobState
from backtest_shared.jobs.models import StoredResult
from backtest_shared.results import EncodedResult
from backtest_shared.results import SummaryDetailError
from backtest_shared.results import encode_result
from backtest_shared.results import result_builtins

__all__ = ["ResultNotReproducibleError", "job_result"]

log = logging.getLogger(__name__)

#: Regenerations run here, off the event loop: the engine is numpy (its heavy
#: steps release the GIL), and at most two run at once per API process, so a
#: burst of reads of summaries cannot take every thread of the default pool.
_ENGINE_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="regenerate-result")


class ResultNotReproducibleError(ConflictError):
    """The stored summary's full detail cannot be regenerated exactly."""

    def __init__(self, job_id: object, why: str) -> None:
        super().__init__(
            f"the trades and full equity curve of backtest {job_id} were not stored and cannot be "
            f"regenerated exactly ({why}); submit the backtest again to get them"
        )


class _EngineChangedError(Exception):
    """The job's config hash is not what this engine gives: its results would differ."""


async def job_result(services: Services, state: JobState) -> StoredResult | None:
    """The stored result of a job, with its full detail (regenerated if a summary was stored);
    None if it has none."""
    row = await repository.stored_result(services.pool, state.id, state.config_hash)
    if row is None:
        return None
    try:
        curve, trades = result_builtins(row.equity_curve, row.trades, row.detail)
    except SummaryDetailError:
        assert row.detail is not None  # only a compact detail can be a summary
        detail = await _regenerate(services, state, row.detail)
        curve, trades = result_builtins(None, None, detail)
    return StoredResult(metrics=row.metrics, equity_curve=curve, trades=trades)


async def _regenerate(services: Services, state: JobState, summary: bytes) -> bytes:
    """The complete detail of a job whose stored detail is ``summary``; cached in its row."""
    stored = await load_dataset_parquet(services.pool, state.dataset_id)
    if stored is None:  # datasets in use cannot be deleted; the job was pruned meanwhile
        raise ResultNotReproducibleError(state.id, "its dataset is gone")
    content_hash, parquet = stored
    run = functools.partial(_run, state.dataset_id, parquet, content_hash, state.config, state.config_hash)
    try:
        encoded = await asyncio.get_running_loop().run_in_executor(_ENGINE_THREADS, run)
    except _EngineChangedError:
        raise ResultNotReproducibleError(state.id, "the engine changed since it ran") from None
    outcome = await repository.replace_summary(
        services.pool,
        state.id,
        state.config_hash,
        summary=summary,
        detail=encoded.detail,
        metrics_json=encoded.metrics_json,
    )
    if outcome is not None and not outcome[0]:
        log.error("backtest %s: the regenerated metrics differ from the stored ones; nothing was cached", state.id)
        raise ResultNotReproducibleError(state.id, "a run today gives other metrics")
    return encoded.detail


def _run(
    dataset_id: object, parquet: bytes, content_hash: str, config: dict[str, Any], config_hash: str
) -> EncodedResult:
    """What the worker stores for this job: its strategy run on its dataset, ``encode_result``."""
    data = stored_ohlcv(dataset_id, parquet=parquet, content_hash=content_hash)
    try:
        spec = decode_strategy(config.get("strategy", {}))
    except EngineValidationError:  # it was valid when submitted
        raise _EngineChangedError from None
    if config_content_hash(spec, content_hash) != config_hash:
        raise _EngineChangedError
    return encode_result(run_backtest(data, spec))
