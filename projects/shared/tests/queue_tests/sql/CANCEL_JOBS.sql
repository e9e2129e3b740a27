WITH targets AS (
    SELECT j.id, j.owner_id, j.fair_key, j.status
      FROM backtest_jobs j
     WHERE j.id = ANY(%(ids)b::uuid[])
       AND j.status IN ('pending', 'running')
       AND (%(owner_id)s::uuid IS NULL OR j.owner_id = %(owner_id)s::uuid)
), dequeued AS (
    -- Pending jobs leave the queue, before any job row is locked (see "Lock
    -- order"): the update below needs this list for its first row. A job a
    -- worker claimed meanwhile keeps its (now claimed) queue row and is flagged.
    DELETE FROM job_queue q
     WHERE q.ctid = ANY(ARRAY(
        SELECT (SELECT p.ctid FROM job_queue p
                 WHERE p.owner_id = s.owner_id AND p.fair_key = s.fair_key AND NOT p.claimed)
          FROM targets s
         WHERE s.status = 'pending')) AND q.claimed::int = 0
    RETURNING q.job_id
), cancelled AS (
    UPDATE backtest_jobs j
       SET cancel_requested = true,
           status = CASE WHEN j.id = ANY(ARRAY(SELECT job_id FROM dequeued)) THEN 'cancelled' ELSE j.status END,
           finished_at = CASE WHEN j.id = ANY(ARRAY(SELECT job_id FROM dequeued)) THEN now() ELSE j.finished_at END
     WHERE j.id = ANY(ARRAY(SELECT id FROM targets)) AND j.status IN ('pending', 'running')
    RETURNING j.id, j.status, j.bundle_id
), 
logged AS (
    INSERT INTO job_finish_log (succeeded, failed, cancelled, run_seconds)
    SELECT count(*) FILTER (WHERE s.status = 'succeeded'), count(*) FILTER (WHERE s.status = 'failed'),
           count(*) FILTER (WHERE s.status = 'cancelled'), '{}'
      FROM cancelled s
    HAVING count(*) FILTER (WHERE s.status IN ('succeeded', 'failed', 'cancelled')) > 0
)
SELECT id, status, bundle_id FROM cancelled
