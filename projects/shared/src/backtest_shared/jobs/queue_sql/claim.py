"""Running a job: a worker claims it, keeps its lease, and finishes, fails or releases it.

Claim CTEs first, then the statements a worker sends while it holds a lease,
then the ways an attempt ends. Every write after the claim is fenced by
``_HELD`` or the job's (id, lease_token).
"""

from __future__ import annotations

from typing import Final

from backtest_shared.jobs.queue_sql.fragments import _BACKOFF_SECONDS
from backtest_shared.jobs.queue_sql.fragments import _CANCEL_WINS
from backtest_shared.jobs.queue_sql.fragments import _HELD
from backtest_shared.jobs.queue_sql.fragments import _RETRY
from backtest_shared.jobs.queue_sql.fragments import _RUN_SECONDS
from backtest_shared.jobs.queue_sql.fragments import _compact
from backtest_shared.jobs.queue_sql.fragments import _leave_queue
from backtest_shared.jobs.queue_sql.fragments import _log_finishes
from backtest_shared.jobs.queue_sql.fragments import _settle_queue

#: The CTEs ``claimed`` and ``taken``: the jobs of CTE ``chosen`` (id, queue_row),
#: locked by it, start running under fresh leases, and their queue rows are marked.
_TAKE_CHOSEN: Final = """claimed AS (
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
)"""

# Claiming, as CTEs shared by CLAIM and COMPLETE_AND_CLAIM; ``claimed`` holds the result.
_CLAIM_CTES: Final = f"""
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
), {_TAKE_CHOSEN}"""

_CLAIMED_COLUMNS: Final = (
    "c.id, c.lease_token, c.attempts, c.max_attempts, c.owner_id, c.bundle_id, c.dataset_id, c.config, "
    "c.timeout_seconds, c.priority"
)

CLAIM: Final = _compact(f"WITH {_CLAIM_CTES}\nSELECT {_CLAIMED_COLUMNS} FROM claimed c")

#: Claim more waiting children of the bundle a worker just claimed a job of, to
#: run them together (one data load, shared indicators). Same owner, bundle,
#: dataset and priority as that job, taken from a bounded window of the owner's
#: next waiting jobs in fair order, never past the owner's running cap, and
#: never while a job of higher priority waits: a batch only extends its
#: owner's turn. Rows other claims hold are skipped, as in CLAIM.
CLAIM_SIBLINGS: Final = _compact(
    f"""
WITH room AS (
    SELECT least(%(limit)s, coalesce(
               (SELECT greatest(u.max_running_jobs
                                - (SELECT count(*) FROM job_queue r WHERE r.owner_id = u.id AND r.claimed), 0)
                  FROM users u
                 WHERE u.id = %(owner_id)s AND u.max_running_jobs IS NOT NULL),
               %(limit)s)) AS jobs
), window_keys AS (
    -- The owner's next waiting jobs (job_queue_pending_idx), of which the
    -- bundle's children on this dataset are kept.
    SELECT w.fair_key
      FROM (SELECT q.job_id, q.fair_key
              FROM job_queue q
             WHERE q.owner_id = %(owner_id)s AND NOT q.claimed AND q.run_after <= now()
             ORDER BY q.fair_key
             LIMIT %(limit)s * 4) w
      JOIN backtest_jobs j ON j.id = w.job_id
     WHERE j.bundle_id = %(bundle_id)s AND j.dataset_id = %(dataset_id)s
), chosen AS (
    SELECT q.job_id AS id, q.ctid AS queue_row
      FROM job_queue q
     WHERE q.owner_id = %(owner_id)s AND NOT q.claimed AND q.run_after <= now()
       AND q.fair_key = ANY(ARRAY(SELECT fair_key FROM window_keys))
       AND q.priority = %(priority)s
       AND NOT EXISTS (SELECT 1 FROM job_queue h
                        WHERE NOT h.claimed AND h.priority > %(priority)s AND h.run_after <= now())
     ORDER BY q.fair_key
     LIMIT (SELECT jobs FROM room)
       FOR UPDATE SKIP LOCKED
), {_TAKE_CHOSEN}
SELECT {_CLAIMED_COLUMNS} FROM claimed c
"""
)

HEARTBEAT: Final = f"""
WITH worker AS (
    UPDATE workers SET heartbeat_at = now(), degraded = %(degraded)s WHERE id = %(worker_id)s
)
UPDATE backtest_jobs j
   SET lease_expires_at = now() + %(lease_seconds)s * interval '1 second',
       heartbeat_at = now()
 WHERE {_HELD}
RETURNING j.id, j.cancel_requested
"""

