"""The API's settings: one declaration behind the variables, the serve flags, --help and the docs."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from backtest_api import cli
from backtest_api.settings import SCHEMA
from backtest_api.settings import SERVE_SCHEMA
from backtest_api.settings import ServeSettings
from backtest_api.settings import Settings
from backtest_api.settings import settings_from_env
from backtest_shared.settings import DeprecatedSettingWarning
from backtest_shared.settings import documented_table

URL = "postgresql://u@localhost/db"


def record_serve(monkeypatch: pytest.MonkeyPatch) -> list[ServeSettings]:
    """Replace the uvicorn start by a record of what ``serve`` was asked to run."""
    started: list[ServeSettings] = []

    def serve(url: str, options: ServeSettings) -> int:
        started.append(options)
        return 0

    monkeypatch.setattr(cli, "serve", serve)
    return started


def test_settings_come_from_backtest_api_variables_and_default_from_the_declaration() -> None:
    settings = settings_from_env({"BACKTEST_DATABASE_URL": URL, "BACKTEST_API_RATE_LIMIT_PER_SECOND": "50"})
    assert (settings.database_url, settings.rate_limit_per_second) == (URL, 50.0)
    assert settings.max_bundle_size == Settings(database_url=URL).max_bundle_size == 10_000


def test_the_old_variable_names_still_work_for_one_release_with_a_warning() -> None:
    with pytest.warns(DeprecatedSettingWarning) as caught:
        settings = settings_from_env({"BACKTEST_DATABASE_URL": URL, "BACKTEST_MAX_BUNDLE_SIZE": "7"})
    assert settings.max_bundle_size == 7
    assert [str(w.message) for w in caught] == [
        "BACKTEST_MAX_BUNDLE_SIZE is deprecated, use BACKTEST_API_MAX_BUNDLE_SIZE (still read for this release)"
    ]
    with pytest.warns(DeprecatedSettingWarning, match="BACKTEST_WORKERS is deprecated, use BACKTEST_API_PROCESSES"):
        assert SERVE_SCHEMA.load(None, {"BACKTEST_WORKERS": "3"}).processes == 3


def test_the_new_names_raise_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings_from_env({"BACKTEST_DATABASE_URL": URL, "BACKTEST_API_MAX_BUNDLE_SIZE": "7"})


def test_a_missing_database_url_and_an_unparsable_value_are_named() -> None:
    with pytest.raises(ValueError, match="database url is required: set BACKTEST_DATABASE_URL"):
        settings_from_env({})
    with pytest.raises(ValueError, match="--max-wait-seconds / BACKTEST_API_MAX_WAIT_SECONDS: cannot parse 'soon'"):
        settings_from_env({"BACKTEST_DATABASE_URL": URL, "BACKTEST_API_MAX_WAIT_SECONDS": "soon"})


def test_serve_passes_its_flags_to_the_api_processes_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = record_serve(monkeypatch)
    monkeypatch.setenv("BACKTEST_API_MAX_BUNDLE_SIZE", "1")  # restored after the test; serve overwrites it

    argv = ["--database-url", URL, "serve", "--port", "8100", "--access-log", "--max-bundle-size", "12"]
    assert cli.main(argv) == 0

    assert started == [ServeSettings(port=8100, access_log=True)]
    assert settings_from_env().max_bundle_size == 12  # what each API process will read


def test_the_old_processes_flag_still_works_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    started = record_serve(monkeypatch)
    with pytest.warns(FutureWarning, match="--workers is deprecated, use --processes"):
        assert cli.main(["--database-url", URL, "serve", "--workers", "3"]) == 0
    assert started == [ServeSettings(processes=3)]


def test_the_docs_tables_are_the_declared_settings() -> None:
    docs = Path("docs/api.md").read_text()
    assert documented_table(docs, "api") == SCHEMA.markdown_table(), "regenerate from SCHEMA.markdown_table()"
    assert documented_table(docs, "api-serve") == SERVE_SCHEMA.markdown_table()
