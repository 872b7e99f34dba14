"""Fleet registry benchmark: 500,000 nodes in SQLite and in PostgreSQL.

    .venv/bin/python benchmarks/fleet_registry.py [--nodes 500000] [--backends sqlite,postgres]

For each backend, against a fresh database (a SQLite file; a private schema in
PostgreSQL at $FLEET_TEST_PG_URL or postgres@127.0.0.1:5432/test, dropped at the end):

1. registration - POST /api/v1/nodes to a `fleet serve` process, 1,000 nodes a
   request (16 districts, 3 kits). Baseline: the driver's own bulk insert of the
   same rows into a copy of the table (executemany in SQLite, COPY in PostgreSQL).
2. status reports - every node's hello/health report (firmware, slot, boot,
   last seen, health) written by the ingester's batch path (Registry.apply_status,
   2,000 nodes a transaction). Baseline: a plain executemany UPDATE of the same
   columns, without the move-forward-only guards.
3. end to end - status documents (CBOR, as the edge publishes them) published into
   a private Mosquitto and written by the status ingester (`reports_per_s`).
4. queries - the dashboard's and rollouts' lists through the HTTP API, 100 items a
   page, from a random cursor (deep pages): by district, kit, firmware version,
   last seen older than a day, health faulty, district + faulty, and a rollout
   target (district + kit + firmware). p50/p99 over --queries requests each.
   Baseline: the same SELECT on a bare connection (no HTTP, no JSON).

The last line is one JSON object: {"sqlite": {...}, "postgres": {...}, "machine": {...}};
keys with p99 are milliseconds. Goals: filter p99 <= 200 ms, >= 10,000 reports/s.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cbor2  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import bindparam, update  # noqa: E402

from fleet.db import migrate  # noqa: E402
from fleet.db.engine import make_engine  # noqa: E402
from fleet.ingest import StatusIngester  # noqa: E402
from fleet.registry import NodeStatus, Registry, nodes  # noqa: E402
from fleet.secrets import KeyBox, load_secret  # noqa: E402
from hardware.loopback import PrivateBroker as Broker  # noqa: E402
from hardware.loopback import free_port, wait_port  # noqa: E402

PG_BASE = os.environ.get("FLEET_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DISTRICTS = [f"d{i:02d}" for i in range(16)]
KITS = ("elevator", "hydrant", "manhole")
FIRMWARE = [("1.4.2", 0.90), ("1.4.1", 0.09), ("1.3.0", 0.01)]
PAGE = 100


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def node_id(i: int) -> str:
    return f"{DISTRICTS[i % 16]}-{KITS[i % 3][:3]}-{i:07d}"


def node_row(i: int) -> dict[str, Any]:
    return {
        "id": node_id(i),
        "kit": KITS[i % 3],
        "district": DISTRICTS[i % 16],
        "site": f"Street {i // 50} no. {i % 50}",
    }


def firmware_of(rng: random.Random) -> str:
    x = rng.random()
    for fw, share in FIRMWARE:
        if x < share:
            return fw
        x -= share
    return FIRMWARE[0][0]


def report_of(i: int, rng: random.Random, now: datetime) -> NodeStatus:
    stale = rng.random() < 0.02  # 2 % silent for 1..30 days
    seen = now - (
        timedelta(days=rng.uniform(1, 30)) if stale else timedelta(seconds=rng.uniform(0, 3600))
    )
    h = rng.random()
    health = "faulty" if h < 0.01 else "degraded" if h < 0.03 else "ok"
    return NodeStatus(
        node=node_id(i), last_seen=seen, status_at=seen, firmware=firmware_of(rng),
        slot=rng.choice("ab"), boot=rng.randrange(1, 50), health=health,
        health_detail={"heap_free": rng.randrange(40000, 90000),
                       "faults": "imu:no ack" if health == "faulty" else ""},
        health_at=seen, edge=f"edge-{DISTRICTS[i % 16]}",
    )  # fmt: skip


class Backend:
    """One database for the run."""

    def __init__(self, name: str, work: Path) -> None:
        self.name = name
        self.schema = ""
        if name == "sqlite":
            self.url = f"sqlite:///{work / 'bench.sqlite'}"
        else:
            self.schema = f"fleet_bench_{os.getpid()}"
            with psycopg.connect(PG_BASE.replace("+psycopg", ""), autocommit=True) as c:
                c.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
                c.execute(f'CREATE SCHEMA "{self.schema}"')
            self.url = f"{PG_BASE}?options=-csearch_path%3D{self.schema}"

    def drop(self) -> None:
        if self.schema:
            with psycopg.connect(PG_BASE.replace("+psycopg", ""), autocommit=True) as c:
                c.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


class Server:
    """`fleet serve` in its own process."""

    def __init__(self, url: str, secret: Path, work: Path) -> None:
        self.port = free_port()
        self.log = (work / f"serve-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fleet.cli", "serve", "--db", url, "--secret-file", str(secret),
             "--port", str(self.port), "--no-upgrade", "--log-level", "warning"],
            stdout=self.log, stderr=self.log, cwd=ROOT,
        )  # fmt: skip
        wait_port(self.port, 30)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def register_via_api(server: Server, token: str, n: int) -> float:
    t0 = time.perf_counter()
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as c:
        for at in range(0, n, 1000):
            r = c.post(
                "/api/v1/nodes", json={"nodes": [node_row(i) for i in range(at, min(n, at + 1000))]}
            )
            if r.status_code != 201:
                raise RuntimeError(f"register: HTTP {r.status_code}: {r.text[:300]}")
    return time.perf_counter() - t0


def register_baseline(reg: Registry, n: int) -> float:
    """The same rows into a copy of the nodes table with the driver's bulk path."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [(node_id(i), KITS[i % 3], DISTRICTS[i % 16], f"Street {i // 50} no. {i % 50}", now, now)
            for i in range(n)]  # fmt: skip
    with reg.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS nodes_raw")
        conn.exec_driver_sql(
            "CREATE TABLE nodes_raw (id VARCHAR(64) PRIMARY KEY, kit VARCHAR(16) NOT NULL, "
            "district VARCHAR(32) NOT NULL, site VARCHAR(200), created_at TIMESTAMP NOT NULL, "
            "updated_at TIMESTAMP NOT NULL)"
        )
        for cols in (("district", "id"), ("kit", "id")):
            conn.exec_driver_sql(f"CREATE INDEX ix_raw_{cols[0]} ON nodes_raw ({', '.join(cols)})")
    t0 = time.perf_counter()
    raw = reg.engine.raw_connection()
    try:
        cur = raw.cursor()
        if reg.is_sqlite:
            cur.execute("BEGIN")
            cur.executemany("INSERT INTO nodes_raw VALUES (?, ?, ?, ?, ?, ?)", rows)
        else:
            buf = io.StringIO()
            for r in rows:
                buf.write("\t".join(str(x) for x in r) + "\n")
            with cur.copy("COPY nodes_raw FROM STDIN") as cp:  # type: ignore[attr-defined]
                cp.write(buf.getvalue())
        raw.commit()
    finally:
        raw.close()
    took = time.perf_counter() - t0
    with reg.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE nodes_raw")
    return took


