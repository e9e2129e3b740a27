UPDATE backtest_jobs j
   SET progress = p.progress
  FROM unnest(%(ids)b::uuid[], %(tokens)b::bigint[], %(progress)b::float8[])
       AS p(id, token, progress)
 WHERE j.id = p.id AND j.lease_token = p.token AND j.id = ANY(%(ids)b::uuid[]) AND j.lease_token = ANY(%(tokens)b::bigint[]) AND j.lease_expires_at IS NOT NULL
RETURNING j.id
