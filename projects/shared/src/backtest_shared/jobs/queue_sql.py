"""Every SQL statement of the job queue, in one place.

The design (tables, fairness, leases, lock order, notifications) is described
once, in docs/queue.md. These are the invariants every statement here keeps:

* Each state change of a job is exactly one statement (autocommit), and makes
  only transitions ``lifecycle.TRANSITIONS`` declares.
* ``job_queue`` holds a row exactly for each pending or running job, changed by
  the statement that changes the job's status; ``backtest_jobs`` gets no index
  on a column a claim, heartbeat or completion changes (those stay HOT).
* An owner's fair keys are unique across its pending and running rows and all
  below ``users.fair_tail``.
* Every write of a worker names (id, lease_token) and matches only while the
  job runs under that token (fencing). Batched writes match ``id = ANY(ids) AND
  lease_token = ANY(tokens)``, which is the same because tokens are unique.
* Lock order: pending jobs' queue rows before their job rows; running jobs' job
  rows before their queue rows.
* Statements that finish jobs append one row to ``job_finish_log``; statistics
  never scan the whole history.
* ``NOTIFY`` is sent in a statement of its own after the change commits
  (``notifier``), never inside it.
* JSON documents travel as binary text arrays (``%(name)b``): the text array
  format would escape every quote of every document.
"""

from __future__ import annotations

import re
from typing import Final

from backtest_shared.jobs import lifecycle

#: Each compacted statement's complete text with its comments, as written here:
#: what ``readable`` returns, and what the checked-in snapshots hold.
_READABLE: dict[str, str] = {}


def _compact(sql: str) -> str:
    """The statement without comments and runs of whitespace.

    psycopg caches the parsing of a query's ``%(name)s`` placeholders only for
    queries up to 4,096 bytes; a longer one is parsed again on every execution,
    which for the enqueue statements cost the API a tenth of its CPU.
    """
    compact = re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", sql)).strip()
    _READABLE[compact] = sql.strip()
    return compact


def readable(statement: str) -> str:
    """The complete text of a statement of this module, with its comments and layout."""
    return _READABLE.get(statement, statement).strip()


def statements() -> dict[str, str]:
    """Every public statement of this module by name, in its readable form."""
    return {
        name: readable(value)
        for name, value in globals().items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str) and " " in value
    }


PENDING_CHANNEL: Final = "backtest_jobs_pending"
CANCEL_CHANNEL: Final = "backtest_jobs_cancel"
FINISHED_CHANNEL: Final = "backtest_jobs_finished"

#: pg_try_advisory_lock key held by the one active reaper (any bigint works;
#: this is "backtest" in ASCII).
REAPER_LOCK_KEY: Final = 0x6261636B74657374

#: The jobs of the leases (%(ids)s, %(tokens)s) that are still held (see "Leases and fencing").
_HELD: Final = (
    "j.id = ANY(%(ids)b::uuid[]) AND j.lease_token = ANY(%(tokens)b::bigint[]) AND j.lease_expires_at IS NOT NULL"
)


def _queue_rows(source: str, claimed: bool, condition: str = "true") -> str:
    """The ``job_queue`` rows (ctids) of the jobs in CTE ``source`` that meet ``condition``.

    One probe of the owner's pending or claimed index per job, written as a
    correlated subquery so that no plan can turn it into a scan of the queue
    (a join let generic plans hash the whole table). The row is then changed
    by its ctid. Only a statement holding the job's row lock changes its queue
    row (see "Lock order"), so the version this statement's snapshot sees is
    the latest, and if it is not, PostgreSQL follows the update chain from it
    and rechecks the other conditions on the latest version, which must
    therefore restate the state the row is expected in (``_STILL_CLAIMED``,
    ``_STILL_WAITING``).
    """
    state = "p.claimed" if claimed else "NOT p.claimed"
    return f"""ARRAY(
        SELECT (SELECT p.ctid FROM job_queue p
                 WHERE p.owner_id = s.owner_id AND p.fair_key = s.fair_key AND {state})
          FROM {source} s
         WHERE {condition})"""


#: Rechecked on the latest version when a queue row changed under a statement
#: (see ``_queue_rows``). Regression: a cancel waiting for a claim's lock deleted
#: the row the claim had just marked and set the running job 'cancelled' (lease
#: check violation). Written as casts so that no plan can take them for the
#: partial indexes' predicates and scan a whole index instead of fetching by ctid.
_STILL_CLAIMED: Final = "q.claimed::int = 1"
_STILL_WAITING: Final = "q.claimed::int = 0"


