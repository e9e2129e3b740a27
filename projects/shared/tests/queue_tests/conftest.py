pytest_plugins = ["backtest_testing.fixtures"]