def apply_reports(reg: Registry, n: int, rng: random.Random) -> tuple[float, int]:
    now = datetime.now(UTC)
    reports = [report_of(i, rng, now) for i in range(n)]
    t0 = time.perf_counter()
    matched = 0
    for at in range(0, n, 2000):
        matched += reg.apply_status(reports[at : at + 2000])
    return time.perf_counter() - t0, matched


def apply_baseline(reg: Registry, n: int, rng: random.Random) -> float:
    now = datetime.now(UTC)
    params = []
    for i in range(n):
        r = report_of(i, rng, now)
        params.append(
            {
                "b_id": r.node,
                "fw": r.firmware,
                "slot": r.slot,
                "boot": r.boot,
                "ls": r.last_seen,
                "health": r.health,
            }
        )
    stmt = (
        update(nodes)
        .where(nodes.c.id == bindparam("b_id"))
        .values(firmware=bindparam("fw"), slot=bindparam("slot"), boot=bindparam("boot"),
                last_seen=bindparam("ls", type_=nodes.c.last_seen.type),
                health=bindparam("health"))
    )  # fmt: skip
    t0 = time.perf_counter()
    for at in range(0, n, 2000):
        with reg.wengine.begin() as conn:
            conn.execute(stmt, params[at : at + 2000])
    return time.perf_counter() - t0


def publisher_main(args: argparse.Namespace) -> None:
    """The edges' side of the end-to-end phase, in its own process: the edge agent's own
    publisher (MqttUplink) sends the documents of a file (CBOR list of [topic, payload]) at
    QoS 1, retained as edges do, when told to go; at most 2,000 in flight."""
    from edge_agent.uplink.mqtt import MqttUplink

    payloads = [(t.encode(), p) for t, p in cbor2.loads(Path(args.publish).read_bytes())]

    async def run() -> float:
        up = MqttUplink(host="127.0.0.1", port=args.port, client_id=f"bench-pub-{os.getpid()}")
        async with up:
            while not up.connected:  # noqa: ASYNC110 - a load generator polls
                await asyncio.sleep(0.01)
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            t0 = time.perf_counter()
            for at in range(0, len(payloads), 500):
                while len(up.inflight) > 2000:  # noqa: ASYNC110
                    await asyncio.sleep(0.001)
                for topic, payload in payloads[at : at + 500]:
                    up.publish(topic, payload, retain=True)
                up.flush()
                await asyncio.sleep(0)
            while up.inflight:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            return time.perf_counter() - t0

    print(json.dumps({"publish_s": asyncio.run(run())}), flush=True)