def _leave_queue(source: str, condition: str = "true") -> str:
    """The CTE ``dequeued``: the claimed queue rows of the jobs in ``source`` meeting ``condition`` go."""
    return f"""
dequeued AS (
    DELETE FROM job_queue q
     WHERE q.ctid = ANY({_queue_rows(source, True, condition)}) AND {_STILL_CLAIMED}
)"""


def _settle_queue(source: str) -> str:
    """CTEs that bring ``job_queue`` in step with the running jobs a write just changed.

    ``source`` names a CTE returning the jobs' new ``status``, ``owner_id``,
    ``fair_key`` and ``run_after``: those back to 'pending' are unmarked, with
    their new run-after time; those now final leave the queue.
    """
    return f"""
requeued AS (
    UPDATE job_queue q
       SET claimed = false,
           run_after = (SELECT s.run_after FROM {source} s
                         WHERE s.owner_id = q.owner_id AND s.fair_key = q.fair_key)
     WHERE q.ctid = ANY({_queue_rows(source, True, "s.status = 'pending'")}) AND {_STILL_CLAIMED}
), {_leave_queue(source, "s.status <> 'pending'")}"""


def _log_finishes(source: str, run_seconds: str | None = None) -> str:
    """The CTE ``logged``: one ``job_finish_log`` row for the jobs in ``source`` now final, if any.

    ``source`` returns each job's new ``status``; ``run_seconds``, an expression
    over ``s``, the run time of a succeeded job (None: no job of ``source`` ran).
    """
    runs = (
        f"coalesce(array_agg({run_seconds}) FILTER (WHERE s.status = 'succeeded'), '{{}}')" if run_seconds else "'{}'"
    )
    return f"""
logged AS (
    INSERT INTO job_finish_log (succeeded, failed, cancelled, run_seconds)
    SELECT count(*) FILTER (WHERE s.status = 'succeeded'), count(*) FILTER (WHERE s.status = 'failed'),
           count(*) FILTER (WHERE s.status = 'cancelled'), {runs}
      FROM {source} s
    HAVING count(*) FILTER (WHERE s.status IN ('succeeded', 'failed', 'cancelled')) > 0
)"""


#: A finished job's run time, for ``_log_finishes`` over a CTE returning ``started_at``.
_RUN_SECONDS: Final = "extract(epoch FROM now() - s.started_at)::float8"


#: The lifecycle's rules, each stated once (``lifecycle``): an attempt that fails
#: or is lost is retried while attempts remain, and a cancel request wins over
#: every other outcome of the attempt it interrupts.
_RETRY: Final = f"({lifecycle.RETRY_SQL})"
_CANCEL_WINS: Final = lifecycle.CANCEL_WINS_SQL

_BACKOFF_SECONDS: Final = (
    "least(%(backoff_cap)s::float8, %(backoff_base)s::float8 * power(2, greatest(j.attempts - 1, 0)))"
)

#: Shared by ENQUEUE and ENQUEUE_EACH: the claim order's first pending key, where
#: the jobs of an owner with nothing waiting start. With nothing pending at all,
#: the newest running job's key: the clock never falls back to 0 while jobs run,
#: or a newcomer would be ordered ahead of every later job of users whose
#: running jobs hold high keys.
_QUEUE_HEAD: Final = """
head AS (
    SELECT coalesce(
        (SELECT fair_key FROM job_queue
          WHERE NOT claimed
          ORDER BY priority DESC, fair_key
          LIMIT 1),
        (SELECT max(fair_key) FROM job_queue WHERE claimed),
        0) AS key
)"""

#: Shared by ENQUEUE and ENQUEUE_EACH: a job with a stored result for config
#: hash ``h.config_hash`` (one probe of the results' primary key), or NULL. Any
#: one will do: the hash covers the strategy, the data and the engine version,
#: so every such result is the same answer. Results exist only for succeeded
#: jobs, so the lookup touches no pending or running job (an index on
#: ``backtest_jobs.config_hash`` also held the jobs still waiting, and a user
#: resubmitting a sweep made every enqueue scan all earlier copies).
_RESULT_FOR_HASH: Final = "(SELECT r.job_id FROM job_results r WHERE r.config_hash = h.config_hash LIMIT 1)"

