from backtest_testing.fixtures import postgres_admin_url  # noqa: F401
