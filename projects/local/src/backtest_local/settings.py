"""The one-command platform's options: each a flag and a ``BACKTEST_LOCAL_*`` variable.

Declared once (``backtest_shared.settings``): ``--help`` and the documented
table derive from this declaration.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from backtest_shared.settings import Setting
from backtest_shared.settings import SettingsSchema


@dataclass(frozen=True)
class LocalSettings:
    data_dir: Annotated[str, Setting("where PostgreSQL keeps its data (reused by the next run)")] = "./.local/platform"
    host: Annotated[str, Setting("address the API listens on")] = "127.0.0.1"
    port: Annotated[int, Setting("port the API listens on")] = 8000
    concurrency: Annotated[int, Setting("backtests the worker runs at once")] = 2

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError("port must be between 1 and 65535")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")


SCHEMA = SettingsSchema(
    LocalSettings,
    env_prefix="BACKTEST_LOCAL_",
    # The names these were read from before; still read, with a warning, for one release.
    renamed={"data_dir": "BACKTEST_LOCAL_DIR", "host": "BACKTEST_HOST", "port": "BACKTEST_PORT"},
)


def build_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="platform", description=description)
    SCHEMA.add_arguments(parser)
    return parser


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, *, description: str = ""
) -> LocalSettings:
    """Settings from flags, then environment variables, then defaults; ValueError when invalid."""
    return SCHEMA.load(build_parser(description).parse_args(argv), environ)
