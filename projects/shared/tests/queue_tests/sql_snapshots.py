"""Write every queue statement's complete text to ``sql/<NAME>.sql``, the snapshots the tests compare against.

Run after changing a statement, and review the diff of the snapshots with it::

    ./pants run projects/shared/tests/queue_tests/sql_snapshots.py
"""

from __future__ import annotations

from pathlib import Path

from backtest_shared.jobs import queue_sql

#: Where the snapshots live, relative to the repository root (``pants run``'s working directory).
SNAPSHOT_DIR = Path("projects/shared/tests/queue_tests/sql")


def snapshot_text(statement: str) -> str:
    return statement.rstrip() + "\n"


def main() -> None:
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    wanted = queue_sql.statements()
    for stale in SNAPSHOT_DIR.glob("*.sql"):
        if stale.stem not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        (SNAPSHOT_DIR / f"{name}.sql").write_text(snapshot_text(text))
    print(f"wrote {len(wanted)} statements to {SNAPSHOT_DIR}/")


if __name__ == "__main__":
    main()
