SELECT (SELECT extract(epoch FROM now() - min(q.run_after))::float8
          FROM job_queue q
         WHERE NOT q.claimed AND q.run_after <= now()) AS oldest_pending_seconds,
       coalesce(sum(l.succeeded), 0)::int AS succeeded,
       coalesce(sum(l.failed), 0)::int AS failed,
       coalesce(sum(l.cancelled), 0)::int AS cancelled
  FROM job_finish_log l
 WHERE l.finished_at > now() - interval '60 seconds'