REPORT_PROGRESS: Final = f"""
UPDATE backtest_jobs j
   SET progress = p.progress
  FROM unnest(%(ids)b::uuid[], %(tokens)b::bigint[], %(progress)b::float8[])
       AS p(id, token, progress)
 WHERE j.id = p.id AND j.lease_token = p.token AND {_HELD}
RETURNING j.id
"""

# Finishing, as CTEs shared by COMPLETE and COMPLETE_AND_CLAIM; ``finished`` holds the result.
_COMPLETE_CTES: Final = f"""
finished AS (
    UPDATE backtest_jobs j
       SET status = CASE WHEN {_CANCEL_WINS} THEN 'cancelled' ELSE 'succeeded' END,
           progress = CASE WHEN {_CANCEL_WINS} THEN j.progress ELSE 1 END,
           finished_at = now(),
           lease_expires_at = NULL,
           error = NULL
     WHERE {_HELD}
    RETURNING j.id, j.status, j.bundle_id, j.owner_id, j.fair_key, j.config_hash, j.started_at
), {_leave_queue("finished")}, {_log_finishes("finished", _RUN_SECONDS)}, stored AS (
    INSERT INTO job_results (config_hash, job_id, metrics, detail)
    SELECT f.config_hash, r.id, r.metrics, r.detail
      FROM unnest(%(ids)b::uuid[], %(metrics)b::jsonb[], %(details)b::bytea[]) AS r(id, metrics, detail)
      JOIN finished f ON f.id = r.id AND f.status = 'succeeded'
)"""

COMPLETE: Final = _compact(f"WITH {_COMPLETE_CTES}\nSELECT f.id, f.status, f.bundle_id FROM finished f")

#: A worker's usual step in one round trip: finish these jobs, claim the next
#: ones. Rows are ('claimed', id, NULL, lease_token, ...) then ('finished', id,
#: status, NULL, NULL, NULL, NULL, bundle_id, NULL...). Both halves see the same
#: snapshot and touch disjoint rows.
#:
#: The claim runs first, on a snapshot microseconds old. Run after the completion
#: (milliseconds later), its scan still saw as pending the jobs other workers had
#: claimed meanwhile; locking such a row follows it to its running version and
#: keeps the lock although the row is then skipped, so the worker holding that job
#: would wait for this statement to end before it could complete it.
COMPLETE_AND_CLAIM: Final = _compact(
    f"""
WITH {_COMPLETE_CTES}, {_CLAIM_CTES}
SELECT 'claimed' AS kind, c.id, NULL::text AS status, c.lease_token, c.attempts, c.max_attempts, c.owner_id,
       c.bundle_id, c.dataset_id, c.config, c.timeout_seconds, c.priority
  FROM claimed c
UNION ALL
SELECT 'finished', f.id, f.status, NULL, NULL, NULL, NULL, f.bundle_id, NULL, NULL, NULL, NULL
  FROM finished f
"""
)

FAIL: Final = _compact(
    f"""
WITH failed AS (
UPDATE backtest_jobs j
   SET status = CASE WHEN {_CANCEL_WINS} THEN 'cancelled'
                     WHEN %(retry)s AND {_RETRY} THEN 'pending'
                     ELSE 'failed' END,
       run_after = CASE WHEN %(retry)s AND {_RETRY}
                        THEN now() + {_BACKOFF_SECONDS} * interval '1 second'
                        ELSE j.run_after END,
       finished_at = CASE WHEN {_CANCEL_WINS} OR NOT %(retry)s OR NOT {_RETRY}
                          THEN now() END,
       worker_id = CASE WHEN %(retry)s AND {_RETRY} AND NOT {_CANCEL_WINS}
                        THEN NULL ELSE j.worker_id END,
       lease_expires_at = NULL,
       error = %(error)s
 WHERE j.id = %(id)s AND j.lease_token = %(token)s AND j.status = 'running'
RETURNING j.id, j.status, j.bundle_id, j.owner_id, j.fair_key, j.run_after
), {_settle_queue("failed")}, {_log_finishes("failed")}
SELECT id, status, bundle_id FROM failed
"""
)

RELEASE: Final = _compact(
    f"""
WITH released AS (
UPDATE backtest_jobs j
   SET status = CASE WHEN {_CANCEL_WINS} THEN 'cancelled' ELSE 'pending' END,
       attempts = greatest(j.attempts - 1, 0),
       finished_at = CASE WHEN {_CANCEL_WINS} THEN now() END,
       worker_id = NULL,
       lease_expires_at = NULL,
       run_after = now(),
       progress = 0
 WHERE {_HELD}
RETURNING j.id, j.status, j.bundle_id, j.owner_id, j.fair_key, j.run_after
), {_settle_queue("released")}, {_log_finishes("released")}
SELECT id, status, bundle_id FROM released
"""
)
