"""Every metric an alert rule or the dashboard uses must be one the services export.

    python3 check_metric_names.py SCRAPE.txt [SCRAPE.txt ...]

Each SCRAPE file is the body of a real ``/metrics`` answer (the API with an admin
key, HAProxy's exporter, the PostgreSQL exporter), taken by infra/multihost/run
from the running services. The metric names in ``alerts.yml`` and
``grafana-dashboard.json`` are read from their PromQL and each must appear in a
scrape (or be one of the series Prometheus itself adds, such as ``up``). A
renamed metric in the code, or a typo in a rule, fails the check with its name.

Standard library only: it runs on a host with nothing but CPython.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Series Prometheus adds to every target itself.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
                     "scrape_series_added"}
#: Suffixes the exposition format adds to a histogram, summary or counter's declared name.
SUFFIXES = {"histogram": ("_bucket", "_count", "_sum", "_created"), "summary": ("_count", "_sum", "_created"),
            "counter": ("_total", "_created"), "gauge": (), "untyped": (), "info": ("_info",)}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
            "inf", "nan"}
_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def exported_names(scrape: str) -> set[str]:
    names: set[str] = set()
    for line in scrape.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            base = name.removesuffix("_total") if kind == "counter" else name
            names.update(base + suffix for suffix in SUFFIXES.get(kind, ()))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and labels removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values and strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery windows
    text = _CLAUSE.sub("", text)
    names = set()
    for match in _IDENT.finditer(text):
        name = match.group()
        following = text[match.end():].lstrip()
        if following.startswith("(") or name.lower() in KEYWORDS:
            continue  # a function call or an operator
        if re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


def rule_expressions(path: Path) -> list[str]:
    """``expr:`` values of a rules file, single-line or folded (``expr: >``) blocks."""
    exprs: list[str] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("expr:"):
            value = stripped[len("expr:"):].strip()
            if value in (">", "|", ">-", "|-"):
                indent = len(lines[i]) - len(lines[i].lstrip())
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                exprs.append(" ".join(block))
                continue
            exprs.append(value.strip("'\""))
        i += 1
    return exprs


def dashboard_expressions(path: Path) -> list[str]:
    return [target["expr"] for panel in json.loads(path.read_text())["panels"] for target in panel.get("targets", [])]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    exported = set(PROMETHEUS_SERIES)
    for name in argv:
        exported |= exported_names(Path(name).read_text())
    used: dict[str, set[str]] = {}
    sources = [("alerts.yml", rule_expressions(HERE / "alerts.yml")),
               ("grafana-dashboard.json", dashboard_expressions(HERE / "grafana-dashboard.json"))]
    for source, exprs in sources:
        if not exprs:
            print(f"{source}: no expressions found: the parser no longer matches the file")
            return 1
        for expr in exprs:
            for metric in metric_names(expr):
                used.setdefault(metric, set()).add(source)
    missing = {name: where for name, where in used.items() if name not in exported}
    for name, where in sorted(missing.items()):
        print(f"metric {name!r} (used in {', '.join(sorted(where))}) is exported by no scraped service")
    print(f"metric names: {len(used)} used in rules and dashboard, {len(used) - len(missing)} exported, "
          f"{len(missing)} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
