"""``citynerve demo``: virtual nodes -> the real edge agent -> a private Mosquitto.

The demo starts, all on loopback and in a temporary directory: a private
Mosquitto (when the ``mosquitto`` binary is installed), the edge agent
(:class:`edge_agent.agent.EdgeAgent` with its SQLite journal, keys file and
MQTT uplink) and a QoS 1 subscriber standing in for the city platform. The
virtual nodes run the node firmware's own modules in-process (recorder,
power-loss-safe flash queue under the temporary directory, link supervisor)
and send their batches over real TCP;
the summary counts what was acknowledged, journaled and published. Without
Mosquitto the agent runs ingest-only (journal and acks, no uplink).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.agent import EdgeAgent
from edge_agent.config import parse_config
from edge_agent.journal import PERIODIC
from hardware.loopback import PrivateBroker, mosquitto_binary
from hardware.virtual_node import NodeStats, demo_key, run_firmware_node

PREFIX = "citynerve-demo"


class _Platform:
    """A QoS 1 subscriber to every reading, standing in for the city platform."""

    def __init__(self, port: int) -> None:
        self.readings: list[bytes] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-platform")
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.ready.wait(10):
            raise RuntimeError("the demo subscriber could not connect")

    def _connected(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe(f"{PREFIX}/+/+/+/readings", qos=1)
        self.ready.set()

    def _message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.readings.append(bytes(msg.payload))

    def count(self) -> int:
        with self.lock:
            return len(self.readings)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _config(work: Path, node_ids: list[str], mqtt_port: int | None) -> dict[str, Any]:
    keys = work / "keys.json"
    keys.write_text(json.dumps({"nodes": {n: {"key": demo_key(n).hex()} for n in node_ids}}))
    keys.chmod(0o600)
    return {
        "edge": {"id": "demo-edge", "district": "demo", "state_dir": str(work / "state")},
        "keys": {"file": str(keys)},
        "tcp": {"host": "127.0.0.1", "port": 0},
        "mqtt": {"enabled": mqtt_port is not None, "port": mqtt_port or 1883, "prefix": PREFIX},
        "metrics": {"host": "127.0.0.1", "port": 0},
        "discovery": {"enabled": False},
        "log": {"level": "warning"},
    }


async def run_demo(*, nodes: int, batches: int, readings: int) -> dict[str, object]:
    """Run the whole path on loopback and summarise it."""
    node_ids = [f"ja-hyd-{i:06d}" for i in range(nodes)]
    work = Path(tempfile.mkdtemp(prefix="citynerve-demo-"))
    broker = PrivateBroker(work / "mosquitto") if mosquitto_binary() else None
    platform = _Platform(broker.port) if broker else None
    try:
        config = parse_config(_config(work, node_ids, broker.port if broker else None))
        async with EdgeAgent(config=config) as agent:
            assert agent.tcp is not None
            port = agent.tcp.port
            started = time.perf_counter()
            results: list[NodeStats] = await asyncio.gather(
                *(
                    run_firmware_node(
                        n,
                        "127.0.0.1",
                        port,
                        workdir=str(work / "nodes"),
                        batches=batches,
                        readings=readings,
                        seed=i,
                    )
                    for i, n in enumerate(node_ids)
                )
            )
            acked = sum(r.batches_acked for r in results)
            deadline = time.monotonic() + 30
            while platform and platform.count() < acked and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - started
            ingest = agent.ingest
            if platform and platform.readings:
                sample = cbor2.loads(platform.readings[0])
            else:
                rows = agent.journal.read(PERIODIC, 0, 1)
                sample = cbor2.loads(rows[0].pack) if rows else []
            summary: dict[str, object] = {
                "port": port,
                "nodes": nodes,
                "broker": f"mosquitto 127.0.0.1:{broker.port}" if broker else None,
                "hellos": ingest.frames["hello"],
                "batches_sent": sum(r.batches_sent for r in results),
                "batches_acked": acked,
                "batches_stored": ingest.stored[PERIODIC],
                "batches_published": platform.count() if platform else 0,
                "readings_acked": sum(r.readings_acked for r in results),
                "duplicates": ingest.duplicates,
                "refused": dict(ingest.refused),
                "node_errors": [e for r in results for e in r.errors],
                "seconds": round(elapsed, 3),
                "batches_per_s": round(acked / elapsed, 1) if elapsed else 0.0,
                "sample_record": {str(k): str(v) for k, v in sample[0].items()} if sample else {},
            }
    finally:
        if platform:
            platform.close()
        if broker:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return summary
