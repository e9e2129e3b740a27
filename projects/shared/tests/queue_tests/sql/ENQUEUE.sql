WITH source AS (
    SELECT h.config_hash, (SELECT r.job_id FROM job_results r WHERE r.config_hash = h.config_hash LIMIT 1) AS id
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
), 
head AS (
    SELECT coalesce(
        (SELECT fair_key FROM job_queue
          WHERE NOT claimed
          ORDER BY priority DESC, fair_key
          LIMIT 1),
        (SELECT max(fair_key) FROM job_queue WHERE claimed),
        0) AS key
), owner_pending AS (
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
), 
entered AS (
    INSERT INTO job_queue (job_id, owner_id, priority, fair_key)
    SELECT id, owner_id, priority, fair_key FROM queued
), reused AS (
    INSERT INTO backtest_jobs
        (id, owner_id, bundle_id, dataset_id, priority, fair_key, config, config_hash,
         max_attempts, timeout_seconds, status, progress, reused_from, started_at, finished_at)
    SELECT n.id, %(owner_id)s, %(bundle_id)s, n.dataset_id, %(priority)s, 0, n.config, n.config_hash,
           %(max_attempts)s, %(timeout_seconds)s, 'succeeded', 1, n.source_id, now(), now()
      FROM n, allowed
     WHERE n.source_id IS NOT NULL AND allowed.ok
    RETURNING id, reused_from, config_hash, status
), 
copied AS (
    INSERT INTO job_results (config_hash, job_id, metrics, equity_curve, trades, detail)
    SELECT jr.config_hash, r.id, jr.metrics, jr.equity_curve, jr.trades, jr.detail
      FROM reused r
      JOIN job_results jr ON jr.config_hash = r.config_hash AND jr.job_id = r.reused_from
), 
logged AS (
    INSERT INTO job_finish_log (succeeded, failed, cancelled, run_seconds)
    SELECT count(*) FILTER (WHERE s.status = 'succeeded'), count(*) FILTER (WHERE s.status = 'failed'),
           count(*) FILTER (WHERE s.status = 'cancelled'), '{}'
      FROM reused s
    HAVING count(*) FILTER (WHERE s.status IN ('succeeded', 'failed', 'cancelled')) > 0
)
SELECT coalesce((SELECT a.ok FROM allowed a), false),
       (SELECT count(*) FROM queued) AS queued,
       ARRAY(SELECT r.id FROM reused r ORDER BY r.id) AS reused_ids,
       ARRAY(SELECT r.reused_from FROM reused r ORDER BY r.id) AS reused_sources
