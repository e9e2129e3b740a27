WITH candidates AS (
    SELECT c.id
      FROM users u
     CROSS JOIN LATERAL (
        SELECT j.id
          FROM backtest_jobs j
         WHERE j.owner_id = u.id
           AND j.created_at < now() - %(keep_seconds)s * interval '1 second'
           AND j.status IN ('succeeded', 'failed', 'cancelled')
           AND j.finished_at < now() - %(keep_seconds)s * interval '1 second'
         ORDER BY j.created_at, j.id
         LIMIT %(batch)s) c
     LIMIT %(batch)s
), locked AS (
    SELECT j.id
      FROM backtest_jobs j
     WHERE j.id IN (SELECT id FROM candidates)
       AND j.status IN ('succeeded', 'failed', 'cancelled')
       AND j.finished_at < now() - %(keep_seconds)s * interval '1 second'
       FOR UPDATE SKIP LOCKED
)
DELETE FROM backtest_jobs j
 USING locked l
 WHERE j.id = l.id
RETURNING j.id
