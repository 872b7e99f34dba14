"""The ingester's MQTT subscriber: packet parsing (split anywhere, malformed), a real
Mosquitto, reconnecting after the broker restarts; poisoned batches and odd documents."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
import pytest
from fleet_helpers import ADMIN, Broker, make_registry, wait_for
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.uplink.packets import MqttError, varint
from fleet.ingest import StatusIngester
from fleet.mqtt_sub import MqttSubscriber, parse
from fleet.registry import Registry


def publish_packet(topic: str, payload: bytes, qos: int, pid: int = 0) -> bytes:
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + (pid.to_bytes(2, "big") if qos else b"") + payload
    return bytes((0x30 | (qos << 1),)) + varint(len(body)) + body


def test_parse_split_anywhere() -> None:
    stream = (
        publish_packet("a/b", b"x" * 200, 1, 7)
        + b"\x90\x03\x00\x01\x01"  # SUBACK
        + publish_packet("c", b"", 0)
        + publish_packet("d/e/f", b"\x00\xff" * 100, 1, 65535)
        + b"\xd0\x00"  # PINGRESP
    )
    for cut in range(len(stream) + 1):
        got: list[tuple[str, bytes]] = []
        acks = b""
        other: list[tuple[int, bytes]] = []
        buf = bytearray()
        for part in (stream[:cut], stream[cut:]):
            buf += part
            m, a, o, used = parse(buf)
            del buf[:used]
            got += m
            acks += a
            other += o
        assert not buf
        assert got == [("a/b", b"x" * 200), ("c", b""), ("d/e/f", b"\x00\xff" * 100)]
        assert acks == b"\x40\x02\x00\x07\x40\x02\xff\xff"
        assert [t for t, _ in other] == [9, 13]


def test_parse_refuses_garbage() -> None:
    with pytest.raises(MqttError, match="remaining length"):
        parse(bytearray(b"\x30\xff\xff\xff\xff\x01"))
    with pytest.raises(MqttError, match="limit"):
        parse(bytearray(b"\x30" + varint(5_000_000)))
    with pytest.raises(MqttError, match="shorter than its topic"):
        parse(bytearray(b"\x32\x03\x00\x05a"))


def test_subscriber_reconnects(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    got: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def take(msgs: list[tuple[str, bytes]]) -> None:
        with lock:
            got.extend(msgs)

    sub = MqttSubscriber(
        host="127.0.0.1", port=broker.port, topics=[("s/#", 1)], on_messages=take,
        client_id="t-sub", reconnect_min_s=0.05, reconnect_max_s=0.2, keepalive_s=2,
    )  # fmt: skip
    sub.start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"p{random.getrandbits(30)}")
    try:
        assert sub.connected.wait(10)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        for i in range(500):
            pub.publish(f"s/{i}", str(i).encode(), qos=1)
        wait_for(lambda: len(got) == 500, 10)
        time.sleep(2.5)  # idle past the keepalive: PINGREQs keep the session
        assert sub.connects == 1
        pub.loop_stop()
        pub.disconnect()
        broker.restart()
        wait_for(lambda: sub.connects == 2 and sub.connected.is_set(), 15)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"p{random.getrandbits(30)}")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        pub.publish("s/after", b"again", qos=1).wait_for_publish(5)
        wait_for(lambda: ("s/after", b"again") in got, 10)
    finally:
        pub.loop_stop()
        sub.stop()
        broker.stop()


def test_poisoned_batch_is_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = make_registry(f"sqlite:///{tmp_path / 'p.sqlite'}")
    try:
        reg.register_nodes(
            ADMIN, [{"id": f"n-{i}", "kit": "hydrant", "district": "ja"} for i in range(5)], None
        )
        real = reg.apply_status

        def picky(reports: Any) -> int:
            reports = list(reports)
            if any(r.node == "n-3" for r in reports):
                raise ValueError("the database refuses n-3")
            return real(reports)

        monkeypatch.setattr(reg, "apply_status", picky)
        ing = StatusIngester(reg, host="127.0.0.1", port=1, prefix="x")
        t = time.time()
        for i in range(5):
            ing.handle(f"x/ja/hydrant/n-{i}/status",
                       cbor2.dumps({"firmware": "2.1", "hello_at": t}))  # fmt: skip
        assert ing.flush() == 4
        assert ing.counters.rejected == 1 and ing.counters.flush_errors == 1
        assert reg.get_node(ADMIN, "n-4")["firmware"] == "2.1"
        assert reg.get_node(ADMIN, "n-3")["firmware"] is None
        assert ing.pending() == 0
    finally:
        reg.close()


def test_database_down_keeps_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = make_registry(f"sqlite:///{tmp_path / 'd.sqlite'}")
    try:
        reg.register_nodes(ADMIN, [{"id": "n-1", "kit": "hydrant", "district": "ja"}], None)
        ing = StatusIngester(reg, host="127.0.0.1", port=1, prefix="x")
        real = reg.apply_status

        def down(reports: Any) -> int:
            raise OSError("database unreachable")

        monkeypatch.setattr(reg, "apply_status", down)
        monkeypatch.setattr(ing, "_database_answers", lambda: False)
        ing.handle("x/ja/hydrant/n-1/status", cbor2.dumps({"firmware": "3", "hello_at": 5e8}))
        assert ing.flush() == 0 and ing.pending() == 1
        monkeypatch.setattr(reg, "apply_status", real)
        assert ing.flush() == 1
        assert reg.get_node(ADMIN, "n-1")["firmware"] == "3"
    finally:
        reg.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_odd_documents_are_stored_safely(backend: str, db_url_factory: Any) -> None:
    """NUL and control characters, NaN, bytes, deep nesting: cleaned, never a failed batch."""
    reg: Registry = make_registry(db_url_factory(backend, "odd"))
    try:
        reg.register_nodes(ADMIN, [{"id": "n-1", "kit": "hydrant", "district": "ja"}], None)
        ing = StatusIngester(reg, host="127.0.0.1", port=1, prefix="x")
        t = time.time()
        deep: Any = {"x": 1}
        for _ in range(20):
            deep = {"d": deep}
        ing.handle("x/ja/hydrant/n-1/status", cbor2.dumps({
            "firmware": "1.0\x00evil", "slot": "a", "hello_at": t, "health_at": t,
            "health": {"faults": "imu\x00:x\x1b", "temp": float("nan"), "blob": b"\x00\x01",
                       "big": 2**70, "nested": {"a": 1}},
        }))  # fmt: skip
        ing.handle("x/ja/edges/e\x01/status", cbor2.dumps({"edge": "e"}))  # bad topic level
        edge_doc = {"edge": "edge-1", "version": "0.1", "deep": deep, "text": "a\x00b",
                    "nan": float("inf"), "raw": b"\x00"}  # fmt: skip
        ing.handle("x/ja/edges/edge-1/status", cbor2.dumps(edge_doc))
        ing.flush()
        assert ing.counters.rejected == 0 and ing.counters.flush_errors == 0
        n = reg.get_node(ADMIN, "n-1")
        assert n["firmware"] is None and n["slot"] == "a"  # the bad text is not taken
        assert n["health"] == "faulty"
        assert n["health_detail"] == {"faults": "imu:x"}
        e = reg.get_edge("edge-1")
        assert e["status"]["text"] == "ab" and e["status"]["nan"] is None
        assert e["status"]["raw"] is None
        assert ing.counters.bad == 1
    finally:
        reg.close()
