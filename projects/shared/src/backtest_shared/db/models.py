"""The platform's tables, declared once; Alembic migrations must match them.

The hot queue table ``backtest_jobs`` is deliberately narrow: every claim,
heartbeat and progress update writes a new row version, so large payloads
(results, market data) live in their own tables and are written once. That keeps
the queue's heap and indexes small, its updates cheap and vacuum quick.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import CheckConstraint
from sqlalchemy import Column
from sqlalchemy import DateTime
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import Sequence
from sqlalchemy import SmallInteger
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

#: Every claim draws a fresh fencing token from this sequence.
LEASE_TOKEN_SEQUENCE = Sequence("backtest_jobs_lease_token_seq", metadata=None)


def _now() -> Any:
    return text("now()")


class Base(DeclarativeBase):
    """Declarative base carrying the platform's metadata."""


LEASE_TOKEN_SEQUENCE.metadata = Base.metadata


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'admin')", name="users_role_check"),
        # Users with a running cap: every claim asks whether any exists (one probe
        # of this usually empty index instead of a scan of all users).
        Index("users_capped_idx", "id", postgresql_where=text("max_running_jobs IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(Text, server_default=text("'user'"))
    #: Jobs of this user that may run at once (None: no cap).
    max_running_jobs: Mapped[int | None] = mapped_column(Integer)
    #: Jobs of this user that may wait at once (None: the platform default).
    max_pending_jobs: Mapped[int | None] = mapped_column(Integer)
    #: The next fair-queueing key for this user's jobs (see ``jobs.queue_sql``).
    fair_tail: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the secret; the secret itself is never stored.
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    #: The first characters of the key, to tell keys apart in listings.
    prefix: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Worker(Base):
    """The worker registry: one row per compute worker process."""

    __tablename__ = "workers"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(Text)
    slots: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    stopped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Why the worker is degraded (a loop failing on errors a retry cannot fix),
    #: as of its last heartbeat; NULL while healthy.
    degraded: Mapped[str | None] = mapped_column(Text)


class Dataset(Base):
    """Uploaded market data, stored as Parquet so every worker can load it."""

    __tablename__ = "datasets"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(Text)
    n_bars: Mapped[int] = mapped_column(Integer)
    first_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_timestamp: Mapped[int] = mapped_column(BigInteger)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    parquet: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class Bundle(Base):
    """A parameter sweep: one request that became many jobs."""

    __tablename__ = "bundles"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    rank_by: Mapped[str] = mapped_column(Text, server_default=text("'sharpe'"))
    total_jobs: Mapped[int] = mapped_column(Integer)
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class BacktestJob(Base):
    """One backtest: the row workers claim, lease and finish, and users read.

    ``status`` is the job's truth; ``job_queue`` holds the same job while it is
    pending or running, as the index the claim and the reaper scan.
    ``fair_key`` orders jobs of equal priority fairly between users (see
    ``backtest_shared.jobs.queue_sql``); ``lease_token`` fences every write of
    the worker that claimed the job, so a worker that lost its lease can no
    longer change it.
    """

    __tablename__ = "backtest_jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')",
            name="backtest_jobs_status_check",
        ),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="backtest_jobs_attempts_check"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="backtest_jobs_progress_check"),
        # Fenced writes recognise a running job by its lease (see queue_sql).
        CheckConstraint("(status = 'running') = (lease_expires_at IS NOT NULL)", name="backtest_jobs_lease_check"),
        # Listing a user's jobs, newest first, with keyset pagination.
        Index("backtest_jobs_owner_created_idx", "owner_id", text("created_at DESC"), text("id DESC")),
        Index("backtest_jobs_bundle_idx", "bundle_id", postgresql_where=text("bundle_id IS NOT NULL")),
        # Identical-request reuse looks up job_results by config hash: a partial
        # index here on succeeded jobs would make every completion a non-HOT update.
    )
    # No index names a column that a claim, heartbeat, progress report or
    # completion changes (status, lease, progress, times), so all of them are
    # HOT updates: no index writes. The pending and running sets live in
    # ``job_queue``. The migration also sets fillfactor = 50, which leaves room
    # on each page for the new row versions. SQLAlchemy has no table option for
    # storage parameters.

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    #: No foreign keys to users and bundles: a bulk enqueue would pay a per-row
    #: check for each, and the enqueue itself guarantees both (it locks and
    #: updates the owner's row; a bundle's row is inserted in the same
    #: transaction). Deleting a user or a bundle deletes its jobs by trigger
    #: (migration 0007).
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    bundle_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: Not indexed: only the rare dataset deletion searches by it.
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"))
    priority: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    fair_key: Mapped[int] = mapped_column(BigInteger)
    #: ``json``, not ``jsonb``: written once, read whole by every claim (migration 0005).
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    config_hash: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    max_attempts: Mapped[int] = mapped_column(Integer, server_default=text("3"))
    timeout_seconds: Mapped[int] = mapped_column(Integer, server_default=text("3600"))
    run_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    worker_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    lease_token: Mapped[int | None] = mapped_column(BigInteger)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[float] = mapped_column(Float, server_default=text("0"))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    error: Mapped[str | None] = mapped_column(Text)
    #: When set, the job was answered from this earlier job's identical result.
    reused_from: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


