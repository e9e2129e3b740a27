WITH 
candidates AS (
    -- Locking rechecks the latest version, so a job claimed by another worker
    -- since this statement's snapshot is skipped, and ``queue_row`` is the
    -- latest version's ctid, which ``taken`` marks. An unclaimed queue row
    -- means a pending job: both change in one statement.
    SELECT q.job_id AS id, q.ctid AS queue_row, q.owner_id, q.priority, q.fair_key
      FROM job_queue q
     WHERE NOT q.claimed AND q.run_after <= now()
     ORDER BY q.priority DESC, q.fair_key
     -- Scan further only when some user has a running cap to honour (an index
     -- probe: users_capped_idx holds only users with a cap).
     LIMIT %(limit)s * CASE WHEN EXISTS (SELECT 1 FROM users WHERE max_running_jobs IS NOT NULL)
                            THEN 4 ELSE 1 END
       FOR UPDATE SKIP LOCKED
), ranked AS (
    SELECT c.id, c.queue_row, c.priority, c.fair_key, u.max_running_jobs AS cap,
           row_number() OVER (PARTITION BY c.owner_id ORDER BY c.priority DESC, c.fair_key) AS nth,
           CASE WHEN u.max_running_jobs IS NULL THEN 0
                ELSE (SELECT count(*) FROM job_queue r
                       WHERE r.owner_id = c.owner_id AND r.claimed)
           END AS running
      FROM candidates c
      JOIN users u ON u.id = c.owner_id
), chosen AS (
    -- With no cap anywhere the candidates are the answer, and the ranking (a join
    -- with users, a window and two sorts) is skipped: PostgreSQL evaluates each
    -- branch's EXISTS once and runs only the branch it admits. The outer LIMIT
    -- changes nothing but the planner's estimate, which keeps the update below
    -- an index lookup per job rather than a hash of the whole table.
    SELECT id, queue_row FROM (
        SELECT id, queue_row FROM candidates
         WHERE NOT EXISTS (SELECT 1 FROM users WHERE max_running_jobs IS NOT NULL)
        UNION ALL
        (SELECT id, queue_row FROM ranked
          WHERE EXISTS (SELECT 1 FROM users WHERE max_running_jobs IS NOT NULL)
            AND (cap IS NULL OR running + nth <= cap)
          ORDER BY priority DESC, fair_key
          LIMIT %(limit)s)
    ) AS admitted
    LIMIT %(limit)s
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
