"""The job queue's repository: one method per state change, one statement each.

All SQL lives in ``queue_sql``; the queue only binds parameters and shapes
rows. ``JobQueue`` is the one class callers use; its methods live by concern in
``submissions`` (producers), ``leases`` (workers) and ``reads`` (lookups and
upkeep), all on ``queue_core``'s pool, settings and notifier. The names callers
import from here are re-exported below.
"""

from __future__ import annotations

from backtest_shared.jobs.leases import QueueLeases
from backtest_shared.jobs.queue_core import QueueSettings
from backtest_shared.jobs.reads import QueueReads
from backtest_shared.jobs.submissions import MAX_ATTEMPTS
from backtest_shared.jobs.submissions import MAX_PRIORITY
from backtest_shared.jobs.submissions import MAX_TIMEOUT_SECONDS
from backtest_shared.jobs.submissions import PendingLimitExceededError
from backtest_shared.jobs.submissions import QueueSubmissions
from backtest_shared.jobs.submissions import check_job_options
from backtest_shared.jobs.submissions import enqueue_each_params

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_PRIORITY",
    "MAX_TIMEOUT_SECONDS",
    "JobQueue",
    "PendingLimitExceededError",
    "QueueSettings",
    "check_job_options",
    "enqueue_each_params",
]


class JobQueue(QueueSubmissions, QueueLeases, QueueReads):
    """Enqueue, claim, heartbeat, finish, release, cancel and reap backtest jobs."""
