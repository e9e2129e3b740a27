SELECT r.metrics, r.equity_curve, r.trades, r.detail
  FROM backtest_jobs j
  JOIN job_results r ON r.config_hash = j.config_hash AND r.job_id = j.id
 WHERE j.id = %(id)s
