"""Read the systemd units in infra/systemd the way systemd would start them.

The multi-host test starts every service from the same unit and environment
files an operator installs, so the commands exist once: in the units. This
module reads the few directives that decide what runs (``ExecStart``,
``Environment``, ``EnvironmentFile``, ``User``, the stop and restart policy) and
maps the unit's absolute paths into a host's root directory, where the test put
the files an operator would copy to ``/opt/backtest`` and ``/etc/backtest``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

#: Directories an operator installs into; a host of the test has them under its root.
HOST_PATHS = ("/opt/backtest", "/etc/backtest", "/var/cache/backtest")

#: The environment systemd gives every service before the unit's own variables.
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


@dataclass
class Unit:
    """The directives of one ``[Service]`` section that the test acts on."""

    name: str
    exec_start: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    environment_files: list[str] = field(default_factory=list)
    user: str | None = None
    restart: str = "no"
    restart_sec: float = 0.1
    restart_prevent_exit_status: set[int] = field(default_factory=set)
    timeout_stop_sec: float = 90.0
    kill_signal: str = "SIGTERM"
    start_limit_burst: int = 5
    start_limit_interval_sec: float = 10.0
    service_type: str = "simple"


def _seconds(text: str) -> float:
    text = text.strip()
    for suffix, factor in (("ms", 0.001), ("min", 60.0), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _sections(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if logical:
            line = logical + " " + line
            logical = ""
        if line.endswith("\\"):
            logical = line[:-1].strip()
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections.setdefault(current, []).append((key.strip(), value.strip()))
    return sections


def parse_unit(path: Path) -> Unit:
    """The unit's directives; a directive the test does not model is ignored."""
    sections = _sections(path.read_text())
    unit = Unit(name=path.name, exec_start=[])
    for key, value in sections.get("Unit", []):
        if key == "StartLimitBurst":
            unit.start_limit_burst = int(value)
        elif key == "StartLimitIntervalSec":
            unit.start_limit_interval_sec = _seconds(value)
    for key, value in sections.get("Service", []):
        if key == "ExecStart":
            # Prefixes such as '-' (ignore failure) or '+' (full privileges) do not change the command.
            unit.exec_start = shlex.split(value.lstrip("-@:+!"))
        elif key == "Environment":
            for assignment in shlex.split(value):
                name, _, setting = assignment.partition("=")
                unit.environment[name] = setting
        elif key == "EnvironmentFile":
            unit.environment_files.append(value)
        elif key == "User":
            unit.user = value
        elif key == "Restart":
            unit.restart = value
        elif key == "RestartSec":
            unit.restart_sec = _seconds(value)
        elif key == "RestartPreventExitStatus":
            unit.restart_prevent_exit_status = {int(v) for v in value.split() if v.isdigit()}
        elif key == "TimeoutStopSec":
            unit.timeout_stop_sec = _seconds(value)
        elif key == "KillSignal":
            unit.kill_signal = value
        elif key == "Type":
            unit.service_type = value
    if not unit.exec_start:
        raise ValueError(f"{path}: no ExecStart")
    return unit


def read_environment_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines as systemd reads them (comments, blank lines and quotes)."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def host_path(path: str, root: Path) -> str:
    """An installed path (``/opt/backtest/api.pex``) as it lies under a test host's root."""
    for prefix in HOST_PATHS:
        if path == prefix or path.startswith(prefix + "/"):
            return str(root) + path
    return path


def _specifiers(text: str, hostname: str) -> str:
    return text.replace("%H", hostname).replace("%%", "%")


@dataclass(frozen=True)
class Command:
    """What to execute for a unit on one host: argv, the complete environment, the user."""

    argv: list[str]
    env: dict[str, str]
    user: str | None


def command_for(unit: Unit, root: Path, hostname: str) -> Command:
    """The unit's command on a host whose installed files live under ``root``."""
    env = dict(BASE_ENV)
    for key, value in unit.environment.items():
        env[key] = host_path(_specifiers(value, hostname), root)
    # As in systemd, variables from EnvironmentFile= override those of Environment=.
    for name in unit.environment_files:
        optional = name.startswith("-")
        file = Path(host_path(name.lstrip("-"), root))
        if file.exists():
            env.update({k: host_path(v, root) for k, v in read_environment_file(file).items()})
        elif not optional:
            raise FileNotFoundError(f"{unit.name}: EnvironmentFile {file} is missing")
    argv = [host_path(_specifiers(arg, hostname), root) for arg in unit.exec_start]
    return Command(argv=argv, env=env, user=unit.user)
