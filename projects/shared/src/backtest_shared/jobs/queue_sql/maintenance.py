"""Upkeep: retention, worker registration, the reaper's lock and the fair-key repair."""

from __future__ import annotations

from typing import Final

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

#: pg_try_advisory_lock key held by the one active reaper (any bigint works;
#: this is "backtest" in ASCII).
REAPER_LOCK_KEY: Final = 0x6261636B74657374

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
