WITH room AS (
    SELECT least(%(limit)s, coalesce(
               (SELECT greatest(u.max_running_jobs
                                - (SELECT count(*) FROM job_queue r WHERE r.owner_id = u.id AND r.claimed), 0)
                  FROM users u
                 WHERE u.id = %(owner_id)s AND u.max_running_jobs IS NOT NULL),
               %(limit)s)) AS jobs
), window_keys AS (
    -- The owner's next waiting jobs (job_queue_pending_idx), of which the
    -- bundle's children on this dataset are kept.
    SELECT w.fair_key
      FROM (SELECT q.job_id, q.fair_key
              FROM job_queue q
             WHERE q.owner_id = %(owner_id)s AND NOT q.claimed AND q.run_after <= now()
             ORDER BY q.fair_key
             LIMIT %(limit)s * 4) w
      JOIN backtest_jobs j ON j.id = w.job_id
     WHERE j.bundle_id = %(bundle_id)s AND j.dataset_id = %(dataset_id)s
), chosen AS (
    SELECT q.job_id AS id, q.ctid AS queue_row
      FROM job_queue q
     WHERE q.owner_id = %(owner_id)s AND NOT q.claimed AND q.run_after <= now()
       AND q.fair_key = ANY(ARRAY(SELECT fair_key FROM window_keys))
       AND q.priority = %(priority)s
       AND NOT EXISTS (SELECT 1 FROM job_queue h
                        WHERE NOT h.claimed AND h.priority > %(priority)s AND h.run_after <= now())
     ORDER BY q.fair_key
     LIMIT (SELECT jobs FROM room)
       FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE backtest_jobs j
       SET status = 'running',
           worker_id = %(worker_id)s,
           lease_token = nextval('backtest_jobs_lease_token_seq'),
           attempts = j.attempts + 1,
           lease_expires_at = now() + %(lease_seconds)s * interval '1 second',
           heartbeat_at = now(),
           started_at = now(),
           progress = 0
      FROM chosen
     WHERE j.id = chosen.id
    RETURNING j.id, j.lease_token, j.attempts, j.max_attempts, j.owner_id, j.bundle_id,
              j.dataset_id, j.config::text, j.timeout_seconds, j.priority
), taken AS (
    UPDATE job_queue SET claimed = true WHERE ctid = ANY(ARRAY(SELECT queue_row FROM chosen))
)
SELECT c.id, c.lease_token, c.attempts, c.max_attempts, c.owner_id, c.bundle_id, c.dataset_id, c.config, c.timeout_seconds, c.priority FROM claimed c
