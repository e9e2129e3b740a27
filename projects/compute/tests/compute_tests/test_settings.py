import warnings
from pathlib import Path

import pytest

from backtest_compute.dataset_cache import DatasetCache
from backtest_compute.settings import SCHEMA
from backtest_compute.settings import build_parser
from backtest_compute.settings import default_concurrency
from backtest_compute.settings import parse_settings
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.settings import DeprecatedSettingWarning
from backtest_shared.settings import documented_table

URL = "postgresql://u@localhost/db"


def test_default_concurrency_is_cpu_count_minus_two_and_at_least_one() -> None:
    assert default_concurrency(8) == 6
    assert default_concurrency(2) == 1
    assert default_concurrency(1) == 1


def test_every_option_comes_from_the_environment() -> None:
    settings = parse_settings(
        [],
        {
            "BACKTEST_DATABASE_URL": URL,
            "BACKTEST_COMPUTE_CONCURRENCY": "3",
            "BACKTEST_COMPUTE_NAME": "w1",
            "BACKTEST_COMPUTE_POLL_INTERVAL": "2.5",
            "BACKTEST_COMPUTE_LEASE_SECONDS": "12",
            "BACKTEST_COMPUTE_SHUTDOWN_GRACE": "7",
            "BACKTEST_COMPUTE_REAP_INTERVAL": "3",
            "BACKTEST_COMPUTE_DATASET_CACHE_MB": "64",
        },
    )
    assert (settings.database_url, settings.concurrency, settings.name) == (URL, 3, "w1")
    assert (settings.poll_interval, settings.lease_seconds, settings.shutdown_grace) == (2.5, 12.0, 7.0)
    assert settings.heartbeat_interval == 4.0  # lease / 3 by default
    assert settings.reap_interval == 3.0
    assert settings.dataset_cache_bytes == 64 * 1024 * 1024


def test_the_old_variable_names_still_work_for_one_release_with_a_warning() -> None:
    old = {"BACKTEST_DATABASE_URL": URL, "BACKTEST_WORKER_CONCURRENCY": "3", "BACKTEST_LEASE_SECONDS": "12"}
    with pytest.warns(DeprecatedSettingWarning) as caught:
        settings = parse_settings([], old)
    assert (settings.concurrency, settings.lease_seconds) == (3, 12.0)
    assert sorted(str(w.message) for w in caught) == [
        "BACKTEST_LEASE_SECONDS is deprecated, use BACKTEST_COMPUTE_LEASE_SECONDS (still read for this release)",
        "BACKTEST_WORKER_CONCURRENCY is deprecated, use BACKTEST_COMPUTE_CONCURRENCY (still read for this release)",
    ]

    both = {"BACKTEST_DATABASE_URL": URL, "BACKTEST_WORKER_CONCURRENCY": "3", "BACKTEST_COMPUTE_CONCURRENCY": "5"}
    with pytest.warns(DeprecatedSettingWarning, match="ignored: it is also set"):
        settings = parse_settings([], both)
    assert settings.concurrency == 5


def test_the_new_names_raise_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_settings([], {"BACKTEST_DATABASE_URL": URL, "BACKTEST_COMPUTE_CONCURRENCY": "3"})


def test_help_shows_each_default_from_the_declaration() -> None:
    text = build_parser().format_help()
    assert "(default: 30) [env BACKTEST_COMPUTE_LEASE_SECONDS]" in " ".join(text.split())
    assert "(default: lease / 3)" in " ".join(text.split())


def test_the_docs_table_is_the_declared_settings() -> None:
    documented = documented_table(Path("docs/compute.md").read_text(), "compute")
    assert documented == SCHEMA.markdown_table(), "regenerate docs/compute.md's table from SCHEMA.markdown_table()"


def test_flags_override_the_environment() -> None:
    settings = parse_settings(
        ["--concurrency", "5", "--heartbeat-interval", "1"],
        {"BACKTEST_DATABASE_URL": URL, "BACKTEST_COMPUTE_CONCURRENCY": "3"},
    )
    assert settings.concurrency == 5 and settings.heartbeat_interval == 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "database URL is required"),
        (["--database-url", URL, "--concurrency", "0"], "concurrency"),
        (["--database-url", URL, "--lease-seconds", "3", "--heartbeat-interval", "3"], "heartbeat_interval"),
        (["--database-url", URL, "--poll-interval", "soon"], "--poll-interval"),
    ],
)
def test_bad_configuration_is_refused_with_a_message(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_settings(argv, {})


def test_dataset_cache_evicts_the_least_recently_used_beyond_its_byte_budget() -> None:
    data = {name: synthetic_ohlcv(1000, seed=i) for i, name in enumerate("abc")}
    one = 6 * 8 * 1000
    cache = DatasetCache(max_bytes=2 * one)
    cache.put("a", data["a"])
    cache.put("b", data["b"])
    assert cache.get("a") is data["a"]  # a is now the most recently used
    cache.put("c", data["c"])

    assert "b" not in cache and "a" in cache and "c" in cache
    cache.put("a", data["a"])  # replaces a's size instead of adding it again: nothing is evicted
    assert "a" in cache and "c" in cache


def test_synchronous_commit_is_on_unless_turned_off() -> None:
    url = {"BACKTEST_DATABASE_URL": "postgresql://localhost/db"}
    assert parse_settings([], url).synchronous_commit is True
    assert parse_settings(["--synchronous-commit", "off"], url).synchronous_commit is False
    assert parse_settings([], {**url, "BACKTEST_COMPUTE_SYNCHRONOUS_COMMIT": "off"}).synchronous_commit is False
