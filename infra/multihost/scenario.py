"""The multi-host deployment test: build the hosts, start the platform from its units,
run users' load through failures, a rolling upgrade and a database failover, audit.

Run through ``infra/multihost/run`` (root, CPython 3.11, the PEXes from
``pants package``). Everything runs in the test's namespaces and its run
directory; ``finally`` tears it all down, and a watchdog bounds the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import hosts
from audit import audit
from audit import print_table
from hosts import Process
from hosts import Supervisor
from hosts import in_host
from postgres import Cluster
from units import command_for
from units import parse_unit

INFRA = Path(__file__).resolve().parent.parent
PEXES = ("api", "compute", "migrations")
API_HOSTS = ("api1", "api2")
COMPUTE_HOSTS = ("compute1", "compute2")
#: What the test's operator writes into backtest.env beyond the example's values.
ENV_OVERRIDES = {
    "BACKTEST_API_PROCESSES": "2",
    "BACKTEST_COMPUTE_CONCURRENCY": "2",
    "BACKTEST_API_POOL_MAX_SIZE": "8",
    "BACKTEST_COMPUTE_LOG_LEVEL": "WARNING",
}
T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", flush=True)


class Deployment:
    """The hosts' installed files and the services running on them."""

    def __init__(self, root: Path, dist: Path) -> None:
        self.root = root
        self.dist = dist
        self.logs = root / "logs"
        self.logs.mkdir(parents=True)
        self.services: dict[str, Supervisor] = {}
        self.db = {name: Cluster(name, root) for name in ("db1", "db2")}
        self.primary = "db1"
        self.lb: Process | None = None
        self.extra: list[Process] = []
        self.stop_seconds: dict[str, list[float]] = {}

    def host_root(self, host: str) -> Path:
        return self.root / "hosts" / host

    def install(self, host: str) -> None:
        """What an operator does on a server: copy the PEXes, the env file, create the cache directory."""
        base = self.host_root(host)
        opt = base / "opt/backtest"
        opt.mkdir(parents=True)
        for name in PEXES:
            shutil.copy2(self.dist / f"{name}.pex", opt / f"{name}.pex")
        etc = base / "etc/backtest"
        etc.mkdir(parents=True)
        lines = []
        seen = set()
        for line in (INFRA / "systemd/backtest.env.example").read_text().splitlines():
            key = line.partition("=")[0].lstrip("#").strip()
            if key in ENV_OVERRIDES:
                line = f"{key}={ENV_OVERRIDES[key]}"
                seen.add(key)
            lines.append(line)
        lines += [f"{k}={v}" for k, v in ENV_OVERRIDES.items() if k not in seen]
        (etc / "backtest.env").write_text("\n".join(lines) + "\n")
        cache = base / "var/cache/backtest"
        cache.mkdir(parents=True)
        shutil.chown(cache, "backtest", "backtest")
        cache.chmod(0o700)
        for path in (base, base / "opt", opt, base / "etc", etc, base / "var", base / "var/cache"):
            path.chmod(0o755)

    def unit_process(self, unit_name: str, host: str) -> tuple[Process, Any]:
        unit = parse_unit(INFRA / "systemd" / unit_name)
        command = command_for(unit, self.host_root(host), host)
        process = Process(f"{unit_name.removesuffix('.service')}@{host}", host, command,
                          self.logs / f"{host}-{unit_name.removesuffix('.service')}.log")
        return process, unit

    def start_service(self, unit_name: str, host: str) -> None:
        process, unit = self.unit_process(unit_name, host)
        supervisor = Supervisor(process, unit.restart, unit.restart_sec, unit.restart_prevent_exit_status,
                                unit.start_limit_burst, unit.start_limit_interval_sec)
        self.services[host] = supervisor
        supervisor.start()

    def stop_service(self, host: str) -> float:
        """``systemctl stop``: KillSignal, wait TimeoutStopSec, then SIGKILL."""
        supervisor = self.services[host]
        unit_name = "backtest-api.service" if host in API_HOSTS else "backtest-compute.service"
        unit = parse_unit(INFRA / "systemd" / unit_name)
        seconds = supervisor.stop(getattr(signal, unit.kill_signal), unit.timeout_stop_sec)
        self.stop_seconds.setdefault(host, []).append(seconds)
        return seconds

    def run_oneshot(self, unit_name: str, host: str, timeout: float = 300) -> None:
        process, _ = self.unit_process(unit_name, host)
        process.start()
        assert process.popen is not None
        code = process.popen.wait(timeout=timeout)
        if code != 0:
            raise RuntimeError(f"{unit_name} on {host} exited {code}; see {process.log_path}")

    def pex_python(self, host: str, code: str, timeout: float = 300) -> str:
        """Run Python code with the API PEX's libraries, as the service user, with its environment."""
        _, unit = self.unit_process("backtest-api.service", host)
        command = command_for(unit, self.host_root(host), host)
        env = dict(command.env, PEX_INTERPRETER="1")
        pex = str(self.host_root(host) / "opt/backtest/api.pex")
        argv = in_host(host, hosts.as_user(command.user, ["env", "-i", *[f"{k}={v}" for k, v in env.items()],
                                                          pex, "-c", code]))
        return hosts.run(argv, timeout=timeout)

    def sql(self, query: str) -> str:
        return self.db[self.primary].psql(query, database="backtest")


