"""The end-of-run audit: what the users were told against what the database holds.

Every id the API acknowledged with 202 is loaded into a temporary table on the
current primary and compared with the jobs there. A check passes only when
nothing acknowledged is missing, nothing was enqueued twice, every job is final,
each reached its final state exactly once (the finish log, which every statement
that finalises jobs appends to, counts as many final transitions as there are
final jobs), and there is one result row per succeeded job and none for others.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from typing import TYPE_CHECKING
from typing import Any

from hosts import as_user
from hosts import in_host
from postgres import BIN

if TYPE_CHECKING:
    from scenario import Deployment

AUDIT_SQL = """
CREATE TEMP TABLE acks (id uuid PRIMARY KEY, kind text NOT NULL, jobs int NOT NULL);
COPY acks FROM STDIN;
{rows}
\\.
WITH test_jobs AS (SELECT j.* FROM backtest_jobs j JOIN users u ON u.id = j.owner_id WHERE u.name LIKE 'user%')
SELECT json_build_object(
  'jobs_in_db', (SELECT count(*) FROM test_jobs),
  'missing_singles', (SELECT count(*) FROM acks a WHERE a.kind = 'single'
                        AND NOT EXISTS (SELECT 1 FROM backtest_jobs j WHERE j.id = a.id)),
  'missing_bundles', (SELECT count(*) FROM acks a WHERE a.kind = 'bundle'
                        AND NOT EXISTS (SELECT 1 FROM bundles b WHERE b.id = a.id)),
  'short_bundles', (SELECT count(*) FROM acks a WHERE a.kind = 'bundle'
                      AND a.jobs <> (SELECT count(*) FROM backtest_jobs j WHERE j.bundle_id = a.id)),
  'unacknowledged_jobs', (SELECT count(*) FROM test_jobs j
                            WHERE NOT EXISTS (SELECT 1 FROM acks a WHERE a.id = j.id OR a.id = j.bundle_id)),
  'not_final', (SELECT count(*) FROM test_jobs WHERE status NOT IN ('succeeded', 'failed', 'cancelled')),
  'succeeded', (SELECT count(*) FROM test_jobs WHERE status = 'succeeded'),
  'failed', (SELECT count(*) FROM test_jobs WHERE status = 'failed'),
  'failed_worker_lost', (SELECT count(*) FROM test_jobs WHERE status = 'failed' AND error LIKE 'worker lost%'),
  'cancelled', (SELECT count(*) FROM test_jobs WHERE status = 'cancelled'),
  'retried_jobs', (SELECT count(*) FROM test_jobs WHERE attempts > 1),
  'final_transitions', (SELECT coalesce(sum(succeeded + failed + cancelled), 0) FROM job_finish_log),
  'result_rows', (SELECT count(*) FROM job_results r JOIN test_jobs j ON j.id = r.job_id),
  'results_of_unsucceeded', (SELECT count(*) FROM job_results r JOIN test_jobs j ON j.id = r.job_id
                               WHERE j.status <> 'succeeded'),
  'first_created', (SELECT extract(epoch FROM min(created_at)) FROM test_jobs),
  'last_finished', (SELECT extract(epoch FROM max(finished_at)) FROM test_jobs)
);
"""


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def audit(dep: Deployment, load: dict[str, Any], expected_jobs: int, load_started: float) -> dict[str, Any]:
    rows = "\n".join(f"{a['id']}\t{a['kind']}\t{a['jobs']}" for a in load["acks"])
    cluster = dep.db[dep.primary]
    argv = in_host(cluster.host, as_user("postgres", [str(BIN / "psql"), "-h", str(cluster.sockets), "-U", "postgres",
                                                     "-d", "backtest", "-XAtq", "-v", "ON_ERROR_STOP=1", "-f", "-"]))
    done = subprocess.run(argv, input=AUDIT_SQL.format(rows=rows), capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"audit query failed: {done.stderr}")
    db: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    acked_jobs = sum(a["jobs"] for a in load["acks"])
    final = db["succeeded"] + db["failed"] + db["cancelled"]
    latencies = load["latencies"]
    span = (db["last_finished"] or 0) - (db["first_created"] or 0)
    checks = [
        ("submits refused or given up (never acknowledged)", len(load["refused"]), 0),
        ("jobs acknowledged with 202", acked_jobs, expected_jobs),
        ("acknowledged singles missing from the database", db["missing_singles"], 0),
        ("acknowledged bundles missing from the database", db["missing_bundles"], 0),
        ("bundles with a job count other than acknowledged", db["short_bundles"], 0),
        ("jobs in the database", db["jobs_in_db"], acked_jobs),
        ("jobs no 202 acknowledged (doubled by a retry)", db["unacknowledged_jobs"], 0),
        ("jobs not final", db["not_final"], 0),
        ("final transitions logged (each job final once)", db["final_transitions"], final),
        ("result rows", db["result_rows"], db["succeeded"]),
        ("result rows of jobs that did not succeed", db["results_of_unsucceeded"], 0),
    ]
    figures = [
        ("succeeded / failed / cancelled", f"{db['succeeded']} / {db['failed']} / {db['cancelled']}"),
        ("failed with 'worker lost'", str(db["failed_worker_lost"])),
        ("jobs run more than once (retried after a loss)", str(db["retried_jobs"])),
        ("submits acknowledged (singles + bundles)", str(len(load["acks"]))),
        ("client retries (cause: count)", f"{load['retries']} {load['retry_causes']}"),
        ("submit latency through lb, p50 / p99 / max", f"{_quantile(latencies, 0.5) * 1000:.0f} / "
         f"{_quantile(latencies, 0.99) * 1000:.0f} / {max(latencies, default=0) * 1000:.0f} ms"),
        ("submit latency mean", f"{statistics.fmean(latencies) * 1000:.0f} ms" if latencies else "-"),
        ("submits per second (offered)", f"{len(load['acks']) / max(1e-9, load['finished'] - load['started']):.1f}"),
        ("jobs per second (first enqueue to last finish)", f"{final / max(1e-9, span):.1f} over {span:.0f} s"),
    ]
    ok = all(actual == want for _, actual, want in checks)
    return {"ok": ok, "checks": checks, "figures": figures, "db": db}


def print_table(report: dict[str, Any]) -> None:
    width = max(len(name) for name, *_ in [*report["checks"], *report["figures"]]) + 2
    print("\n" + "=" * (width + 34))
    print(f"{'audit':<{width}}{'actual':>12}{'expected':>12}   result")
    print("-" * (width + 34))
    for name, actual, want in report["checks"]:
        print(f"{name:<{width}}{actual:>12}{want:>12}   {'ok' if actual == want else 'FAIL'}")
    print("-" * (width + 34))
    for name, value in report["figures"]:
        print(f"{name:<{width}}{value}")
    print("-" * (width + 34))
    for at, event in report.get("events", []):
        print(f"  t={at:6.1f}s  {event}")
    print("=" * (width + 34))
    print(f"multihost: {'PASS' if report['ok'] else 'FAIL'}")
    passed = sum(1 for _, actual, want in report["checks"] if actual == want)
    print(f"multihost audit: {passed} of {len(report['checks'])} checks hold")
