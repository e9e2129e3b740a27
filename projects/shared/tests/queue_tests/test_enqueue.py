import uuid

import pytest

from backtest_shared.jobs.config import JobConfigError
from backtest_shared.jobs.config import decode_backtest_config
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import PendingLimitExceededError
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user


async def test_enqueued_job_is_pending_with_its_config_and_hash(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    job = job_for(dataset)

    [job_id] = await queue.enqueue(user, [job], priority=5)

    state = await queue.get(job_id)
    assert state is not None
    assert state.status == "pending"
    assert state.priority == 5
    assert state.attempts == 0
    assert state.config_hash == job.config_hash
    assert state.config["dataset_id"] == str(dataset.id)
    assert decode_backtest_config(state.config) == job.config


async def test_bulk_enqueue_inserts_ten_thousand_jobs_in_one_call(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    job = job_for(dataset)

    ids = await queue.enqueue(user, [job] * 10_000)

    assert len(set(ids)) == 10_000
    assert (await queue.counts_by_status()) == {"pending": 10_000}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"strategy": {}}, "dataset_id"),
        ({"dataset_id": "not-a-uuid", "strategy": {}}, "dataset_id"),
        ({"dataset_id": str(uuid.uuid4())}, "strategy"),
        ({"dataset_id": str(uuid.uuid4()), "strategy": {}, "extra": 1}, "extra"),
        ('{"dataset_id": ', "config"),
    ],
)
def test_invalid_config_is_refused_naming_the_field(raw: object, field: str) -> None:
    with pytest.raises(JobConfigError) as error:
        decode_backtest_config(raw)  # type: ignore[arg-type]
    assert error.value.field == field


def test_invalid_strategy_is_refused_naming_the_nested_field() -> None:
    with pytest.raises(JobConfigError) as error:
        decode_backtest_config(
            {
                "dataset_id": str(uuid.uuid4()),
                "strategy": {
                    "indicators": {"fast": {"kind": "sma", "period": 0}},
                    "entry": {"combine": "all", "conditions": []},
                },
            }
        )
    assert error.value.field.startswith("strategy.")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"priority": 1000}, "priority"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
    ],
)
async def test_invalid_job_options_write_nothing(queue: JobQueue, pool, options: dict, field: str) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)

    with pytest.raises(JobConfigError) as error:
        await queue.enqueue(user, [job_for(dataset)], **options)

    assert error.value.field == field
    assert await queue.counts_by_status() == {}


async def test_batch_over_the_pending_limit_is_refused_whole(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await queue.enqueue(user, [job_for(dataset)] * 8, max_pending=10)

    with pytest.raises(PendingLimitExceededError):
        await queue.enqueue(user, [job_for(dataset)] * 3, max_pending=10)

    assert await queue.counts_by_status() == {"pending": 8}
    await queue.enqueue(user, [job_for(dataset)] * 2, max_pending=10)
    assert await queue.counts_by_status() == {"pending": 10}
