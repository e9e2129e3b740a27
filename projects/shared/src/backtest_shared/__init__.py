"""Code shared by the API, the compute workers and the migrations.

Layering: this package never imports ``backtest_api`` or ``backtest_compute``,
and ``backtest_shared.engine`` never imports the database layer.
"""
