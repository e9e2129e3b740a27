DELETE FROM job_finish_log WHERE finished_at < now() - %(keep_seconds)s * interval '1 second'
