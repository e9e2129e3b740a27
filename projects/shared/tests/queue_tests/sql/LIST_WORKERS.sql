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
