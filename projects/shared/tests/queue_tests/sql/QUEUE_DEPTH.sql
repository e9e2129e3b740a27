SELECT CASE WHEN claimed THEN 'running' ELSE 'pending' END AS status, priority, count(*) AS jobs
  FROM job_queue
 GROUP BY 1, 2
