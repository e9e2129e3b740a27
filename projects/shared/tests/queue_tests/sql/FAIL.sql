WITH failed AS (
UPDATE backtest_jobs j
   SET status = CASE WHEN j.cancel_requested THEN 'cancelled'
                     WHEN %(retry)s AND (j.attempts < j.max_attempts) THEN 'pending'
                     ELSE 'failed' END,
       run_after = CASE WHEN %(retry)s AND (j.attempts < j.max_attempts)
                        THEN now() + least(%(backoff_cap)s::float8, %(backoff_base)s::float8 * power(2, greatest(j.attempts - 1, 0))) * interval '1 second'
                        ELSE j.run_after END,
       finished_at = CASE WHEN j.cancel_requested OR NOT %(retry)s OR NOT (j.attempts < j.max_attempts)
                          THEN now() END,
       worker_id = CASE WHEN %(retry)s AND (j.attempts < j.max_attempts) AND NOT j.cancel_requested
                        THEN NULL ELSE j.worker_id END,
       lease_expires_at = NULL,
       error = %(error)s
 WHERE j.id = %(id)s AND j.lease_token = %(token)s AND j.status = 'running'
RETURNING j.id, j.status, j.bundle_id, j.owner_id, j.fair_key, j.run_after
), 
requeued AS (
    UPDATE job_queue q
       SET claimed = false,
           run_after = (SELECT s.run_after FROM failed s
                         WHERE s.owner_id = q.owner_id AND s.fair_key = q.fair_key)
     WHERE q.ctid = ANY(ARRAY(
        SELECT (SELECT p.ctid FROM job_queue p
                 WHERE p.owner_id = s.owner_id AND p.fair_key = s.fair_key AND p.claimed)
          FROM failed s
         WHERE s.status = 'pending')) AND q.claimed::int = 1
), 
dequeued AS (
    DELETE FROM job_queue q
     WHERE q.ctid = ANY(ARRAY(
        SELECT (SELECT p.ctid FROM job_queue p
                 WHERE p.owner_id = s.owner_id AND p.fair_key = s.fair_key AND p.claimed)
          FROM failed s
         WHERE s.status <> 'pending')) AND q.claimed::int = 1
), 
logged AS (
    INSERT INTO job_finish_log (succeeded, failed, cancelled, run_seconds)
    SELECT count(*) FILTER (WHERE s.status = 'succeeded'), count(*) FILTER (WHERE s.status = 'failed'),
           count(*) FILTER (WHERE s.status = 'cancelled'), '{}'
      FROM failed s
    HAVING count(*) FILTER (WHERE s.status IN ('succeeded', 'failed', 'cancelled')) > 0
)
SELECT id, status, bundle_id FROM failed
