"""``migrations.pex prune --older-than AGE``: old finished jobs go, batch after batch; nothing else does."""

from __future__ import annotations

import uuid

import pytest

from backtest_migrations.cli import main as cli_main
from backtest_migrations.prune import parse_age
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import outcome_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from backtest_testing.seed import table_rows


async def test_prune_deletes_old_finished_jobs_in_batches_and_keeps_the_rest(
    queue: JobQueue, pool, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    ids = await queue.enqueue(user, [job_for(dataset)] * 7)
    jobs = await queue.claim(uuid.uuid4(), 6)
    await queue.complete([outcome_for(job) for job in jobs[:5]])
    async with pool.connection() as conn:
        # Five finished 40 days ago, one running and one pending since then.
        await conn.execute(
            "UPDATE backtest_jobs SET created_at = now() - interval '41 days',"
            " finished_at = CASE WHEN finished_at IS NOT NULL THEN now() - interval '40 days' END"
        )

    assert cli_main(["--database-url", database_url, "prune", "--older-than", "30d", "--batch", "2"]) == 0

    assert "pruned: 5 finished jobs" in capsys.readouterr().out
    assert await table_rows(pool, "backtest_jobs") == 2
    assert await table_rows(pool, "job_results") == 0
    assert await table_rows(pool, "datasets") == 1
    kept = [await queue.get(job_id) for job_id in ids[5:]]
    assert [state.status if state else None for state in kept] == ["running", "pending"]


async def test_prune_keeps_jobs_younger_than_the_age(queue: JobQueue, pool, database_url: str) -> None:
    user = await seed_user(pool)
    await queue.enqueue(user, [job_for(await seed_dataset(pool, user))])
    [job] = await queue.claim(uuid.uuid4(), 1)
    await queue.complete([outcome_for(job)])
    assert cli_main(["--database-url", database_url, "prune", "--older-than", "1h"]) == 0
    assert await table_rows(pool, "backtest_jobs") == 1


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400.0), ("12h", 43200.0), ("90m", 5400.0), ("2", 172800.0)]
)
def test_ages_are_read_with_their_unit(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["0d", "-3d", "30x", "", "forever"])
def test_a_bad_age_is_refused_with_a_message(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli_main(["--database-url", "postgresql://unused/x", "prune", "--older-than", text])
    assert exit_.value.code == 2
    assert "--older-than" in capsys.readouterr().err
