SELECT id, owner_id, bundle_id, dataset_id, priority, config, config_hash, status, attempts,
       max_attempts, timeout_seconds, run_after, worker_id, lease_token, lease_expires_at,
       progress, cancel_requested, error, reused_from, created_at, started_at, finished_at
  FROM backtest_jobs
 WHERE id = %(id)s