#: Shared by ENQUEUE and ENQUEUE_EACH: the results of the ``reused`` jobs, copied.
_COPY_REUSED_RESULTS: Final = """
copied AS (
    INSERT INTO job_results (config_hash, job_id, metrics, equity_curve, trades, detail)
    SELECT jr.config_hash, r.id, jr.metrics, jr.equity_curve, jr.trades, jr.detail
      FROM reused r
      JOIN job_results jr ON jr.config_hash = r.config_hash AND jr.job_id = r.reused_from
)"""

#: Shared by ENQUEUE and ENQUEUE_EACH: the ``queued`` jobs enter the queue table.
_ENTER_QUEUE: Final = """
entered AS (
    INSERT INTO job_queue (job_id, owner_id, priority, fair_key)
    SELECT id, owner_id, priority, fair_key FROM queued
)"""

#: Insert jobs in one statement (the caller then wakes the workers). A job whose ``config_hash``
#: matches a succeeded job (when ``reuse`` is true) is inserted already
#: 'succeeded', with ``reused_from`` set and the earlier result copied; only the
#: others are queued and count towards ``max_pending``. All or nothing: when the
#: limit would be exceeded nothing is written and ``ok`` is false.
ENQUEUE: Final = _compact(
    f"""
WITH source AS (
    SELECT h.config_hash, {_RESULT_FOR_HASH} AS id
      FROM (SELECT DISTINCT unnest(%(config_hashes)b::text[]) AS config_hash) h
     WHERE %(reuse)s
), n AS (
    SELECT u.id, u.dataset_id, u.config, u.config_hash, u.ord, source.id AS source_id
      FROM unnest(%(ids)b::uuid[], %(dataset_ids)b::uuid[], %(configs)b::json[],
                  %(config_hashes)b::text[])
           WITH ORDINALITY AS u(id, dataset_id, config, config_hash, ord)
      LEFT JOIN source ON source.config_hash = u.config_hash
), fresh AS (
    SELECT n.*, row_number() OVER (ORDER BY n.ord) AS seq FROM n WHERE n.source_id IS NULL
), fresh_count AS (
    SELECT count(*) AS n FROM fresh
), {_QUEUE_HEAD}, owner_pending AS (
    -- The owner's oldest waiting key (one index probe); NULL when nothing waits.
    SELECT min(fair_key) AS oldest
      FROM job_queue
     WHERE NOT claimed AND owner_id = %(owner_id)s
), allowed AS (
    -- An owner's waiting jobs have distinct keys below users.fair_tail, so
    -- fair_tail - oldest bounds their number in two index probes. Only when that
    -- bound is too high are they counted, and the count stops at the limit.
    SELECT %(max_pending)s::int IS NULL
        OR fc.n = 0
        OR coalesce(u.fair_tail - op.oldest, 0) + fc.n <= %(max_pending)s::int
        OR (SELECT count(*) FROM (SELECT 1 FROM job_queue
                                   WHERE NOT claimed AND owner_id = %(owner_id)s
                                   LIMIT %(max_pending)s::int + 1) AS counted)
           + fc.n <= %(max_pending)s::int AS ok,
           u.fair_tail AS tail_seen,
           u.xmin::text AS version_seen
      FROM users u, owner_pending op, fresh_count fc
     WHERE u.id = %(owner_id)s
), owner_running AS (
    -- The owner's newest running key (one index probe); NULL when nothing runs.
    SELECT max(fair_key) AS newest
      FROM job_queue
     WHERE claimed AND owner_id = %(owner_id)s
), keys AS (
    -- Draw the batch's keys from the owner's counter. Invariant: every key an
    -- owner holds in job_queue, pending or running, is unique and below
    -- users.fair_tail (a claim, retry, release or reap moves a row between
    -- pending and running with its key, so both sets must stay disjoint).
    -- The counter's row lock serialises one owner's concurrent enqueues, and
    -- the update sees the latest counter (not this statement's snapshot), so
    -- their keys never overlap. With nothing of the owner's waiting, and no
    -- enqueue of theirs since the snapshot (the owner's row is the version the
    -- snapshot saw: a counter compared by value could have come back to the
    -- same number after a concurrent restart), the batch starts at the queue's
    -- head, for fairness, but after the owner's running jobs' keys, which stay
    -- theirs until those jobs finish.
    UPDATE users u
       SET fair_tail = CASE WHEN op.oldest IS NULL AND u.xmin::text = a.version_seen
                            THEN greatest(head.key, orun.newest + 1)
                            ELSE greatest(u.fair_tail, head.key) END + fc.n
      FROM head, owner_pending op, owner_running orun, fresh_count fc, allowed a
     WHERE u.id = %(owner_id)s AND a.ok AND fc.n > 0
    RETURNING u.fair_tail - fc.n AS start
), queued AS (
    INSERT INTO backtest_jobs
        (id, owner_id, bundle_id, dataset_id, priority, fair_key, config, config_hash,
         max_attempts, timeout_seconds)
    SELECT f.id, %(owner_id)s, %(bundle_id)s, f.dataset_id, %(priority)s,
           keys.start + f.seq - 1, f.config, f.config_hash,
           %(max_attempts)s, %(timeout_seconds)s
      FROM fresh f, keys
    RETURNING id, owner_id, priority, fair_key
), {_ENTER_QUEUE}, reused AS (
    INSERT INTO backtest_jobs
        (id, owner_id, bundle_id, dataset_id, priority, fair_key, config, config_hash,
         max_attempts, timeout_seconds, status, progress, reused_from, started_at, finished_at)
    SELECT n.id, %(owner_id)s, %(bundle_id)s, n.dataset_id, %(priority)s, 0, n.config, n.config_hash,
           %(max_attempts)s, %(timeout_seconds)s, 'succeeded', 1, n.source_id, now(), now()
      FROM n, allowed
     WHERE n.source_id IS NOT NULL AND allowed.ok
    RETURNING id, reused_from, config_hash, status
), {_COPY_REUSED_RESULTS}, {_log_finishes("reused")}
SELECT coalesce((SELECT a.ok FROM allowed a), false),
       (SELECT count(*) FROM queued) AS queued,
       ARRAY(SELECT r.id FROM reused r ORDER BY r.id) AS reused_ids,
       ARRAY(SELECT r.reused_from FROM reused r ORDER BY r.id) AS reused_sources
"""
)

