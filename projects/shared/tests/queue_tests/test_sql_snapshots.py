"""Every queue statement equals its checked-in snapshot, so any change to one shows as a diff in review.

The statements are composed from shared parts in ``queue_sql``; a snapshot is
the complete text PostgreSQL runs (before comments and layout are squeezed out),
one file per statement in ``sql/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backtest_shared.jobs import queue_sql
from queue_tests.sql_snapshots import snapshot_text

SNAPSHOTS = Path(__file__).parent / "sql"
REGENERATE = "./pants run projects/shared/tests/queue_tests/sql_snapshots.py"


@pytest.mark.parametrize("name", sorted(queue_sql.statements()))
def test_the_statement_equals_its_snapshot(name: str) -> None:
    snapshot = SNAPSHOTS / f"{name}.sql"
    assert snapshot.exists(), f"no snapshot of {name}: run {REGENERATE}"
    assert (
        snapshot_text(queue_sql.statements()[name]) == snapshot.read_text()
    ), f"{name} changed: run {REGENERATE} and review the snapshot's diff"


def test_every_snapshot_belongs_to_a_statement() -> None:
    assert {path.stem for path in SNAPSHOTS.glob("*.sql")} == set(queue_sql.statements())


def test_a_compacted_statement_is_its_snapshot_without_comments_and_layout() -> None:
    for name, text in queue_sql.statements().items():
        sent = getattr(queue_sql, name)
        if sent.strip() != text:
            assert sent == re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", text)).strip(), name
