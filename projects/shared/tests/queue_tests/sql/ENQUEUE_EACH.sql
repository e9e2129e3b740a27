WITH n AS (
    SELECT u.*
      FROM unnest(%(ids)b::uuid[], %(owner_ids)b::uuid[], %(dataset_ids)b::uuid[], %(configs)b::json[],
                  %(config_hashes)b::text[], %(priorities)b::int[], %(max_attempts)b::int[],
                  %(timeouts)b::int[], %(max_pendings)b::int[], %(reuses)b::bool[])
           WITH ORDINALITY AS u(id, owner_id, dataset_id, config, config_hash, priority, max_attempts,
                                timeout_seconds, max_pending, reuse, ord)
), source AS (
    SELECT h.config_hash, (SELECT r.job_id FROM job_results r WHERE r.config_hash = h.config_hash LIMIT 1) AS id
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
), 
head AS (
    SELECT coalesce(
        (SELECT fair_key FROM job_queue
          WHERE NOT claimed
          ORDER BY priority DESC, fair_key
          LIMIT 1),
        (SELECT max(fair_key) FROM job_queue WHERE claimed),
        0) AS key
), owners AS (
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
), 
entered AS (
    INSERT INTO job_queue (job_id, owner_id, priority, fair_key)
    SELECT id, owner_id, priority, fair_key FROM queued
), reused AS (
    INSERT INTO backtest_jobs
        (id, owner_id, dataset_id, priority, fair_key, config, config_hash, max_attempts, timeout_seconds,
         status, progress, reused_from, started_at, finished_at)
    SELECT j.id, j.owner_id, j.dataset_id, j.priority, 0, j.config, j.config_hash, j.max_attempts,
           j.timeout_seconds, 'succeeded', 1, j.source_id, now(), now()
      FROM j
     WHERE j.source_id IS NOT NULL
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
SELECT j.id,
       CASE WHEN j.source_id IS NOT NULL THEN 'reused' WHEN q.id IS NOT NULL THEN 'queued' ELSE 'limited' END,
       j.source_id
  FROM j LEFT JOIN queued q ON q.id = j.id
 ORDER BY j.ord
