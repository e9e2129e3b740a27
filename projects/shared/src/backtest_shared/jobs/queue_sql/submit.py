"""Submitting: jobs and bundles enter the queue (or are answered from a stored result)."""

from __future__ import annotations

from typing import Final

from backtest_shared.jobs.queue_sql.fragments import _compact
from backtest_shared.jobs.queue_sql.fragments import _log_finishes

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