def end_to_end(reg: Registry, broker: Broker, n: int, total: int, work: Path) -> dict[str, Any]:
    """Status documents (as edges publish them) through Mosquitto into the registry; the
    publisher is another process. reports/s from the first publish to the last write."""
    prefix = f"bench{random.getrandbits(20)}"
    t = time.time()
    payloads = []
    for k in range(n):
        i = (k * 7919) % total
        doc = {
            "node": node_id(i),
            "kit": KITS[i % 3],
            "firmware": "1.5.0",
            "slot": "b",
            "boot": 51,
            "caps": ["ota"],
            "protocol": 1,
            "edge": f"edge-{DISTRICTS[i % 16]}",
            "hello_at": t + k * 1e-6,
            "health": {"heap_free": 70000, "faults": "", "queue_depth": 0},
            "health_at": t + k * 1e-6,
        }
        payloads.append(
            [f"{prefix}/{DISTRICTS[i % 16]}/{KITS[i % 3]}/{node_id(i)}/status", cbor2.dumps(doc)]
        )
    file = work / "payloads.cbor"
    file.write_bytes(cbor2.dumps(payloads))
    ing = StatusIngester(
        reg, host="127.0.0.1", port=broker.port, prefix=prefix, flush_s=0.25, max_batch=5000
    )
    ing.start()
    if not ing.wait_connected(10):
        raise RuntimeError("ingester did not connect")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--publish", str(file), "--port", str(broker.port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("publisher did not start")
    t0 = time.perf_counter()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if ing.counters.received >= n and ing.pending() == 0:
            break
        time.sleep(0.005)
    took = time.perf_counter() - t0
    published = json.loads(proc.stdout.readline())["publish_s"]
    proc.wait(30)
    ing.stop()
    c = ing.counters
    if c.received < n:
        raise RuntimeError(f"ingester received {c.received} of {n}")
    return {
        "reports_per_s": round(n / took),
        "e2e_reports": n,
        "e2e_flushes": c.flushes,
        "e2e_publish_s": round(published, 2),
        "e2e_applied": c.applied,
    }


QUERIES: dict[str, dict[str, str]] = {
    "district": {"district": "d07"},
    "kit": {"kit": "hydrant"},
    "firmware_rare": {"firmware": "1.3.0"},
    "firmware_common": {"firmware": "1.4.2"},
    "last_seen_1d": {"last_seen_before": "{day_ago}"},
    "health_faulty": {"health": "faulty"},
    "district_faulty": {"district": "d03", "health": "faulty"},
    "rollout_target": {"district": "d05", "kit": "elevator", "firmware": "1.4.1"},
}


def settle(reg: Registry) -> None:
    """What autovacuum and a periodic ANALYZE do in production: after 500,000 updates
    PostgreSQL's first reads would otherwise set hint bits and write pages."""
    raw = reg.engine.raw_connection()
    try:
        if reg.is_sqlite:
            raw.execute("ANALYZE")
            raw.commit()
        else:
            dbapi = raw.driver_connection
            dbapi.autocommit = True  # type: ignore[union-attr]
            dbapi.execute("VACUUM (ANALYZE) nodes")  # type: ignore[union-attr]
            dbapi.autocommit = False  # type: ignore[union-attr]
    finally:
        raw.close()


def cursor_within(params: dict[str, str], total: int, rng: random.Random) -> str:
    """A node id inside the filter's district and kit (a deep page of that list)."""
    while True:
        i = rng.randrange(total)
        if "district" in params and DISTRICTS[i % 16] != params["district"]:
            continue
        if "kit" in params and KITS[i % 3] != params["kit"]:
            continue
        return node_id(i)


