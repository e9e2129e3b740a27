"""Where the CLI finds the API and the key: flags, then environment, then a config file.

The file (``~/.config/backtest/config.toml``, or ``$BACKTEST_CONFIG``) keeps
the key out of shell history and scripts::

    url = "http://127.0.0.1:8000"
    key = "bt_..."
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


def config_path() -> Path:
    explicit = os.environ.get("BACKTEST_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "backtest" / "config.toml"


@dataclass(frozen=True)
class Settings:
    url: str
    key: str | None


def resolve(url: str | None, key: str | None) -> Settings:
    """Flags win over ``BACKTEST_API_URL``/``BACKTEST_API_KEY``, which win over the config file."""
    stored: dict[str, object] = {}
    path = config_path()
    if path.is_file():
        with path.open("rb") as handle:
            stored = tomllib.load(handle)
    chosen_url = url or os.environ.get("BACKTEST_API_URL") or str(stored.get("url") or DEFAULT_URL)
    chosen_key = key or os.environ.get("BACKTEST_API_KEY") or (str(stored["key"]) if stored.get("key") else None)
    return Settings(url=chosen_url, key=chosen_key)
