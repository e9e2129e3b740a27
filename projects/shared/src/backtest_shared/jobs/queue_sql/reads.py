"""Reads: jobs, results, queue statistics and workers; none of them changes anything."""

from __future__ import annotations

from typing import Final

GET_JOB: Final = """
SELECT id, owner_id, bundle_id, dataset_id, priority, config, config_hash, status, attempts,
       max_attempts, timeout_seconds, run_after, worker_id, lease_token, lease_expires_at,
       progress, cancel_requested, error, reused_from, created_at, started_at, finished_at
  FROM backtest_jobs
 WHERE id = %(id)s
"""

#: A job's result: metrics, then the curve and the trades as JSON (rows written
#: before migration 0011) or as compact ``detail`` (later rows).
GET_RESULT: Final = """
SELECT r.metrics, r.equity_curve, r.trades, r.detail
  FROM backtest_jobs j
  JOIN job_results r ON r.config_hash = j.config_hash AND r.job_id = j.id
 WHERE j.id = %(id)s
"""

#: Every job ever, by status and priority: a scan of the whole history, for
#: tests and audits (statistics use QUEUE_DEPTH and QUEUE_STATS).
COUNT_BY_STATUS: Final = """
SELECT status, priority, count(*) AS jobs FROM backtest_jobs GROUP BY status, priority
"""

#: Pending and running jobs by priority: the queue table, never the history.
QUEUE_DEPTH: Final = """
SELECT CASE WHEN claimed THEN 'running' ELSE 'pending' END AS status, priority, count(*) AS jobs
  FROM job_queue
 GROUP BY 1, 2
"""

#: How long the longest-waiting claimable job has waited (since its enqueue, or
#: since its retry fell due; NULL when none waits), and the jobs that reached
#: each final state in the last minute. Reads the queue table and the finish
#: log only: counting in ``backtest_jobs`` scanned the whole history.
QUEUE_STATS: Final = """
SELECT (SELECT extract(epoch FROM now() - min(q.run_after))::float8
          FROM job_queue q
         WHERE NOT q.claimed AND q.run_after <= now()) AS oldest_pending_seconds,
       coalesce(sum(l.succeeded), 0)::int AS succeeded,
       coalesce(sum(l.failed), 0)::int AS failed,
       coalesce(sum(l.cancelled), 0)::int AS cancelled
  FROM job_finish_log l
 WHERE l.finished_at > now() - interval '60 seconds'
"""

#: p50, p90 and p99 run time (seconds) of the jobs that succeeded in the last
#: five minutes after running (reused results took no time); NULL when none did.
#: Over the latest 1,000 finishing statements at most (up to 100,000 jobs), so
#: the cost is bounded however busy the five minutes were.
RECENT_RUN_SECONDS: Final = """
SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY r.seconds)
  FROM (SELECT run_seconds FROM job_finish_log
         WHERE finished_at > now() - interval '5 minutes' AND cardinality(run_seconds) > 0
         ORDER BY finished_at DESC
         LIMIT 1000) AS l,
       unnest(l.run_seconds) AS r(seconds)
"""

#: Workers seen in the last day, with their running jobs counted in one pass
#: over the running set (a count per worker read it once per worker).
LIST_WORKERS: Final = """
WITH running AS (
    SELECT j.worker_id, count(*) AS jobs
      FROM job_queue q JOIN backtest_jobs j ON j.id = q.job_id
     WHERE q.claimed
     GROUP BY j.worker_id
)
SELECT w.id, w.name, w.host, w.pid, w.version, w.slots, w.started_at, w.heartbeat_at,
       w.stopped_at,
       CASE WHEN w.stopped_at IS NOT NULL THEN 'stopped'
            WHEN w.heartbeat_at < now() - %(dead_after_seconds)s * interval '1 second' THEN 'dead'
            WHEN w.degraded IS NOT NULL THEN 'degraded'
            ELSE 'alive' END AS state,
       w.degraded,
       coalesce(r.jobs, 0) AS running_jobs
  FROM workers w
  LEFT JOIN running r ON r.worker_id = w.id
 WHERE w.stopped_at IS NULL OR w.stopped_at > now() - interval '1 day'
 ORDER BY w.started_at DESC
"""
