"""Tests of backtest_shared.engine."""
