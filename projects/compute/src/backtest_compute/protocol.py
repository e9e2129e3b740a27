"""Messages between the worker's main process and its backtest processes (pickled over a pipe).

Results travel in their stored form, encoded in the backtest process, so the
main process, which must stay responsive, never walks a result's trade list.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from backtest_shared.results import EncodedResult


class RunBacktest(msgspec.Struct, frozen=True, kw_only=True):
    """Run one job; ``seq`` ties the replies to this request."""

    seq: int
    job_id: str
    dataset_id: str
    #: The job's config as stored (JSON text); parsed here, not in the I/O process.
    config_json: str
    #: Store the summary form (metrics and a small curve; the rest is regenerated
    #: on request): a sweep's children, whose trades few read.
    summary: bool = False


class Ready(msgspec.Struct, frozen=True, kw_only=True):
    """The process has imported the engine and waits for work."""

    pid: int


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    fraction: float


class Finished(msgspec.Struct, frozen=True, kw_only=True):
    """A successful run, in the form it is stored (``backtest_shared.results``)."""

    seq: int
    result: EncodedResult
    load_ms: float
    run_ms: float
    dataset_cached: bool


FailureKind = Literal["invalid", "error"]


class Failed(msgspec.Struct, frozen=True, kw_only=True):
    """A run that raised: ``invalid`` is deterministic bad input (never retried), ``error`` anything else."""

    seq: int
    kind: FailureKind
    message: str
