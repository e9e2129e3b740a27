"""Hosts of the multi-host test: Linux network namespaces on one bridge, and the
processes that run in them.

Each host is a namespace ``btmh-<name>`` with one interface on a bridge that
lives in a namespace of its own (``btmh-switch``), so no address of the test is
reachable from the machine's own namespace, and nothing of the test leaves the
bridge. The addresses come from 198.18.0.0/15, the range reserved for network
benchmark tests (RFC 2544). ``/etc/netns/<namespace>/hosts`` gives every host the
names an operator's DNS would (``db1.internal`` ...); ``ip netns exec`` mounts it
over ``/etc/hosts``, so configuration files name hosts as a deployment does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import IO

from units import Command

PREFIX = "btmh-"
SWITCH = PREFIX + "switch"
SUBNET = "198.18.0"
ADDRESSES = {
    "db1": 11,
    "db2": 12,
    "api1": 21,
    "api2": 22,
    "lb": 30,
    "compute1": 41,
    "compute2": 42,
    "client": 50,
}
DOMAIN = "internal"


def address(host: str) -> str:
    return f"{SUBNET}.{ADDRESSES[host]}"


def namespace(host: str) -> str:
    return PREFIX + host


def run(argv: list[str], *, check: bool = True, timeout: float = 120, quiet: bool = False) -> str:
    """Run a command to completion; its output, or an error that shows it."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    if not quiet and done.stderr.strip() and done.returncode != 0:
        print(done.stderr.strip())
    return done.stdout


def in_host(host: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace(host), *argv]


def as_user(user: str | None, argv: list[str]) -> list[str]:
    if user is None or user == "root":
        return argv
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *argv]


def existing_namespaces() -> list[str]:
    names = run(["ip", "netns", "list"], check=False).split()
    return [name for name in names if name.startswith(PREFIX)]


def teardown_network() -> None:
    """Kill every process left in the test's namespaces, then delete them (idempotent)."""
    for ns in existing_namespaces():
        for pid in run(["ip", "netns", "pids", ns], check=False).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
    time.sleep(0.2)
    for ns in existing_namespaces():
        run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)


def create_network() -> None:
    """The bridge namespace, one namespace per host, and their names in each host's /etc/hosts."""
    teardown_network()
    run(["ip", "netns", "add", SWITCH])
    run(["ip", "-n", SWITCH, "link", "add", "br0", "type", "bridge"])
    run(["ip", "-n", SWITCH, "link", "set", "br0", "up"])
    hosts_file = "127.0.0.1 localhost\n" + "".join(
        f"{address(host)} {host}.{DOMAIN} {host}\n" for host in ADDRESSES
    )
    for host in ADDRESSES:
        ns = namespace(host)
        run(["ip", "netns", "add", ns])
        etc = Path("/etc/netns") / ns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(hosts_file)
        (etc / "hostname").write_text(host + "\n")
        port = f"bt-{host}"
        run(["ip", "-n", SWITCH, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns])
        run(["ip", "-n", SWITCH, "link", "set", port, "master", "br0", "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "addr", "add", f"{address(host)}/24", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])


def cut_off(host: str, peers: list[str]) -> None:
    """Drop every packet between ``host`` and ``peers`` (silently, as a failed switch port would)."""
    for peer in peers:
        for chain, flag in (("OUTPUT", "-d"), ("INPUT", "-s")):
            run(in_host(host, ["iptables", "-I", chain, flag, address(peer), "-j", "DROP"]))


def reconnect(host: str) -> None:
    for chain in ("OUTPUT", "INPUT"):
        run(in_host(host, ["iptables", "-F", chain]))


@dataclass
class Process:
    """One long-running program on a host, started like a service (own session, own log)."""

    name: str
    host: str
    command: Command
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)
    _log: IO[bytes] | None = None

    def start(self) -> None:
        env = dict(self.command.env)
        # env -i: the service sees only its unit's environment, as under systemd.
        assignments = [f"{k}={v}" for k, v in env.items()]
        argv = in_host(self.host, as_user(self.command.user, ["env", "-i", *assignments, *self.command.argv]))
        self._log = self.log_path.open("ab")
        self._log.write(f"\n==== start {time.strftime('%H:%M:%S')}: {' '.join(self.command.argv)}\n".encode())
        self._log.flush()
        self.popen = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env={})
        self.starts.append(time.monotonic())

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            os.kill(self.pid, signum)

    def kill_group(self) -> None:
        """SIGKILL whatever the process left in its session (systemd empties the cgroup so)."""
        if self.popen is None:
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, signum: int, timeout: float) -> float:
        """Send ``signum``, wait up to ``timeout`` s, then SIGKILL; the seconds the stop took."""
        began = time.monotonic()
        if self.popen is None:
            return 0.0
        self.signal(signum)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  {self.name}: still running {timeout:.0f} s after {signal.Signals(signum).name}: SIGKILL")
        self.kill_group()
        self.popen.wait()
        if self._log is not None:
            self._log.close()
        return time.monotonic() - began


class Supervisor:
    """A unit's Restart= policy: restart a process that failed, after RestartSec,
    unless it exceeded StartLimitBurst starts in StartLimitIntervalSec."""

    def __init__(self, process: Process, restart: str, restart_sec: float, prevent: set[int],
                 burst: int, interval: float) -> None:
        self.process = process
        self.restart = restart
        self.restart_sec = restart_sec
        self.prevent = prevent
        self.burst = burst
        self.interval = interval
        self.stopping = False
        self.restarts = 0
        self.failed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            self.stopping = False
            self.process.start()
        self._thread = threading.Thread(target=self._watch, name=f"watch-{self.process.name}", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            popen = self.process.popen
            assert popen is not None
            code = popen.wait()
            with self._lock:
                if self.stopping:
                    return
                failure = code != 0 and code not in self.prevent
                if not (self.restart in ("on-failure", "always") and (failure or self.restart == "always")):
                    print(f"  {self.process.name} exited {code}; not restarted (Restart={self.restart})")
                    self.failed = code != 0
                    return
            self.process.kill_group()
            time.sleep(self.restart_sec)
            with self._lock:
                if self.stopping:
                    return
                recent = [t for t in self.process.starts if t > time.monotonic() - self.interval]
                if len(recent) >= self.burst:
                    name = self.process.name
                    print(f"  {name}: start limit hit ({self.burst} in {self.interval:.0f} s); left failed")
                    self.failed = True
                    return
                print(f"  {self.process.name} exited {code}; restarted after {self.restart_sec:.0f} s")
                self.restarts += 1
                self.process.start()

    def stop(self, signum: int, timeout: float) -> float:
        with self._lock:
            self.stopping = True
        return self.process.stop(signum, timeout)