#: Single-job submits of possibly many owners in one statement (the API batches
#: concurrent submits: one statement costs the database as much as eight jobs
#: enqueued together). Each job is its own request: it is queued, answered by
#: reuse, or refused as over its owner's ``max_pending`` (status 'limited',
#: nothing written for it), whatever happens to the others. Fair keys as in
#: ENQUEUE, per owner; the owners' counters are locked in id order first, so
#: two batches locking the same owners cannot deadlock.
ENQUEUE_EACH: Final = _compact(
    f"""
WITH n AS (
    SELECT u.*
      FROM unnest(%(ids)b::uuid[], %(owner_ids)b::uuid[], %(dataset_ids)b::uuid[], %(configs)b::json[],
                  %(config_hashes)b::text[], %(priorities)b::int[], %(max_attempts)b::int[],
                  %(timeouts)b::int[], %(max_pendings)b::int[], %(reuses)b::bool[])
           WITH ORDINALITY AS u(id, owner_id, dataset_id, config, config_hash, priority, max_attempts,
                                timeout_seconds, max_pending, reuse, ord)
), source AS (
    SELECT h.config_hash, {_RESULT_FOR_HASH} AS id
      FROM (SELECT DISTINCT n.config_hash FROM n WHERE n.reuse) h
), j AS (
    SELECT n.*, source.id AS source_id
      FROM n LEFT JOIN source ON n.reuse AND source.config_hash = n.config_hash
), fresh AS (
    SELECT j.*, row_number() OVER (PARTITION BY j.owner_id ORDER BY j.ord) AS nth
      FROM j WHERE j.source_id IS NULL
), locked AS (
    SELECT u.id FROM users u
     WHERE u.id = ANY(ARRAY(SELECT f.owner_id FROM fresh f))
     ORDER BY u.id
       FOR NO KEY UPDATE
), {_QUEUE_HEAD}, owners AS (
    -- Per owner, as of this statement's snapshot: jobs wanted, their counter and oldest waiting key.
    SELECT f.owner_id, count(*) AS wanted, min(f.max_pending) AS max_pending, u.fair_tail AS tail_seen,
           u.xmin::text AS version_seen,
           (SELECT min(p.fair_key) FROM job_queue p
             WHERE NOT p.claimed AND p.owner_id = f.owner_id) AS oldest,
           (SELECT max(c.fair_key) FROM job_queue c
             WHERE c.claimed AND c.owner_id = f.owner_id) AS newest_running
      FROM fresh f JOIN users u ON u.id = f.owner_id
     GROUP BY f.owner_id, u.fair_tail, u.xmin
), room AS (
    -- How many of each owner's jobs fit under their limit (bounded as in ENQUEUE).
    SELECT o.*,
           CASE WHEN o.max_pending IS NULL
                  OR coalesce(o.tail_seen - o.oldest, 0) + o.wanted <= o.max_pending THEN o.wanted
                ELSE greatest(0, least(o.wanted, o.max_pending - (
                    SELECT count(*) FROM (SELECT 1 FROM job_queue p
                                           WHERE NOT p.claimed AND p.owner_id = o.owner_id
                                           LIMIT o.max_pending + 1) AS counted)))
           END AS admitted
      FROM owners o
), keys AS (
    UPDATE users u
       -- Keys as in ENQUEUE, with the same invariant: unique per owner across
       -- pending and running rows, all below fair_tail.
       SET fair_tail = CASE WHEN r.oldest IS NULL AND u.xmin::text = r.version_seen
                            THEN greatest(head.key, r.newest_running + 1)
                            ELSE greatest(u.fair_tail, head.key) END + r.admitted
      FROM room r, head, locked l
     WHERE u.id = r.owner_id AND l.id = r.owner_id AND r.admitted > 0
    RETURNING u.id AS owner_id, u.fair_tail - r.admitted AS start
), queued AS (
    INSERT INTO backtest_jobs
        (id, owner_id, dataset_id, priority, fair_key, config, config_hash, max_attempts, timeout_seconds)
    SELECT f.id, f.owner_id, f.dataset_id, f.priority, k.start + f.nth - 1, f.config, f.config_hash,
           f.max_attempts, f.timeout_seconds
      FROM fresh f
      JOIN keys k ON k.owner_id = f.owner_id
      JOIN room r ON r.owner_id = f.owner_id
     WHERE f.nth <= r.admitted
    RETURNING id, owner_id, priority, fair_key
), {_ENTER_QUEUE}, reused AS (
    INSERT INTO backtest_jobs
        (id, owner_id, dataset_id, priority, fair_key, config, config_hash, max_attempts, timeout_seconds,
         status, progress, reused_from, started_at, finished_at)
    SELECT j.id, j.owner_id, j.dataset_id, j.priority, 0, j.config, j.config_hash, j.max_attempts,
           j.timeout_seconds, 'succeeded', 1, j.source_id, now(), now()
      FROM j
     WHERE j.source_id IS NOT NULL
    RETURNING id, reused_from, config_hash, status
), {_COPY_REUSED_RESULTS}, {_log_finishes("reused")}
SELECT j.id,
       CASE WHEN j.source_id IS NOT NULL THEN 'reused' WHEN q.id IS NOT NULL THEN 'queued' ELSE 'limited' END,
       j.source_id
  FROM j LEFT JOIN queued q ON q.id = j.id
 ORDER BY j.ord
"""
)

