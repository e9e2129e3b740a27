"""The parts the queue's statements share, and the registry of their readable texts.

Each part states one rule of the queue once (which queue rows a job owns,
how a finish is logged, when an attempt is retried or a cancel wins), so that
every statement applying the rule applies it the same way.
"""

from __future__ import annotations

import re
from typing import Final

from backtest_shared.jobs import lifecycle

#: Each compacted statement's complete text with its comments, as written in its module:
#: what ``readable`` returns, and what the checked-in snapshots hold.
_READABLE: dict[str, str] = {}


def _compact(sql: str) -> str:
    """The statement without comments and runs of whitespace.

    psycopg caches the parsing of a query's ``%(name)s`` placeholders only for
    queries up to 4,096 bytes; a longer one would be parsed again on every
    execution, and the enqueue statements run on every submit.
    """
    compact = re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", sql)).strip()
    _READABLE[compact] = sql.strip()
    return compact


def readable(statement: str) -> str:
    """The complete text of a statement of ``queue_sql``, with its comments and layout."""
    return _READABLE.get(statement, statement).strip()


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