#: The jobs that are pending or running, one narrow row each: the queue's indexes.
#:
#: A job enters with its enqueue, is marked ``claimed`` by the claim, leaves
#: when it reaches a final state and is unmarked when it goes back to pending
#: (retry, release, reaper), always in the same statement that changes its
#: status. Keeping these sets out of ``backtest_jobs``' indexes makes that
#: wide row's updates HOT; here a claim writes one index entry and a completion
#: none. A job is identified by (owner_id, fair_key): an owner's fair keys are
#: drawn from a counter and never repeat. No primary key, so that no index
#: covers both states: the claim's update would write an entry into it too.
#: Deleting jobs deletes their entries by trigger (migration 0007).
job_queue = Table(
    "job_queue",
    Base.metadata,
    Column("job_id", UUID(as_uuid=True), nullable=False),
    Column("owner_id", UUID(as_uuid=True), nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("fair_key", BigInteger, nullable=False),
    Column("run_after", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("claimed", Boolean, nullable=False, server_default=text("false")),
    # The claim order: workers take the head of this index.
    Index("job_queue_claim_idx", text("priority DESC"), "fair_key", postgresql_where=text("NOT claimed")),
    # An owner's waiting jobs: the fair-key tail, the pending limit, the claim's own lookup.
    Index("job_queue_pending_idx", "owner_id", "fair_key", unique=True, postgresql_where=text("NOT claimed")),
    # An owner's running jobs: per-user running caps, the reaper, finishing writes.
    Index("job_queue_claimed_idx", "owner_id", "fair_key", unique=True, postgresql_where=text("claimed")),
)


#: One row per statement that brought jobs to a final state: how many of each
#: final status, and the run times (seconds) of the succeeded jobs that ran
#: (reused ones did not). Queue statistics and metrics read the last minutes of
#: it; counting finished jobs in ``backtest_jobs`` instead scanned the whole
#: history on every scrape (no index may name ``finished_at`` or ``status``
#: there, or completions stop being HOT updates). The reaper keeps 15 minutes:
#: a busy queue logs a row per claim round.
job_finish_log = Table(
    "job_finish_log",
    Base.metadata,
    Column("finished_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("succeeded", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("cancelled", Integer, nullable=False),
    Column("run_seconds", ARRAY(Float), nullable=False),
    Index("job_finish_log_finished_idx", "finished_at"),
)


class JobResult(Base):
    """A finished job's result, written once in the transaction that finishes it.

    The metrics are ``jsonb`` (bundles rank and filter by them in SQL). The
    equity curve and the trades are ``detail``: column buffers compressed once by
    the backtest process (``backtest_shared.results``, migration 0011), far
    smaller than their JSON text, and nothing in SQL reads inside them. Rows written
    before hold them as ``json`` text instead (lz4-compressed where the server
    has it, migration 0009); readers accept both forms.
    """

    __tablename__ = "job_results"
    __table_args__ = (
        CheckConstraint(
            "detail IS NOT NULL OR (equity_curve IS NOT NULL AND trades IS NOT NULL)", name="job_results_one_form"
        ),
    )

    #: The job's ``config_hash`` leads the primary key: identical requests find a
    #: stored result in one probe of it, without an index of their own (and the
    #: job's queries join on both columns). Migration 0007.
    config_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    #: No foreign key: only the statement that finishes a job writes its result, so
    #: the job exists by construction, and the key's per-row check would slow down
    #: that hot statement. A trigger (migration 0002) deletes results with their jobs.
    job_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: Rows written before migration 0011 hold the curve and the trades as JSON;
    #: later rows hold ``detail`` instead (``backtest_shared.results``), never both NULL.
    equity_curve: Mapped[list[Any] | None] = mapped_column(JSON)
    trades: Mapped[list[Any] | None] = mapped_column(JSON)
    detail: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class IdempotencyRecord(Base):
    """The first response to a POST carrying an ``Idempotency-Key``."""

    __tablename__ = "idempotency_records"
    # The API purges records past their retention period, oldest first.
    __table_args__ = (Index("idempotency_records_created_idx", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response_body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
