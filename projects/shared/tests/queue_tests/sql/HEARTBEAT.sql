WITH worker AS (
    UPDATE workers SET heartbeat_at = now(), degraded = %(degraded)s WHERE id = %(worker_id)s
)
UPDATE backtest_jobs j
   SET lease_expires_at = now() + %(lease_seconds)s * interval '1 second',
       heartbeat_at = now()
 WHERE j.id = ANY(%(ids)b::uuid[]) AND j.lease_token = ANY(%(tokens)b::bigint[]) AND j.lease_expires_at IS NOT NULL
RETURNING j.id, j.cancel_requested
