"""Market data sets stored in PostgreSQL, where every worker can reach them."""
