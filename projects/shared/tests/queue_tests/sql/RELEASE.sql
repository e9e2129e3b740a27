WITH released AS (
UPDATE backtest_jobs j
   SET status = CASE WHEN j.cancel_requested THEN 'cancelled' ELSE 'pending' END,
       attempts = greatest(j.attempts - 1, 0),
       finished_at = CASE WHEN j.cancel_requested THEN now() END,
       worker_id = NULL,
       lease_expires_at = NULL,
       run_after = now(),
       progress = 0
 WHERE j.id = ANY(%(ids)b::uuid[]) AND j.lease_token = ANY(%(tokens)b::bigint[]) AND j.lease_expires_at IS NOT NULL
RETURNING j.id, j.status, j.bundle_id, j.owner_id, j.fair_key, j.run_after
), 
requeued AS (
    UPDATE job_queue q
       SET claimed = false,
           run_after = (SELECT s.run_after FROM released s
                         WHERE s.owner_id = q.owner_id AND s.fair_key = q.fair_key)
     WHERE q.ctid = ANY(ARRAY(
        SELECT (SELECT p.ctid FROM job_queue p
                 WHERE p.owner_id = s.owner_id AND p.fair_key = s.fair_key AND p.claimed)
          FROM released s
         WHERE s.status = 'pending')) AND q.claimed::int = 1
), 
dequeued AS (
    DELETE FROM job_queue q
     WHERE q.ctid = ANY(ARRAY(
        SELECT (SELECT p.ctid FROM job_queue p
                 WHERE p.owner_id = s.owner_id AND p.fair_key = s.fair_key AND p.claimed)
          FROM released s
         WHERE s.status <> 'pending')) AND q.claimed::int = 1
), 
logged AS (
    INSERT INTO job_finish_log (succeeded, failed, cancelled, run_seconds)
    SELECT count(*) FILTER (WHERE s.status = 'succeeded'), count(*) FILTER (WHERE s.status = 'failed'),
           count(*) FILTER (WHERE s.status = 'cancelled'), '{}'
      FROM released s
    HAVING count(*) FILTER (WHERE s.status IN ('succeeded', 'failed', 'cancelled')) > 0
)
SELECT id, status, bundle_id FROM released
