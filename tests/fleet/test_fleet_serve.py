"""`fleet serve` as a real process with --mqtt-host: the API, the status ingester and the key
notices in one server; a clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import cbor2
import httpx
import paho.mqtt.client as mqtt
from fleet_helpers import Broker, free_port, wait_for, wait_port
from paho.mqtt.enums import CallbackAPIVersion


def fleet(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleet.cli", *args], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip


def test_serve_with_ingester_and_notices(tmp_path: Path, broker: Broker) -> None:
    env = {"FLEET_STATE_DIR": str(tmp_path / "state")}
    admin = fleet(env, "token", "create", "--name", "ada", "--role", "admin").stdout.strip()
    assert admin.startswith("cnf_")  # the database was made (and upgraded) on first use
    prefix = f"sv{random.getrandbits(24)}"
    notices: list[dict[str, object]] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"n{random.getrandbits(30)}")
    sub.on_message = lambda c, u, m: notices.append(json.loads(m.payload))
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe(f"{prefix}/jingan/fleet/keys", qos=1)
    sub.loop_start()
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "serve", "--port", str(port), "--mqtt-host",
         "127.0.0.1", "--mqtt-port", str(broker.port), "--mqtt-prefix", prefix],
        env={**os.environ, **env}, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        wait_port(port, 30)
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                           headers={"Authorization": f"Bearer {admin}"}, timeout=30)  # fmt: skip
        assert api.get("/healthz").json()["status"] == "ok"
        tech = api.post("/api/v1/technicians", json={"name": "Li"}).json()["id"]
        ttok = api.post(
            "/api/v1/tokens", json={"name": "li", "role": "technician", "technician_id": tech}
        ).json()["token"]
        api.post("/api/v1/edges", json={"id": "edge-1", "district": "jingan",
                                        "endpoints": ["127.0.0.1:7300"]})  # fmt: skip
        wo = api.post(
            "/api/v1/work-orders",
            json={"technician_id": tech, "district": "jingan", "kit": "manhole", "quantity": 1},
        ).json()["id"]
        got = httpx.post(f"http://127.0.0.1:{port}/api/v1/work-orders/{wo}/provision",
                         headers={"Authorization": f"Bearer {ttok}"},
                         json={"board": "rp2-pico-w"}).json()  # fmt: skip
        node = got["node"]["id"]
        wait_for(lambda: any(node in n["changed"] for n in notices), 10)  # type: ignore[operator]
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"p{random.getrandbits(30)}")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        doc = {
            "node": node,
            "kit": "manhole",
            "firmware": "0.9.0",
            "slot": "a",
            "boot": 1,
            "hello_at": time.time(),
            "edge": "edge-1",
        }
        pub.publish(f"{prefix}/jingan/manhole/{node}/status", cbor2.dumps(doc), qos=1,
                    retain=True).wait_for_publish(5)  # fmt: skip
        wait_for(lambda: api.get(f"/api/v1/nodes/{node}").json()["firmware"] == "0.9.0", 15)
        pub.loop_stop()
        pub.disconnect()
        api.close()
        assert got["key"] not in (tmp_path / "serve.log").read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
        log.close()
        sub.loop_stop()
        sub.disconnect()
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]


def test_serve_refuses_a_postgres_schema_behind(tmp_path: Path, db_url_factory: object) -> None:
    url = db_url_factory("postgres", "serve")  # type: ignore[operator]
    r = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "serve", "--db", url, "--secret-file",
         str(tmp_path / "s.key"), "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 2 and "fleet db upgrade" in r.stderr
