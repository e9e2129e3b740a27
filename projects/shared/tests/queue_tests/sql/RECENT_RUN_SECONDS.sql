SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY r.seconds)
  FROM (SELECT run_seconds FROM job_finish_log
         WHERE finished_at > now() - interval '5 minutes' AND cardinality(run_seconds) > 0
         ORDER BY finished_at DESC
         LIMIT 1000) AS l,
       unnest(l.run_seconds) AS r(seconds)
