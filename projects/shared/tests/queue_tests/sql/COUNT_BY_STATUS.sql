SELECT status, priority, count(*) AS jobs FROM backtest_jobs GROUP BY status, priority
