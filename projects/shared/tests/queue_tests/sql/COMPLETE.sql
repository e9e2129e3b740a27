WITH 
finished AS (
    UPDATE backtest_jobs j
       SET status = CASE WHEN j.cancel_requested THEN 'cancelled' ELSE 'succeeded' END,
           progress = CASE WHEN j.cancel_requested THEN j.progress ELSE 1 END,
           finished_at = now(),
           lease_expires_at = NULL,
           error = NULL
     WHERE j.id = ANY(%(ids)b::uuid[]) AND j.lease_token = ANY(%(tokens)b::bigint[]) AND j.lease_expires_at IS NOT NULL
    RETURNING j.id, j.status, j.bundle_id, j.owner_id, j.fair_key, j.config_hash, j.started_at
), 
dequeued AS (
    DELETE FROM job_queue q
     WHERE q.ctid = ANY(ARRAY(
        SELECT (SELECT p.ctid FROM job_queue p
                 WHERE p.owner_id = s.owner_id AND p.fair_key = s.fair_key AND p.claimed)
          FROM finished s
         WHERE true)) AND q.claimed::int = 1
), 
logged AS (
    INSERT INTO job_finish_log (succeeded, failed, cancelled, run_seconds)
    SELECT count(*) FILTER (WHERE s.status = 'succeeded'), count(*) FILTER (WHERE s.status = 'failed'),
           count(*) FILTER (WHERE s.status = 'cancelled'), coalesce(array_agg(extract(epoch FROM now() - s.started_at)::float8) FILTER (WHERE s.status = 'succeeded'), '{}')
      FROM finished s
    HAVING count(*) FILTER (WHERE s.status IN ('succeeded', 'failed', 'cancelled')) > 0
), stored AS (
    INSERT INTO job_results (config_hash, job_id, metrics, detail)
    SELECT f.config_hash, r.id, r.metrics, r.detail
      FROM unnest(%(ids)b::uuid[], %(metrics)b::jsonb[], %(details)b::bytea[]) AS r(id, metrics, detail)
      JOIN finished f ON f.id = r.id AND f.status = 'succeeded'
)
SELECT f.id, f.status, f.bundle_id FROM finished f
