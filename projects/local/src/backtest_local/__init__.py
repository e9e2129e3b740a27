"""The whole platform on one machine: embedded PostgreSQL, migrations, API, one worker, demo data."""
