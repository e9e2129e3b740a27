"""The job lifecycle, declared once: its states, its transitions and their rules.

::

    pending ──claim──▶ running ──complete──▶ succeeded
       ▲                  │ ├───fail (last attempt)──▶ failed
       │                  │ └───cancel requested─────▶ cancelled
       └─retry, release, reap (attempts left)─┘
    pending ──cancel──▶ cancelled
    (submit) ──identical result stored──▶ succeeded   (reuse: no run)

The SQL in ``queue_sql`` implements exactly these transitions, each as one
statement; ``TRANSITIONS`` is what the model-based tests check every observed
change of status against, and what the API documents as the status enum.
"""

from __future__ import annotations

import enum
from typing import Final


class JobStatus(enum.StrEnum):
    """Where a job is in its life; a job is in exactly one of these."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """A final job never changes status again."""
        return self in FINAL_STATUSES


class Transition(enum.StrEnum):
    """The events that move a job between states."""

    SUBMIT = "submit"
    REUSE = "reuse"
    CLAIM = "claim"
    COMPLETE = "complete"
    FAIL = "fail"
    RETRY = "retry"
    RELEASE = "release"
    REAP = "reap"
    CANCEL = "cancel"


FINAL_STATUSES: Final = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

#: Every allowed change of status, and the events that cause it. ``None`` is
#: "not yet stored" (a submit creates the job).
TRANSITIONS: Final[dict[tuple[JobStatus | None, JobStatus], frozenset[Transition]]] = {
    (None, JobStatus.PENDING): frozenset({Transition.SUBMIT}),
    (None, JobStatus.SUCCEEDED): frozenset({Transition.REUSE}),
    (JobStatus.PENDING, JobStatus.RUNNING): frozenset({Transition.CLAIM}),
    (JobStatus.PENDING, JobStatus.CANCELLED): frozenset({Transition.CANCEL}),
    (JobStatus.RUNNING, JobStatus.SUCCEEDED): frozenset({Transition.COMPLETE}),
    (JobStatus.RUNNING, JobStatus.FAILED): frozenset({Transition.FAIL, Transition.REAP}),
    # A running job asked to stop ends 'cancelled' at its next write, whatever that write is.
    (JobStatus.RUNNING, JobStatus.CANCELLED): frozenset(
        {Transition.COMPLETE, Transition.FAIL, Transition.RELEASE, Transition.REAP}
    ),
    (JobStatus.RUNNING, JobStatus.PENDING): frozenset({Transition.RETRY, Transition.RELEASE, Transition.REAP}),
}


def allowed(before: JobStatus | None, after: JobStatus) -> bool:
    """Whether a job may go from ``before`` to ``after`` in one statement."""
    return before == after or (before, after) in TRANSITIONS


def may_retry(attempts: int, max_attempts: int) -> bool:
    """A failed or lost attempt is retried while attempts remain.

    The SQL states the same rule as ``attempts < max_attempts`` (``RETRY_SQL``).
    """
    return attempts < max_attempts


#: ``may_retry`` as the queue's statements state it, over a job row ``j``.
RETRY_SQL: Final = "j.attempts < j.max_attempts"

#: A cancel request wins over every other outcome of the attempt it interrupts:
#: the statement that ends that attempt sets 'cancelled' whatever it was
#: about to set, as the queue's statements state it over a job row ``j``.
CANCEL_WINS_SQL: Final = "j.cancel_requested"
