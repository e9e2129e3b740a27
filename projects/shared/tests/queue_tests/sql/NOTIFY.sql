SELECT CASE WHEN %(pending)s THEN pg_notify('backtest_jobs_pending', '') END,
       (SELECT count(pg_notify('backtest_jobs_finished', k)) FROM unnest(%(finished)b::text[]) AS k),
       (SELECT count(pg_notify('backtest_jobs_cancel', k)) FROM unnest(%(cancel)b::text[]) AS k)