def http_status(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> int:
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(timeout)]
    for key, value in (headers or {}).items():
        args += ["-H", f"{key}: {value}"]
    out = hosts.run(in_host("client", [*args, url]), check=False, timeout=timeout + 5)
    return int(out.strip() or 0)


def wait_for(what: str, check: Any, timeout: float, interval: float = 0.5) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return time.monotonic() - began
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def api_ready(host: str) -> bool:
    return http_status(f"http://{host}.internal:8000/health/ready") == 200


def make_csv(path: Path, seed: int, bars: int) -> None:
    rng = random.Random(seed)
    price = 100.0
    lines = ["timestamp,open,high,low,close,volume"]
    start = 1_704_067_200
    for i in range(bars):
        open_ = price
        price = max(1.0, price * (1 + rng.gauss(0, 0.01)))
        high = max(open_, price) * (1 + rng.random() * 0.003)
        low = min(open_, price) * (1 - rng.random() * 0.003)
        lines.append(f"{start + 3600 * i},{open_:.4f},{high:.4f},{low:.4f},{price:.4f},{rng.uniform(100, 1000):.2f}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)


def create_users(dep: Deployment, users: int) -> tuple[list[dict[str, str]], str]:
    """Users and keys through the API PEX's own account functions (the admin CLI's code), in one run."""
    code = f"""
import json, os
from backtest_api.accounts import repository
url = os.environ["BACKTEST_DATABASE_URL"]
keys = {{}}
repository.create_user(url, "ops", role="admin")
keys["ops"] = repository.issue_key(url, "ops")
for i in range({users}):
    name = f"user{{i:02d}}"
    repository.create_user(url, name, role="user")
    keys[name] = repository.issue_key(url, name)
print(json.dumps(keys))
"""
    keys: dict[str, str] = json.loads(dep.pex_python("api1", code).strip().splitlines()[-1])
    admin = keys.pop("ops")
    return [{"name": name, "key": key} for name, key in keys.items()], admin


class Timeline:
    """The disruptions, run in order while the users submit; each one logged with its time."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.events: list[tuple[float, str]] = []

    def note(self, message: str) -> None:
        self.events.append((time.monotonic() - T0, message))
        say(message)

    def stop_api1(self) -> None:
        seconds = self.dep.stop_service("api1")
        self.note(f"api1 stopped (SIGTERM, {seconds:.1f} s)")
        time.sleep(8)
        self.dep.services["api1"].start()
        wait_for("api1 ready", lambda: api_ready("api1"), 120)
        self.note("api1 started again and ready")

    def kill_compute1(self) -> None:
        self.dep.services["compute1"].process.signal(signal.SIGKILL)
        self.note("compute1's worker killed with SIGKILL (Restart=on-failure brings it back)")

    def partition_compute2(self) -> None:
        hosts.cut_off("compute2", ["db1", "db2"])
        self.note("compute2 cut off from db1 and db2 (packets dropped)")
        time.sleep(10)
        hosts.reconnect("compute2")
        self.note("compute2 reconnected after 10 s")

    def rolling_upgrade(self) -> None:
        self.dep.run_oneshot("backtest-migrations.service", "api1")
        self.note("migrations.pex upgrade head done (backtest-migrations.service)")
        for host in (*API_HOSTS, *COMPUTE_HOSTS):
            seconds = self.dep.stop_service(host)
            self.dep.services[host].start()
            if host in API_HOSTS:
                wait_for(f"{host} ready", lambda h=host: api_ready(h), 120)  # type: ignore[misc]
            self.note(f"{host} restarted (SIGTERM stop took {seconds:.1f} s)")

    def failover(self) -> None:
        self.dep.db["db1"].stop("immediate")
        self.note("db1 stopped (immediate: no shutdown checkpoint, as a crash)")
        self.dep.db["db2"].promote()
        self.dep.primary = "db2"
        self.note("db2 promoted")
        waited = wait_for("an API server ready on db2", lambda: any(api_ready(h) for h in API_HOSTS), 120)
        self.note(f"API ready on the new primary {waited:.1f} s after the promotion")


def run(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="btmh-run."))
    root.chmod(0o755)
    dep = Deployment(root, Path(args.dist))
    say(f"run directory {root}")
    load: subprocess.Popen[bytes] | None = None
    try:
        hosts.create_network()
        say("namespaces and bridge up: " + ", ".join(f"{h}={hosts.address(h)}" for h in hosts.ADDRESSES))
        for host in (*API_HOSTS, *COMPUTE_HOSTS):
            dep.install(host)

        db1, db2 = dep.db["db1"], dep.db["db2"]
        db1.init_primary()
        db1.start()
        db1.psql("CREATE ROLE backtest LOGIN")
        db1.psql("CREATE DATABASE backtest OWNER backtest")
        db2.init_standby(db1)
        db2.start()
        db1.require_standby("db2")
        db1.wait_streaming("db2")
        for name, cluster in dep.db.items():
            dsn = f"host={cluster.sockets} user=postgres dbname=postgres sslmode=disable"
            exporter = Process(f"postgres-exporter@{name}", name,
                               hosts.Command(["prometheus-postgres-exporter", "--web.listen-address=:9187"],
                                             {"DATA_SOURCE_NAME": dsn, "PATH": "/usr/bin:/bin"}, "postgres"),
                               dep.logs / f"{name}-postgres-exporter.log")
            exporter.start()
            dep.extra.append(exporter)
        say("db1 primary, db2 synchronous standby (each with Debian's prometheus-postgres-exporter)")

        dep.run_oneshot("backtest-migrations.service", "api1")
        say("schema migrated (backtest-migrations.service on api1)")
        for host in API_HOSTS:
            dep.start_service("backtest-api.service", host)
        for host in COMPUTE_HOSTS:
            dep.start_service("backtest-compute.service", host)
        lb_cfg = INFRA / "lb/haproxy.cfg"
        haproxy = hosts.Command(["haproxy", "-db", "-f", str(lb_cfg)], {"PATH": "/usr/sbin:/usr/bin:/bin"}, None)
        dep.lb = Process("haproxy@lb", "lb", haproxy, dep.logs / "lb-haproxy.log")
        dep.lb.start()
        wait_for("both API servers ready", lambda: all(api_ready(h) for h in API_HOSTS), 240)
        wait_for("the load balancer", lambda: http_status("http://lb.internal/health/ready") == 200, 30)
        say("api1, api2 ready behind lb; compute1, compute2 started")

        users, admin_key = create_users(dep, args.users)
        per_user = args.jobs // args.users
        bundles = max(1, per_user * 2 // (5 * args.bundle_size))
        singles = per_user - bundles * args.bundle_size
        for i, user in enumerate(users):
            csv = root / f"data-{i}.csv"
            make_csv(csv, i, args.bars)
            user["csv"] = str(csv)
        plan: dict[str, Any] = {"lb_host": "lb.internal", "lb_port": 80, "users": users, "singles": singles,
                                "bundles": bundles, "bundle_size": args.bundle_size,
                                "duration_seconds": args.duration}
        plan_path = root / "plan.json"
        plan_path.write_text(json.dumps(plan))
        datasets_path = root / "datasets.json"
        hosts.run(in_host("client", [sys.executable, str(Path(__file__).with_name("load.py")), "upload",
                                     str(plan_path), str(datasets_path)]), timeout=300)
        datasets = json.loads(datasets_path.read_text())
        for user in users:
            user["dataset_id"] = datasets[user["name"]]
        plan_path.write_text(json.dumps(plan))
        expected = args.users * (singles + bundles * args.bundle_size)
        say(f"{args.users} users, each {singles} single backtests and {bundles} bundles of {args.bundle_size}: "
            f"{expected} jobs over {args.duration:.0f} s through lb")

        out_path = root / "load.json"
        load = subprocess.Popen(in_host("client", [sys.executable, str(Path(__file__).with_name("load.py")),
                                                   "submit", str(plan_path), str(out_path)]))
        load_started = time.time()
        timeline = Timeline(dep)
        step = args.duration / 10
        time.sleep(step)
        timeline.stop_api1()
        timeline.kill_compute1()
        time.sleep(step / 2)
        timeline.partition_compute2()
        # The failover comes before the upgrade, so the migrations also find the new
        # primary through the multi-host URL. A submit cut off by the crash holds its
        # Idempotency-Key for five minutes (the API's reservation expiry); failing over
        # early keeps that wait inside the run's bound.
        timeline.failover()
        timeline.rolling_upgrade()
        code = load.wait(timeout=args.duration + 400)
        load = None
        if code != 0:
            raise RuntimeError(f"the load generator exited {code}")
        result = json.loads(out_path.read_text())
        say(f"submits done: {len(result['acks'])} acknowledged, {len(result['refused'])} refused, "
            f"{result['retries']} retries {result['retry_causes']}")

        def all_final() -> bool:
            try:
                left = dep.sql("SELECT count(*) FROM backtest_jobs WHERE status IN ('pending', 'running')")
            except RuntimeError:
                return False
            return int(left.strip()) == 0

        waited = wait_for("every job final", all_final, args.drain_timeout, interval=2)
        say(f"every job final {waited:.0f} s after the last submit")
        wait_for("both API servers ready", lambda: all(api_ready(h) for h in API_HOSTS), 60)

        status = http_status("http://lb.internal/metrics")
        scrapes = []
        for name, url, headers in (
            ("api", "http://lb.internal/metrics", ["-H", f"Authorization: Bearer {admin_key}"]),
            ("haproxy", "http://lb.internal:8404/metrics", []),
            ("postgres", f"http://{dep.primary}.internal:9187/metrics", []),
        ):
            text = hosts.run(in_host("client", ["curl", "-sf", "--max-time", "20", *headers, url]))
            path = root / f"metrics-{name}.txt"
            path.write_text(text)
            scrapes.append(str(path))
            say(f"scraped {url}: {len(text.splitlines())} lines")
        say(f"/metrics of the API without a key answered {status}")
        check = subprocess.run([sys.executable, str(INFRA / "monitoring/check_metric_names.py"), *scrapes],
                               check=False)

        report = audit(dep, result, expected, load_started)
        report["events"] = timeline.events
        report["stop_seconds"] = dep.stop_seconds
        report["restarts"] = {h: s.restarts for h, s in dep.services.items()}
        print_table(report)
        (root / "audit.json").write_text(json.dumps(report, indent=2, default=str))
        ok = report["ok"] and check.returncode == 0 and status == 401
        if status != 401:
            print(f"FAIL: /metrics without a key answered {status}, expected 401")
        return 0 if ok else 1
    except BaseException as exc:
        print(f"FAIL: {type(exc).__name__}: {exc}", flush=True)
        for log in sorted(dep.logs.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"---- {log.name} (last lines)\n" + "\n".join(tail))
        return 1
    finally:
        if load is not None:
            load.kill()
        say("tearing down")
        for host in list(dep.services):
            dep.services[host].stop(signal.SIGKILL, 5)
        for process in [*([dep.lb] if dep.lb else []), *dep.extra]:
            process.stop(signal.SIGKILL, 5)
        for cluster in dep.db.values():
            if cluster.running():
                try:
                    cluster.stop("immediate")
                except Exception as exc:  # the namespace may be gone already: teardown kills what is left
                    print(f"  {cluster.host}: {exc}")
        hosts.teardown_network()
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", required=True, help="directory holding api.pex, compute.pex, migrations.pex")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--bundle-size", type=int, default=20)
    parser.add_argument("--bars", type=int, default=300, help="bars per user's dataset")
    parser.add_argument("--duration", type=float, default=150.0, help="seconds over which the users submit")
    parser.add_argument("--drain-timeout", type=float, default=240.0)
    parser.add_argument("--deadline", type=float, default=600.0, help="the whole run's bound, in seconds")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (logs, audit.json)")
    args = parser.parse_args()

    def watchdog() -> None:
        time.sleep(args.deadline)
        print(f"FAIL: the run exceeded its {args.deadline:.0f} s bound", flush=True)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watchdog, daemon=True).start()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
