"""Every SQL statement of the job queue, in one place.

The design (tables, fairness, leases, lock order, notifications) is described
once, in docs/queue.md. These are the invariants every statement here keeps:

* Each state change of a job is exactly one statement (autocommit), and makes
  only transitions ``lifecycle.TRANSITIONS`` declares.
* ``job_queue`` holds a row exactly for each pending or running job, changed by
  the statement that changes the job's status; ``backtest_jobs`` gets no index
  on a column a claim, heartbeat or completion changes (those stay HOT).
* An owner's fair keys are unique across its pending and running rows and all
  below ``users.fair_tail``.
* Every write of a worker names (id, lease_token) and matches only while the
  job runs under that token (fencing). Batched writes match ``id = ANY(ids) AND
  lease_token = ANY(tokens)``, which is the same because tokens are unique.
* Lock order: pending jobs' queue rows before their job rows; running jobs' job
  rows before their queue rows.
* Statements that finish jobs append one row to ``job_finish_log``; statistics
  never scan the whole history.
* ``NOTIFY`` is sent in a statement of its own after the change commits
  (``notifier``), never inside it.
* JSON documents travel as binary text arrays (``%(name)b``): the text array
  format would escape every quote of every document.

The statements live by stage of a job's life: ``submit`` (entering the queue),
``claim`` (claiming, leases, finishing), ``recover`` (reaps, cancels,
notifications), ``reads`` and ``maintenance``; ``fragments`` holds the parts
they share. Import them from here: ``queue_sql.CLAIM``.
"""

from __future__ import annotations

from backtest_shared.jobs.queue_sql.claim import CLAIM
from backtest_shared.jobs.queue_sql.claim import CLAIM_SIBLINGS
from backtest_shared.jobs.queue_sql.claim import COMPLETE
from backtest_shared.jobs.queue_sql.claim import COMPLETE_AND_CLAIM
from backtest_shared.jobs.queue_sql.claim import FAIL
from backtest_shared.jobs.queue_sql.claim import HEARTBEAT
from backtest_shared.jobs.queue_sql.claim import RELEASE
from backtest_shared.jobs.queue_sql.claim import REPORT_PROGRESS
from backtest_shared.jobs.queue_sql.fragments import readable
from backtest_shared.jobs.queue_sql.maintenance import DEREGISTER_WORKER
from backtest_shared.jobs.queue_sql.maintenance import LOCK_FOR_REPAIR
from backtest_shared.jobs.queue_sql.maintenance import PRUNE_EMPTY_BUNDLES
from backtest_shared.jobs.queue_sql.maintenance import PRUNE_FINISH_LOG
from backtest_shared.jobs.queue_sql.maintenance import PRUNE_FINISHED_JOBS
from backtest_shared.jobs.queue_sql.maintenance import REAPER_LOCK_KEY
from backtest_shared.jobs.queue_sql.maintenance import REGISTER_WORKER
from backtest_shared.jobs.queue_sql.maintenance import REPAIR_FAIR_KEYS
from backtest_shared.jobs.queue_sql.maintenance import TRY_REAPER_LOCK
from backtest_shared.jobs.queue_sql.reads import COUNT_BY_STATUS
from backtest_shared.jobs.queue_sql.reads import GET_JOB
from backtest_shared.jobs.queue_sql.reads import GET_RESULT
from backtest_shared.jobs.queue_sql.reads import LIST_WORKERS
from backtest_shared.jobs.queue_sql.reads import QUEUE_DEPTH
from backtest_shared.jobs.queue_sql.reads import QUEUE_STATS
from backtest_shared.jobs.queue_sql.reads import RECENT_RUN_SECONDS
from backtest_shared.jobs.queue_sql.recover import CANCEL_BUNDLE
from backtest_shared.jobs.queue_sql.recover import CANCEL_CHANNEL
from backtest_shared.jobs.queue_sql.recover import CANCEL_JOBS
from backtest_shared.jobs.queue_sql.recover import FINISHED_CHANNEL
from backtest_shared.jobs.queue_sql.recover import NOTIFY
from backtest_shared.jobs.queue_sql.recover import PENDING_CHANNEL
from backtest_shared.jobs.queue_sql.recover import REAP_EXPIRED
from backtest_shared.jobs.queue_sql.submit import ENQUEUE
from backtest_shared.jobs.queue_sql.submit import ENQUEUE_EACH
from backtest_shared.jobs.queue_sql.submit import INSERT_BUNDLE

__all__ = [
    "PENDING_CHANNEL",
    "CANCEL_CHANNEL",
    "FINISHED_CHANNEL",
    "REAPER_LOCK_KEY",
    "ENQUEUE",
    "ENQUEUE_EACH",
    "INSERT_BUNDLE",
    "CLAIM",
    "CLAIM_SIBLINGS",
    "HEARTBEAT",
    "REPORT_PROGRESS",
    "COMPLETE",
    "COMPLETE_AND_CLAIM",
    "FAIL",
    "RELEASE",
    "REAP_EXPIRED",
    "CANCEL_JOBS",
    "CANCEL_BUNDLE",
    "NOTIFY",
    "GET_JOB",
    "GET_RESULT",
    "COUNT_BY_STATUS",
    "QUEUE_DEPTH",
    "QUEUE_STATS",
    "RECENT_RUN_SECONDS",
    "PRUNE_FINISH_LOG",
    "PRUNE_FINISHED_JOBS",
    "PRUNE_EMPTY_BUNDLES",
    "REGISTER_WORKER",
    "DEREGISTER_WORKER",
    "LIST_WORKERS",
    "TRY_REAPER_LOCK",
    "REPAIR_FAIR_KEYS",
    "LOCK_FOR_REPAIR",
    "readable",
    "statements",
]


def statements() -> dict[str, str]:
    """Every public statement of this package by name, in its readable form, in ``__all__``'s order."""
    namespace = globals()
    return {
        name: readable(value)
        for name in __all__
        if name.isupper() and isinstance(value := namespace[name], str) and " " in value
    }
