"""Jobs that end without their worker: lost leases reaped, cancels, and the notifications announcing them."""

from __future__ import annotations

from typing import Final

from backtest_shared.jobs.queue_sql.fragments import _BACKOFF_SECONDS
from backtest_shared.jobs.queue_sql.fragments import _CANCEL_WINS
from backtest_shared.jobs.queue_sql.fragments import _RETRY
from backtest_shared.jobs.queue_sql.fragments import _STILL_WAITING
from backtest_shared.jobs.queue_sql.fragments import _compact
from backtest_shared.jobs.queue_sql.fragments import _log_finishes
from backtest_shared.jobs.queue_sql.fragments import _queue_rows
from backtest_shared.jobs.queue_sql.fragments import _settle_queue

#: The channels NOTIFY sends on, for listeners (``notifier``).
PENDING_CHANNEL: Final = "backtest_jobs_pending"
CANCEL_CHANNEL: Final = "backtest_jobs_cancel"
FINISHED_CHANNEL: Final = "backtest_jobs_finished"

REAP_EXPIRED: Final = _compact(
    f"""
WITH expired AS (
    SELECT j.id
      FROM job_queue q
      JOIN backtest_jobs j ON j.id = q.job_id
     WHERE q.claimed AND j.status = 'running' AND j.lease_expires_at < now()
     ORDER BY j.lease_expires_at
     LIMIT %(limit)s
       FOR UPDATE OF j SKIP LOCKED
), reaped AS (
UPDATE backtest_jobs j
   SET status = CASE WHEN {_CANCEL_WINS} THEN 'cancelled'
                     WHEN {_RETRY} THEN 'pending'
                     ELSE 'failed' END,
       error = CASE WHEN {_CANCEL_WINS} THEN j.error
                    WHEN {_RETRY}
                    THEN 'worker lost: lease expired during attempt ' || j.attempts || ', retrying'
                    ELSE 'worker lost: lease expired during the last of ' || j.max_attempts
                         || ' attempts' END,
       run_after = CASE WHEN {_RETRY} AND NOT {_CANCEL_WINS}
                        THEN now() + {_BACKOFF_SECONDS} * interval '1 second'
                        ELSE j.run_after END,
       finished_at = CASE WHEN {_CANCEL_WINS} OR NOT {_RETRY}
                          THEN now() END,
       lease_expires_at = NULL
  FROM expired
 WHERE j.id = expired.id
RETURNING j.id, j.status, j.bundle_id, j.owner_id, j.fair_key, j.run_after
), {_settle_queue("reaped")}, {_log_finishes("reaped")}
SELECT id, status, bundle_id FROM reaped
"""
)

_CANCEL_TEMPLATE: Final = f"""
WITH targets AS (
    SELECT j.id, j.owner_id, j.fair_key, j.status
      FROM backtest_jobs j
     WHERE {{selector}}
       AND j.status IN ('pending', 'running')
       AND (%(owner_id)s::uuid IS NULL OR j.owner_id = %(owner_id)s::uuid)
), dequeued AS (
    -- Pending jobs leave the queue, before any job row is locked (see "Lock
    -- order"): the update below needs this list for its first row. A job a
    -- worker claimed meanwhile keeps its (now claimed) queue row and is flagged.
    DELETE FROM job_queue q
     WHERE q.ctid = ANY({_queue_rows("targets", False, "s.status = 'pending'")}) AND {_STILL_WAITING}
    RETURNING q.job_id
), cancelled AS (
    UPDATE backtest_jobs j
       SET cancel_requested = true,
           status = CASE WHEN j.id = ANY(ARRAY(SELECT job_id FROM dequeued)) THEN 'cancelled' ELSE j.status END,
           finished_at = CASE WHEN j.id = ANY(ARRAY(SELECT job_id FROM dequeued)) THEN now() ELSE j.finished_at END
     WHERE j.id = ANY(ARRAY(SELECT id FROM targets)) AND j.status IN ('pending', 'running')
    RETURNING j.id, j.status, j.bundle_id
), {_log_finishes("cancelled")}
SELECT id, status, bundle_id FROM cancelled
"""

CANCEL_JOBS: Final = _CANCEL_TEMPLATE.replace("{selector}", "j.id = ANY(%(ids)b::uuid[])")
CANCEL_BUNDLE: Final = _CANCEL_TEMPLATE.replace("{selector}", "j.bundle_id = %(bundle_id)s")

#: The queue's notifications in one statement of their own, sent right after the
#: changes they announce committed. ``finished`` holds payloads of space-separated
#: job and bundle ids (up to 100 ids each, well under the 8,000-byte limit);
#: ``cancel`` holds job ids.
NOTIFY: Final = """
SELECT CASE WHEN %(pending)s THEN pg_notify('backtest_jobs_pending', '') END,
       (SELECT count(pg_notify('backtest_jobs_finished', k)) FROM unnest(%(finished)b::text[]) AS k),
       (SELECT count(pg_notify('backtest_jobs_cancel', k)) FROM unnest(%(cancel)b::text[]) AS k)
"""