INSERT_BUNDLE: Final = """
INSERT INTO bundles (id, owner_id, name, rank_by, total_jobs, request)
VALUES (%(id)s, %(owner_id)s, %(name)s, %(rank_by)s, %(total_jobs)s, %(request)s::jsonb)
"""

# Claiming, as CTEs shared by CLAIM and COMPLETE_AND_CLAIM; ``claimed`` holds the result.
_CLAIM_CTES: Final = """
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
              j.dataset_id, j.config::text, j.timeout_seconds
), taken AS (
    UPDATE job_queue SET claimed = true WHERE ctid = ANY(ARRAY(SELECT queue_row FROM chosen))
)"""

_CLAIMED_COLUMNS: Final = (
    "c.id, c.lease_token, c.attempts, c.max_attempts, c.owner_id, c.bundle_id, c.dataset_id, c.config, "
    "c.timeout_seconds"
)

CLAIM: Final = _compact(f"WITH {_CLAIM_CTES}\nSELECT {_CLAIMED_COLUMNS} FROM claimed c")

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
#: waited for this statement to end before it could complete it (13 % of backend
#: time in Lock:transactionid at batches of 100 in 2 processes, 0.9 % after).
COMPLETE_AND_CLAIM: Final = _compact(
    f"""
WITH {_COMPLETE_CTES}, {_CLAIM_CTES}
SELECT 'claimed' AS kind, c.id, NULL::text AS status, c.lease_token, c.attempts, c.max_attempts, c.owner_id,
       c.bundle_id, c.dataset_id, c.config, c.timeout_seconds
  FROM claimed c
UNION ALL
SELECT 'finished', f.id, f.status, NULL, NULL, NULL, NULL, f.bundle_id, NULL, NULL, NULL
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

REAP_EXPIRED: Final = _compact(
    f"""
WITH expired AS (
    SELECT j.id
      FROM job_queue q
      JOIN backtest_jobs j ON j.id = q.job_id
     WHERE q.claimed AND j.status = 'running' AND j.lease_expires_at < now()
     ORDER BY j.lease_expires_at
     LIMIT %(limit)s
       FOR UPDATE OF j SKIP LOCKED
), reaped AS (
UPDATE backtest_jobs j
   SET status = CASE WHEN {_CANCEL_WINS} THEN 'cancelled'
                     WHEN {_RETRY} THEN 'pending'
                     ELSE 'failed' END,
       error = CASE WHEN {_CANCEL_WINS} THEN j.error
                    WHEN {_RETRY}
                    THEN 'worker lost: lease expired during attempt ' || j.attempts || ', retrying'
                    ELSE 'worker lost: lease expired during the last of ' || j.max_attempts
                         || ' attempts' END,
       run_after = CASE WHEN {_RETRY} AND NOT {_CANCEL_WINS}
                        THEN now() + {_BACKOFF_SECONDS} * interval '1 second'
                        ELSE j.run_after END,
       finished_at = CASE WHEN {_CANCEL_WINS} OR NOT {_RETRY}
                          THEN now() END,
       lease_expires_at = NULL
  FROM expired
 WHERE j.id = expired.id
RETURNING j.id, j.status, j.bundle_id, j.owner_id, j.fair_key, j.run_after
), {_settle_queue("reaped")}, {_log_finishes("reaped")}
SELECT id, status, bundle_id FROM reaped
"""
)

_CANCEL_TEMPLATE: Final = f"""
WITH targets AS (
    SELECT j.id, j.owner_id, j.fair_key, j.status
      FROM backtest_jobs j
     WHERE {{selector}}
       AND j.status IN ('pending', 'running')
       AND (%(owner_id)s::uuid IS NULL OR j.owner_id = %(owner_id)s::uuid)
), dequeued AS (
    -- Pending jobs leave the queue, before any job row is locked (see "Lock
    -- order"): the update below needs this list for its first row. A job a
    -- worker claimed meanwhile keeps its (now claimed) queue row and is flagged.
    DELETE FROM job_queue q
     WHERE q.ctid = ANY({_queue_rows("targets", False, "s.status = 'pending'")}) AND {_STILL_WAITING}
    RETURNING q.job_id
), cancelled AS (
    UPDATE backtest_jobs j
       SET cancel_requested = true,
           status = CASE WHEN j.id = ANY(ARRAY(SELECT job_id FROM dequeued)) THEN 'cancelled' ELSE j.status END,
           finished_at = CASE WHEN j.id = ANY(ARRAY(SELECT job_id FROM dequeued)) THEN now() ELSE j.finished_at END
     WHERE j.id = ANY(ARRAY(SELECT id FROM targets)) AND j.status IN ('pending', 'running')
    RETURNING j.id, j.status, j.bundle_id
), {_log_finishes("cancelled")}
SELECT id, status, bundle_id FROM cancelled
"""

CANCEL_JOBS: Final = _CANCEL_TEMPLATE.replace("{selector}", "j.id = ANY(%(ids)b::uuid[])")
CANCEL_BUNDLE: Final = _CANCEL_TEMPLATE.replace("{selector}", "j.bundle_id = %(bundle_id)s")

#: The queue's notifications in one statement of their own, sent right after the
#: changes they announce committed. ``finished`` holds payloads of space-separated
#: job and bundle ids (up to 100 ids each, well under the 8,000-byte limit);
#: ``cancel`` holds job ids.
NOTIFY: Final = """
SELECT CASE WHEN %(pending)s THEN pg_notify('backtest_jobs_pending', '') END,
       (SELECT count(pg_notify('backtest_jobs_finished', k)) FROM unnest(%(finished)b::text[]) AS k),
       (SELECT count(pg_notify('backtest_jobs_cancel', k)) FROM unnest(%(cancel)b::text[]) AS k)
"""

GET_JOB: Final = """
SELECT id, owner_id, bundle_id, dataset_id, priority, config, config_hash, status, attempts,
       max_attempts, timeout_seconds, run_after, worker_id, lease_token, lease_expires_at,
       progress, cancel_requested, error, reused_from, created_at, started_at, finished_at
  FROM backtest_jobs
 WHERE id = %(id)s
"""

#: A job's result: metrics, then the curve and the trades as JSON (rows written
#: before migration 0011) or as compact ``detail`` (later rows).
GET_RESULT: Final = """
SELECT r.metrics, r.equity_curve, r.trades, r.detail
  FROM backtest_jobs j
  JOIN job_results r ON r.config_hash = j.config_hash AND r.job_id = j.id
 WHERE j.id = %(id)s
"""

#: Every job ever, by status and priority: a scan of the whole history, for
#: tests and audits (statistics use QUEUE_DEPTH and QUEUE_STATS).
COUNT_BY_STATUS: Final = """
SELECT status, priority, count(*) AS jobs FROM backtest_jobs GROUP BY status, priority
"""

#: Pending and running jobs by priority: the queue table, never the history.
QUEUE_DEPTH: Final = """
SELECT CASE WHEN claimed THEN 'running' ELSE 'pending' END AS status, priority, count(*) AS jobs
  FROM job_queue
 GROUP BY 1, 2
"""

#: How long the longest-waiting claimable job has waited (since its enqueue, or
#: since its retry fell due; NULL when none waits), and the jobs that reached
#: each final state in the last minute. Reads the queue table and the finish
#: log only: counting in ``backtest_jobs`` scanned the whole history.
QUEUE_STATS: Final = """
SELECT (SELECT extract(epoch FROM now() - min(q.run_after))::float8
          FROM job_queue q
         WHERE NOT q.claimed AND q.run_after <= now()) AS oldest_pending_seconds,
       coalesce(sum(l.succeeded), 0)::int AS succeeded,
       coalesce(sum(l.failed), 0)::int AS failed,
       coalesce(sum(l.cancelled), 0)::int AS cancelled
  FROM job_finish_log l
 WHERE l.finished_at > now() - interval '60 seconds'
"""

#: p50, p90 and p99 run time (seconds) of the jobs that succeeded in the last
#: five minutes after running (reused results took no time); NULL when none did.
#: Over the latest 1,000 finishing statements at most (up to 100,000 jobs): all
#: of five busy minutes were millions of values to sort (0.5 s).
RECENT_RUN_SECONDS: Final = """
SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY r.seconds)
  FROM (SELECT run_seconds FROM job_finish_log
         WHERE finished_at > now() - interval '5 minutes' AND cardinality(run_seconds) > 0
         ORDER BY finished_at DESC
         LIMIT 1000) AS l,
       unnest(l.run_seconds) AS r(seconds)
"""

#: The finish log keeps what the statistics read, with room to spare.
PRUNE_FINISH_LOG: Final = """
DELETE FROM job_finish_log WHERE finished_at < now() - %(keep_seconds)s * interval '1 second'
"""

#: Retention: delete up to %(batch)s jobs that reached a final state more than
#: %(keep_seconds)s ago (their results go with them, by trigger), oldest first.
#: ``backtest_jobs`` has no index on ``status`` or ``finished_at`` and must not
#: get one: claims and completions change both, and an index on them would make
#: those updates non-HOT (PostgreSQL 15 counts even a BRIN index). Candidates
#: are found through the owners' (owner_id, created_at) index instead: a job
#: finishes after it is created, so every prunable job was also created before
#: the cutoff, and each owner's oldest jobs come first. The scan passes over
#: old jobs that are not prunable (still waiting or running, or finished
#: recently), which are few. Rows a claim, cancel or completion holds are
#: skipped, and the conditions are checked again on the locked version, so a
#: pruned job was final and old when it went. Datasets are never touched.
PRUNE_FINISHED_JOBS: Final = """
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
"""

#: Retention: delete up to %(batch)s bundles created more than %(keep_seconds)s
#: ago that have no job left (pruned by PRUNE_FINISHED_JOBS); a bundle's jobs
#: are inserted with it, so an old bundle never gains jobs again.
PRUNE_EMPTY_BUNDLES: Final = """
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
"""

REGISTER_WORKER: Final = """
INSERT INTO workers (id, name, host, pid, version, slots)
VALUES (%(id)s, %(name)s, %(host)s, %(pid)s, %(version)s, %(slots)s)
"""

DEREGISTER_WORKER: Final = """
UPDATE workers SET stopped_at = now(), heartbeat_at = now() WHERE id = %(id)s
"""

#: Workers seen in the last day, with their running jobs counted in one pass
#: over the running set (a count per worker read it once per worker).
LIST_WORKERS: Final = """
WITH running AS (
    SELECT j.worker_id, count(*) AS jobs
      FROM job_queue q JOIN backtest_jobs j ON j.id = q.job_id
     WHERE q.claimed
     GROUP BY j.worker_id
)
SELECT w.id, w.name, w.host, w.pid, w.version, w.slots, w.started_at, w.heartbeat_at,
       w.stopped_at,
       CASE WHEN w.stopped_at IS NOT NULL THEN 'stopped'
            WHEN w.heartbeat_at < now() - %(dead_after_seconds)s * interval '1 second' THEN 'dead'
            WHEN w.degraded IS NOT NULL THEN 'degraded'
            ELSE 'alive' END AS state,
       w.degraded,
       coalesce(r.jobs, 0) AS running_jobs
  FROM workers w
  LEFT JOIN running r ON r.worker_id = w.id
 WHERE w.stopped_at IS NULL OR w.stopped_at > now() - interval '1 day'
 ORDER BY w.started_at DESC
"""

TRY_REAPER_LOCK: Final = "SELECT pg_try_advisory_lock(%(key)s)"

#: Restore the fair-key invariant (see ENQUEUE, ``keys``) on a queue that lost it:
#: each pending row whose key one of its owner's running rows also holds moves to
#: a fresh key past everything the owner holds, and every owner's counter is
#: raised above all its keys. Such clashes stop claims (a claimed row would
#: duplicate a running one's key) and reaps (the reverse). Idempotent; changes
#: nothing on a healthy queue. Run inside a transaction that first takes
#: ``LOCK_FOR_REPAIR``, so that no enqueue draws keys meanwhile.
REPAIR_FAIR_KEYS: Final = """
WITH clashing AS (
    SELECT p.job_id, p.owner_id,
           row_number() OVER (PARTITION BY p.owner_id ORDER BY p.fair_key, p.job_id) AS nth
      FROM job_queue p
     WHERE NOT p.claimed
       AND EXISTS (SELECT 1 FROM job_queue c
                    WHERE c.claimed AND c.owner_id = p.owner_id AND c.fair_key = p.fair_key)
), tails AS (
    -- Where each owner's fresh keys start: past its counter and every key it holds.
    SELECT u.id AS owner_id,
           greatest(u.fair_tail,
                    (SELECT max(q.fair_key) + 1 FROM job_queue q WHERE q.owner_id = u.id)) AS start,
           (SELECT count(*) FROM clashing c WHERE c.owner_id = u.id) AS moved
      FROM users u
), rekeyed AS (
    UPDATE job_queue q
       SET fair_key = t.start + c.nth - 1
      FROM clashing c
      JOIN tails t ON t.owner_id = c.owner_id
     WHERE q.job_id = c.job_id AND NOT q.claimed
    RETURNING q.job_id, q.fair_key
), jobs AS (
    UPDATE backtest_jobs j
       SET fair_key = r.fair_key
      FROM rekeyed r
     WHERE j.id = r.job_id
), counters AS (
    UPDATE users u
       SET fair_tail = t.start + t.moved
      FROM tails t
     WHERE u.id = t.owner_id AND u.fair_tail <> t.start + t.moved
    RETURNING u.id
)
SELECT (SELECT count(*) FROM rekeyed) AS rekeyed_jobs, (SELECT count(*) FROM counters) AS raised_counters
"""

#: Taken by the transaction running REPAIR_FAIR_KEYS: enqueues (which update
#: their owner's counter) wait for it; claims and completions do not.
LOCK_FOR_REPAIR: Final = "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"
