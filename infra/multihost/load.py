"""Users submitting backtests through the load balancer, as a client library would.

Run on the ``client`` host: ``python3 load.py upload|submit PLAN.json OUT.json``. Each user is a
thread with one keep-alive connection to the load balancer. Every submit carries
an ``Idempotency-Key`` and is retried (same key, same body) on a connection error,
a 429 or a 5xx until it is acknowledged with 202, so an API server that stops
mid-request costs a retry and never a lost or doubled job. The output lists every
acknowledged id (the audit checks each one in the database) and every submit's
latency from its first attempt to its 202.

Standard library only: the client host has nothing installed but CPython.
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import threading
import time
import uuid
from typing import Any

RETRY_STATUSES = {429, 500, 502, 503, 504}
#: A request cut off after its Idempotency-Key was reserved (its server stopped, or the
#: database failed over under it) holds the key "in progress" until the reservation
#: expires (five minutes, backtest_api/idempotency): retries answer 409 meanwhile.
IN_PROGRESS = 409
GIVE_UP_SECONDS = 330.0


class User:
    def __init__(self, host: str, port: int, key: str) -> None:
        self.host = host
        self.port = port
        self.key = key
        self.conn: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise

    def post(self, path: str, payload: bytes, content_type: str, stats: dict[str, Any]) -> tuple[int, Any, float]:
        """POST until acknowledged; (status, body, seconds from the first attempt)."""
        key = str(uuid.uuid4())
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": content_type, "Idempotency-Key": key}
        began = time.monotonic()
        delay = 0.2
        while True:
            try:
                status, raw = self._request("POST", path, payload, headers)
            except (OSError, http.client.HTTPException) as exc:
                status, raw = 0, type(exc).__name__.encode()
            in_progress = status == IN_PROGRESS and b"still being processed" in raw
            if status not in RETRY_STATUSES and status != 0 and not in_progress:
                body = json.loads(raw) if raw else None
                return status, body, time.monotonic() - began
            with stats["lock"]:
                stats["retries"] += 1
                cause = str(status or raw.decode())
                stats["retry_causes"][cause] = stats["retry_causes"].get(cause, 0) + 1
            if time.monotonic() - began > GIVE_UP_SECONDS:
                return status, raw.decode(errors="replace"), time.monotonic() - began
            time.sleep(delay + random.random() * delay)
            delay = min(delay * 2, 5.0 if in_progress else 2.0)


def _strategy(fast: int, slow: int) -> dict[str, Any]:
    return {
        "name": f"sma_{fast}_{slow}",
        "indicators": {"fast": {"kind": "sma", "period": fast}, "slow": {"kind": "sma", "period": slow}},
        "entry": {"conditions": [{"kind": "crosses_above", "left": "fast", "right": "slow"}]},
        "exit": {"conditions": [{"kind": "crosses_below", "left": "fast", "right": "slow"}]},
        "direction": "long",
    }


def run_user(index: int, plan: dict[str, Any], user: dict[str, Any], out: dict[str, Any]) -> None:
    client = User(plan["lb_host"], plan["lb_port"], user["key"])
    submits: list[tuple[str, int]] = [("single", 1)] * plan["singles"]
    submits += [("bundle", plan["bundle_size"])] * plan["bundles"]
    random.Random(index).shuffle(submits)
    spacing = plan["duration_seconds"] / max(1, len(submits))
    start = time.monotonic() + random.Random(index).random() * spacing
    for n, (kind, jobs) in enumerate(submits):
        pause = start + n * spacing - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        fast = 2 + (n % 7)
        slow = 10 + (index % 5) + n
        if kind == "single":
            body = {"dataset_id": user["dataset_id"], "strategy": _strategy(fast, slow), "reuse": False}
            path = "/api/v1/backtests"
        else:
            strategies = [_strategy(2 + k % 7, 10 + k) for k in range(jobs)]
            body = {"dataset_id": user["dataset_id"], "strategies": strategies, "reuse": False,
                    "name": f"u{index}-b{n}"}
            path = "/api/v1/bundles"
        status, answer, seconds = client.post(path, json.dumps(body).encode(), "application/json", out)
        with out["lock"]:
            if status == 202:
                out["acks"].append({"user": user["name"], "kind": kind, "id": answer["id"], "jobs": jobs})
                out["latencies"].append(seconds)
            else:
                refusal = {"user": user["name"], "kind": kind, "status": status, "answer": str(answer)[:300]}
                out["refused"].append(refusal)


def upload(plan: dict[str, Any], out_path: str) -> int:
    """Each user uploads its CSV dataset; writes {user name: dataset id}."""
    ids: dict[str, str] = {}
    stats: dict[str, Any] = {"lock": threading.Lock(), "retries": 0, "retry_causes": {}}
    for user in plan["users"]:
        client = User(plan["lb_host"], plan["lb_port"], user["key"])
        with open(user["csv"], "rb") as file:
            status, answer, _ = client.post("/api/v1/datasets", file.read(), "text/csv", stats)
        if status not in (200, 201):
            print(f"upload for {user['name']} answered {status}: {answer}", file=sys.stderr)
            return 1
        ids[user["name"]] = answer["id"]
    with open(out_path, "w") as file:
        json.dump(ids, file)
    return 0


def main() -> int:
    with open(sys.argv[2]) as file:
        plan = json.load(file)
    if sys.argv[1] == "upload":
        return upload(plan, sys.argv[3])
    out: dict[str, Any] = {"lock": threading.Lock(), "acks": [], "latencies": [], "refused": [], "retries": 0,
                           "retry_causes": {}}
    began = time.time()
    threads = [threading.Thread(target=run_user, args=(i, plan, user, out), daemon=True)
               for i, user in enumerate(plan["users"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.pop("lock")
    out["started"] = began
    out["finished"] = time.time()
    with open(sys.argv[3], "w") as file:
        json.dump(out, file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
