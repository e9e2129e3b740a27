from __future__ import annotations

from backtest_local.demo import ensure_demo_dataset
from backtest_local.demo import ensure_demo_key

from backtest_api.accounts.repository import revoke_key


def test_a_second_run_prints_the_same_demo_key(database_url, tmp_path):
    first = ensure_demo_key(database_url, tmp_path)

    assert ensure_demo_key(database_url, tmp_path) == first
    assert (tmp_path / "demo-api-key").stat().st_mode & 0o777 == 0o600


def test_a_revoked_demo_key_is_replaced(database_url, tmp_path):
    first = ensure_demo_key(database_url, tmp_path)
    revoke_key(database_url, first)

    assert ensure_demo_key(database_url, tmp_path) != first


def test_the_demo_dataset_is_created_once(database_url, tmp_path):
    ensure_demo_key(database_url, tmp_path)

    assert ensure_demo_dataset(database_url) == ensure_demo_dataset(database_url)
