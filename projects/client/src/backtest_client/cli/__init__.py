"""The ``backtest`` command line."""
