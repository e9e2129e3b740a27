"""The compute worker: claims backtest jobs from PostgreSQL and runs them."""
