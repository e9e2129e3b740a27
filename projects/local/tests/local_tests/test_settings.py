from pathlib import Path

import pytest
from backtest_local.settings import SCHEMA
from backtest_local.settings import parse_settings

from backtest_shared.settings import DeprecatedSettingWarning
from backtest_shared.settings import documented_table


def test_defaults_then_environment_then_flags() -> None:
    assert parse_settings([], {}).port == 8000
    assert parse_settings([], {"BACKTEST_LOCAL_PORT": "8100"}).port == 8100
    assert parse_settings(["--port", "8200"], {"BACKTEST_LOCAL_PORT": "8100"}).port == 8200


def test_the_old_variable_names_still_work_for_one_release_with_a_warning() -> None:
    with pytest.warns(DeprecatedSettingWarning) as caught:
        settings = parse_settings([], {"BACKTEST_LOCAL_DIR": "/data", "BACKTEST_HOST": "0.0.0.0"})
    assert (settings.data_dir, settings.host) == ("/data", "0.0.0.0")
    assert sorted(str(w.message).split()[0] for w in caught) == ["BACKTEST_HOST", "BACKTEST_LOCAL_DIR"]


def test_bad_values_name_the_flag_and_the_variable() -> None:
    with pytest.raises(ValueError, match="--port / BACKTEST_LOCAL_PORT: cannot parse 'http'"):
        parse_settings([], {"BACKTEST_LOCAL_PORT": "http"})
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        parse_settings(["--concurrency", "0"], {})


def test_every_option_has_a_flag_and_a_prefixed_variable() -> None:
    assert [(o.flag, o.env) for o in SCHEMA.options] == [
        ("--data-dir", "BACKTEST_LOCAL_DATA_DIR"),
        ("--host", "BACKTEST_LOCAL_HOST"),
        ("--port", "BACKTEST_LOCAL_PORT"),
        ("--concurrency", "BACKTEST_LOCAL_CONCURRENCY"),
    ]


def test_the_docs_table_is_the_declared_settings() -> None:
    documented = documented_table(Path("docs/api.md").read_text(), "local")
    assert documented == SCHEMA.markdown_table(), "regenerate docs/api.md's table from SCHEMA.markdown_table()"
