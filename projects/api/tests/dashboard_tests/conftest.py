from __future__ import annotations

from backtest_testing.fixtures import database_url  # noqa: F401
from backtest_testing.fixtures import migrated_template  # noqa: F401
from backtest_testing.fixtures import postgres_admin_url  # noqa: F401
