INSERT INTO bundles (id, owner_id, name, rank_by, total_jobs, request)
VALUES (%(id)s, %(owner_id)s, %(name)s, %(rank_by)s, %(total_jobs)s, %(request)s::jsonb)
