"""The PostgreSQL job queue: job configs, the queue's SQL and its repository."""
