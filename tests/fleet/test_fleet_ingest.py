"""Status ingestion through a real Mosquitto: the edge agent's own Presence and Topics publish
status and presence documents (CBOR and JSON), the fleet's ingester writes them in batches."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
import pytest
from conftest import BACKENDS
from fleet_helpers import ADMIN, Broker, make_registry, wait_for
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.presence import Presence
from edge_agent.protocol.session import Hello
from edge_agent.topics import Topics
from fleet.ingest import StatusIngester, decode_document, node_report
from fleet.registry import NodeStatus, Registry, now


class Publisher:
    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pub-{random.getrandbits(32)}"
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def __call__(self, topic: bytes | str, payload: bytes, retain: bool = True) -> None:
        t = topic.decode() if isinstance(topic, bytes) else topic
        self.infos.append(self.client.publish(t, payload, qos=1, retain=retain))

    def flush(self) -> None:
        for info in self.infos:
            info.wait_for_publish(10)
        self.infos.clear()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(params=BACKENDS)
def reg(request: pytest.FixtureRequest, db_url_factory: Any) -> Iterator[Registry]:
    r = make_registry(db_url_factory(str(request.param), "ingest"))
    yield r
    r.close()


def register(reg: Registry, ids: list[str], district: str = "jingan") -> None:
    for at in range(0, len(ids), 1000):
        reg.register_nodes(
            ADMIN,
            [{"id": i, "kit": "hydrant", "district": district} for i in ids[at : at + 1000]],
            None,
        )


@pytest.mark.parametrize("fmt", ["cbor", "json"])
def test_status_through_mosquitto(reg: Registry, broker: Broker, fmt: str) -> None:
    prefix = f"ct{random.getrandbits(24)}"
    ids = [f"ja-hyd-{i:06d}" for i in range(5)]
    register(reg, ids)
    ing = StatusIngester(reg, host="127.0.0.1", port=broker.port, prefix=prefix, flush_s=0.05)
    ing.start()
    pub = Publisher(broker.port)
    try:
        assert ing.wait_connected(10)
        topics = Topics(prefix=prefix, district="jingan", edge_id="edge-ja-1", fmt=fmt)
        presence = Presence(topics=topics, publish=pub, edge_id="edge-ja-1", keepalive_s=30)
        for n, node in enumerate(ids):
            presence.hello(Hello(node, "0.4.2", "b", 10 + n, "hydrant", ("ota",), 1))
        presence.health(ids[0], {"faults": "", "heap_free": 81000, "queue_dropped": 0})
        presence.health(ids[1], {"faults": "bme280:no ack", "heap_free": 80000})
        presence.health(ids[2], {"faults": "", "battery_mv": 3100})
        presence.hello(Hello("ja-hyd-999999", "0.4.2", "a", 1, "hydrant", (), 1))  # not ours
        pub(f"{prefix}/jingan/hydrant/{ids[3]}/status", b"\xff\x00garbage")
        pub(
            f"{prefix}/jingan/edges/edge-ja-1/status",
            topics.document(
                {
                    "edge": "edge-ja-1",
                    "district": "jingan",
                    "version": "0.1.0",
                    "nodes": 5,
                    "journal": {"rows": 0},
                }
            ),
        )
        pub.flush()
        wait_for(lambda: ing.counters.received >= 11 and ing.pending() == 0, 10)
        wait_for(lambda: ing.counters.unknown == 1 and ing.counters.bad == 1, 10)
        wait_for(lambda: ing.counters.edges >= 1 and ing.counters.applied >= 5, 10)
        nodes = {n: reg.get_node(ADMIN, n) for n in ids}
        for i, node in enumerate(ids):
            n = nodes[node]
            assert (n["firmware"], n["slot"], n["boot"], n["edge"]) == (
                "0.4.2",
                "b",
                10 + i,
                "edge-ja-1",
            )
            assert n["last_seen"] is not None and abs((now() - n["last_seen"]).total_seconds()) < 30
        assert [nodes[i]["health"] for i in ids] == [
            "ok",
            "faulty",
            "degraded",
            "unknown",
            "unknown",
        ]
        assert nodes[ids[1]]["health_detail"]["faults"] == "bme280:no ack"
        edge = reg.get_edge("edge-ja-1")
        assert edge["version"] == "0.1.0" and edge["status"]["nodes"] == 5
        assert edge["state"] == "online"
        # the edge's presence (its last will says offline)
        pub(
            f"{prefix}/jingan/edges/edge-ja-1/presence",
            topics.document(
                {
                    "edge": "edge-ja-1",
                    "state": "offline",
                    "district": "jingan",
                    "since": time.time(),
                }
            ),
        )
        pub.flush()
        wait_for(lambda: reg.get_edge("edge-ja-1")["state"] == "offline", 10)
    finally:
        pub.close()
        ing.stop()


def test_old_retained_documents_do_not_move_a_node_back(reg: Registry) -> None:
    register(reg, ["n-1"])
    ing = StatusIngester(reg, host="127.0.0.1", port=1, prefix="x", flush_s=0.05)
    t = time.time()
    newer = cbor2.dumps({"node": "n-1", "firmware": "2.0", "slot": "b", "boot": 9, "hello_at": t})
    older = cbor2.dumps(
        {"node": "n-1", "firmware": "1.0", "slot": "a", "boot": 3, "hello_at": t - 3600}
    )
    ing.handle("x/jingan/hydrant/n-1/status", newer)
    assert ing.flush() == 1
    ing.handle("x/jingan/hydrant/n-1/status", older)  # e.g. a stale retained copy
    ing.handle(
        "x/jingan/hydrant/n-1/presence", json.dumps({"node": "n-1", "last_seen": t - 7200}).encode()
    )
    assert ing.flush() == 1
    n = reg.get_node(ADMIN, "n-1")
    assert (n["firmware"], n["slot"], n["boot"]) == ("2.0", "b", 9)
    assert abs(n["last_seen"].timestamp() - t) < 0.01
    # a presence document moves last_seen forward without touching the status fields
    ing.handle(
        "x/jingan/hydrant/n-1/presence",
        json.dumps({"node": "n-1", "last_seen": t + 60, "state": "offline"}).encode(),
    )
    ing.flush()
    n = reg.get_node(ADMIN, "n-1")
    assert abs(n["last_seen"].timestamp() - (t + 60)) < 0.01 and n["firmware"] == "2.0"
    # bad input is counted, never raised
    for topic, payload in (
        ("x/jingan/hydrant/n-1/status", b""),
        ("x/jingan/hydrant/n-1/status", cbor2.dumps([1, 2])),
        ("x/jingan/hydrant/n-1/status", b"{not json"),
        ("x/too/short", b"{}"),
        (
            "x/jingan/hydrant/n-1/status",
            cbor2.dumps({"hello_at": "yesterday", "boot": -5, "slot": "z", "firmware": 7}),
        ),
    ):
        ing.handle(topic, payload)
    assert ing.counters.bad == 4
    ing.flush()
    n = reg.get_node(ADMIN, "n-1")
    assert n["firmware"] == "2.0"


def test_batches_and_coalescing(reg: Registry, broker: Broker) -> None:
    """Many reports become few transactions; several reports of a node become one row write."""
    prefix = f"cb{random.getrandbits(24)}"
    ids = [f"ja-man-{i:06d}" for i in range(3000)]
    register(reg, ids)
    ing = StatusIngester(
        reg, host="127.0.0.1", port=broker.port, prefix=prefix, flush_s=0.2, max_batch=2000
    )
    ing.start()
    pub = Publisher(broker.port)
    try:
        assert ing.wait_connected(10)
        t = time.time()
        for rnd in range(2):
            for i, node in enumerate(ids):
                doc = {
                    "node": node,
                    "kit": "manhole",
                    "firmware": f"1.{rnd}",
                    "slot": "a",
                    "boot": rnd,
                    "hello_at": t + rnd + i * 1e-6,
                }
                pub(f"{prefix}/jingan/manhole/{node}/status", cbor2.dumps(doc), retain=False)
        pub.flush()
        wait_for(lambda: ing.counters.received == 6000 and ing.pending() == 0, 30)
        wait_for(lambda: reg.list_nodes(firmware="1.1", limit=1000).next_cursor is not None, 10)
        assert ing.counters.flushes < 20
        assert len(reg.list_nodes(firmware="1.0", limit=10).items) == 0
    finally:
        pub.close()
        ing.stop()


def test_node_report_shapes() -> None:
    r = node_report(
        "status",
        "n",
        {
            "firmware": "1",
            "slot": "a",
            "boot": 2,
            "hello_at": 100.5,
            "health": {"faults": "", "heap_free": 5, "nested": {"x": 1}},
            "health_at": 200,
        },
    )
    assert r.health == "ok" and r.health_detail == {"faults": "", "heap_free": 5}
    assert r.status_at is not None and r.status_at.timestamp() == 200
    p = node_report("presence", "n", {"last_seen": 300, "firmware": "ignored"})
    assert p.firmware is None and p.last_seen is not None
    merged = NodeStatus(node="n")
    merged.merge(r)
    merged.merge(p)
    assert merged.firmware == "1" and merged.last_seen == p.last_seen
    assert decode_document(b'{"a": 1}') == {"a": 1}