def run_queries(  # noqa: PLR0917
    reg: Registry, server: Server, token: str, total: int, count: int, rng: random.Random
) -> dict[str, Any]:
    day_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    out: dict[str, Any] = {}
    worst = worst_base = 0.0
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as c:
        c.get("/api/v1/nodes", params={"limit": 1})  # warm the connection
        for name, template in QUERIES.items():
            params = {k: v.replace("{day_ago}", day_ago) for k, v in template.items()}
            api_ms: list[float] = []
            base_ms: list[float] = []
            for q in range(count):
                cursor = None if q % 4 == 0 else cursor_within(params, total, rng)
                p = {**params, "limit": PAGE}
                if cursor:
                    p["cursor"] = cursor
                t0 = time.perf_counter()
                r = c.get("/api/v1/nodes", params=p)
                api_ms.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    raise RuntimeError(f"{name}: HTTP {r.status_code}: {r.text[:300]}")
                filters: dict[str, Any] = {
                    k: v for k, v in params.items() if k != "last_seen_before"
                }
                if "last_seen_before" in params:
                    filters["last_seen_before"] = datetime.fromisoformat(
                        params["last_seen_before"].replace("Z", "+00:00")
                    )
                stmt = reg.node_query(after=cursor, limit=PAGE + 1, **filters)
                t0 = time.perf_counter()
                with reg.engine.connect() as conn:
                    conn.execute(stmt).all()
                base_ms.append((time.perf_counter() - t0) * 1000)
            out[f"p50_ms_{name}"] = round(pct(api_ms, 0.5), 2)
            out[f"p99_ms_{name}"] = round(pct(api_ms, 0.99), 2)
            out[f"baseline_p99_ms_{name}"] = round(pct(base_ms, 0.99), 2)
            worst = max(worst, out[f"p99_ms_{name}"])
            worst_base = max(worst_base, out[f"baseline_p99_ms_{name}"])
            log(
                f"  {name}: p50 {out[f'p50_ms_{name}']} ms, p99 {out[f'p99_ms_{name}']} ms "
                f"(bare SQL p99 {out[f'baseline_p99_ms_{name}']} ms)"
            )
    out["p99_ms_worst_filter"] = worst
    out["baseline_p99_ms_worst_filter"] = worst_base
    return out


def bench_backend(
    name: str, args: argparse.Namespace, work: Path, broker: Broker | None
) -> dict[str, Any]:
    rng = random.Random(1)
    b = Backend(name, work)
    try:
        log(f"== {name}: {b.url.split('?')[0]}")
        migrate.upgrade(b.url)
        secret = work / f"{name}.secret"
        reg = Registry(make_engine(b.url), KeyBox(load_secret(secret)))
        _, op = reg.create_token(name="bench-op", role="operator")
        _, viewer = reg.create_token(name="bench-viewer", role="viewer")
        server = Server(b.url, secret, work)
        res: dict[str, Any] = {"nodes": args.nodes}
        try:
            took = register_via_api(server, op, args.nodes)
            res["register_s"] = round(took, 1)
            res["register_nodes_per_s"] = round(args.nodes / took)
            log(f"  registered {args.nodes} nodes through the API in {took:.1f} s")
            n_base = min(args.nodes, 200_000)
            tb = register_baseline(reg, n_base)
            res["register_baseline_nodes_per_s"] = round(n_base / tb)
            log(f"  baseline bulk insert: {n_base / tb:,.0f} rows/s")
            took, matched = apply_reports(reg, args.nodes, rng)
            assert matched == args.nodes, matched
            res["apply_reports_per_s"] = round(args.nodes / took)
            log(f"  status reports (batch path): {args.nodes / took:,.0f}/s")
            n_base = min(args.nodes, 100_000)
            tb = apply_baseline(reg, n_base, random.Random(2))
            res["apply_baseline_reports_per_s"] = round(n_base / tb)
            log(f"  baseline plain UPDATE: {n_base / tb:,.0f}/s")
            # the newest reports again, so the filters see the distribution of apply_reports
            apply_reports(reg, args.nodes, random.Random(1))
            settle(reg)
            if broker is not None:
                res.update(end_to_end(reg, broker, args.reports, args.nodes, work))
                log(f"  end to end through Mosquitto: {res['reports_per_s']:,} reports/s")
                apply_reports(reg, args.nodes, random.Random(1))
                settle(reg)
            res.update(run_queries(reg, server, viewer, args.nodes, args.queries, rng))
        finally:
            server.stop()
            reg.close()
        return res
    finally:
        b.drop()


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlite3

    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": _pg_version(),
    }


def _pg_version() -> str:
    try:
        with psycopg.connect(PG_BASE.replace("+psycopg", "")) as c:
            row = c.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except psycopg.Error:
        return "unreachable"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=500_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--queries", type=int, default=300, help="requests per filter")
    parser.add_argument(
        "--reports",
        type=int,
        default=100_000,
        help="status documents through Mosquitto (end to end)",
    )
    parser.add_argument("--no-mqtt", action="store_true", help="skip the end-to-end phase")
    parser.add_argument("--publish", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        publisher_main(args)
        return
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        broker = None if args.no_mqtt else Broker(work)
        try:
            for name in args.backends.split(","):
                result[name] = bench_backend(name, args, work, broker)
        finally:
            if broker is not None:
                broker.stop()
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
