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
   SET status = CASE WHEN j.cancel_requested THEN 'cancelled'
                     WHEN (j.attempts < j.max_attempts) THEN 'pending'
                     ELSE 'failed' END,
       error = CASE WHEN j.cancel_requested THEN j.error
                    WHEN (j.attempts < j.max_attempts)
                    THEN 'worker lost: lease expired during attempt ' || j.attempts || ', retrying'
                    ELSE 'worker lost: lease expired during the last of ' || j.max_attempts
                         || ' attempts' END,
       run_after = CASE WHEN (j.attempts < j.max_attempts) AND NOT j.cancel_requested
                        THEN now() + least(%(backoff_cap)s::float8, %(backoff_base)s::float8 * power(2, greatest(j.attempts - 1, 0))) * interval '1 second'
                        ELSE j.run_after END,
       finished_at = CASE WHEN j.cancel_requested OR NOT (j.attempts < j.max_attempts)
                          THEN now() END,
       lease_expires_at = NULL
  FROM expired
 WHERE j.id = expired.id
RETURNING j.id, j.status, j.bundle_id, j.owner_id, j.fair_key, j.run_after
), 
requeued AS (
    UPDATE job_queue q
       SET claimed = false,
           run_after = (SELECT s.run_after FROM reaped s
                         WHERE s.owner_id = q.owner_id AND s.fair_key = q.fair_key)
     WHERE q.ctid = ANY(ARRAY(
        SELECT (SELECT p.ctid FROM job_queue p
                 WHERE p.owner_id = s.owner_id AND p.fair_key = s.fair_key AND p.claimed)
          FROM reaped s
         WHERE s.status = 'pending')) AND q.claimed::int = 1
), 
dequeued AS (
    DELETE FROM job_queue q
     WHERE q.ctid = ANY(ARRAY(
        SELECT (SELECT p.ctid FROM job_queue p
                 WHERE p.owner_id = s.owner_id AND p.fair_key = s.fair_key AND p.claimed)
          FROM reaped s
         WHERE s.status <> 'pending')) AND q.claimed::int = 1
), 
logged AS (
    INSERT INTO job_finish_log (succeeded, failed, cancelled, run_seconds)
    SELECT count(*) FILTER (WHERE s.status = 'succeeded'), count(*) FILTER (WHERE s.status = 'failed'),
           count(*) FILTER (WHERE s.status = 'cancelled'), '{}'
      FROM reaped s
    HAVING count(*) FILTER (WHERE s.status IN ('succeeded', 'failed', 'cancelled')) > 0
)
SELECT id, status, bundle_id FROM reaped
