DELETE FROM bundles b
 WHERE b.id IN (
    SELECT o.id
      FROM bundles o
     WHERE o.created_at < now() - %(keep_seconds)s * interval '1 second'
       AND NOT EXISTS (SELECT 1 FROM backtest_jobs j WHERE j.bundle_id = o.id)
     ORDER BY o.created_at
     LIMIT %(batch)s
       FOR UPDATE SKIP LOCKED)
RETURNING b.id
