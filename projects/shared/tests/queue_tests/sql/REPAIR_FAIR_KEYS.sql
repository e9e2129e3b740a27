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
