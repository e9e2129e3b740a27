from __future__ import annotations

from backtest_api.cli import main
from backtest_api.core.auth import hash_api_key


def test_the_admin_cli_creates_users_and_issues_and_revokes_keys(database_url, capsys):
    import psycopg

    assert main(["--database-url", database_url, "create-user", "erin", "--max-pending-jobs", "7"]) == 0
    assert main(["--database-url", database_url, "issue-key", "erin"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]

    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT key_hash, revoked_at FROM api_keys").fetchall()
    assert stored == [(hash_api_key(key), None)]
    assert main(["--database-url", database_url, "revoke-key", key[:11]]) == 0
    assert main(["--database-url", database_url, "revoke-key", key[:11]]) == 1


def test_the_cli_refuses_a_duplicate_user_and_an_unknown_one(database_url, capsys):
    assert main(["--database-url", database_url, "create-user", "erin"]) == 0
    assert main(["--database-url", database_url, "create-user", "erin"]) == 1
    assert main(["--database-url", database_url, "issue-key", "nobody"]) == 1
