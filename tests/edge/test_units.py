"""Units with properties: dedup ranges, payload splicing, the ingest path, metrics, MQTT packets."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path
from typing import Any

import cbor2
import pytest
from edge_helpers import batch_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.dedup import DedupIndex
from edge_agent.ingest import Ingest, NodeLink
from edge_agent.journal import ALARM, PERIODIC, SUBMIT_FULL, Entry, Journal
from edge_agent.logs import JsonFormatter, RateLimiter
from edge_agent.metrics import Registry
from edge_agent.presence import Presence
from edge_agent.topics import Topics, level
from edge_agent.uplink.packets import (
    MqttError,
    connect_packet,
    read_length,
    subscribe_packet,
    varint,
)
from firmware.wire import protocol as P
from firmware.wire.node_session import NodeSession
from hardware.virtual_node import demo_key

keys_st = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 5), st.integers(0, 300)), max_size=300
)


@given(keys_st)
def test_dedup_ranges_agree_with_a_set(keys: list[tuple[str, int, int]]) -> None:
    """Unbounded, the range index answers exactly like a set; save/load keeps every key."""
    index = DedupIndex(max_epochs=10, max_ranges=10_000)
    model: set[tuple[str, int, int]] = set()
    for key in keys:
        assert index.seen(*key) == (key in model)
        index.add(*key)
        model.add(key)
    for node in ("a", "b"):
        for ranges in index.ranges(node).values():
            for (lo1, hi1), (lo2, _hi2) in itertools.pairwise(ranges):
                assert lo1 <= hi1 < lo2 - 1  # disjoint, sorted, merged
    restored = DedupIndex(max_epochs=10, max_ranges=10_000)
    for node, blob in index.take_dirty().items():
        restored.load_node(node, blob)
    for node in ("a", "b"):
        for epoch in range(6):
            for seq in range(301):
                assert restored.seen(node, epoch, seq) == ((node, epoch, seq) in model)


@given(keys_st)
def test_bounded_dedup_never_claims_an_unseen_key(keys: list[tuple[str, int, int]]) -> None:
    """With tiny bounds the index forgets (a possible duplicate), never invents (a loss)."""
    index = DedupIndex(max_epochs=2, max_ranges=3)
    model: set[tuple[str, int, int]] = set()
    for key in keys:
        index.add(*key)
        model.add(key)
    for node in ("a", "b"):
        for epoch in range(6):
            for seq in range(301):
                if index.seen(node, epoch, seq):
                    assert (node, epoch, seq) in model


def _entry(cls: int, pack: bytes, node: str = "n-1", kind: str = "", severity: int = 0) -> Entry:
    return Entry(1, cls, node, 2, 300, "manhole", kind, severity, 0, 1, pack)


@given(
    st.lists(
        st.fixed_dictionaries(
            {0: st.text(max_size=30), 2: st.integers(-(2**40), 2**40)},
            optional={6: st.integers(0, 100), 1: st.text(max_size=5)},
        ),
        min_size=1,
        max_size=30,
    ),
    st.booleans(),
)
def test_the_spliced_payload_is_the_pack_plus_the_key(
    records: list[dict[int, Any]], alarm: bool
) -> None:
    """CBOR splice == decode, add ik (and alarm fields) to the first record, compare."""
    pack = cbor2.dumps(records)
    topics = Topics(prefix="p", district="d", edge_id="e")
    entry = _entry(ALARM if alarm else PERIODIC, pack, kind="flood", severity=2)
    out = cbor2.loads(topics.entry_payload(entry))
    expected = [dict(r) for r in records]
    expected[0]["ik"] = "n-1/2/300"
    if alarm:
        expected[0].update(alarm="flood", severity=2)
    assert out == expected


def test_a_wide_first_record_is_re_encoded_and_topics_are_sanitised() -> None:
    wide = cbor2.dumps([{i: i for i in range(-6, 9)} | {"x": 1, "y": 2, "z": 3, "w": 4}])
    topics = Topics(prefix="city", district="jing/an", edge_id="e+1", fmt="cbor")
    out = cbor2.loads(topics.entry_payload(_entry(ALARM, wide, kind="a/b", severity=300)))
    assert out[0]["ik"] == "n-1/2/300" and out[0]["severity"] == 300
    assert topics.alarm("man#hole", "n/1", "a/b") == b"city/jing_an/alarms/man_hole/n_1/a_b"
    assert topics.edge_presence() == b"city/jing_an/edges/e_1/presence"
    assert level("") == "_"


def test_metrics_render_prometheus_text() -> None:
    r = Registry()
    c = r.counter("things", "things done", ("kind",))
    c.inc("a")
    c.inc("b", value=2)
    r.gauge("level", "a level", lambda: 3.5)
    h = r.histogram("lat_seconds", "latency", (0.1, 1.0))
    h.observe(0.05)
    h.observe(5)
    text = r.render()
    assert (
        '# TYPE citynerve_edge_things_total counter\ncitynerve_edge_things_total{kind="a"} 1\n'
        in text
    )
    assert "citynerve_edge_level 3.5" in text
    assert 'citynerve_edge_lat_seconds_bucket{le="0.1"} 1' in text
    assert 'citynerve_edge_lat_seconds_bucket{le="+Inf"} 2' in text
    assert r.value("things", "b") == 2


def test_json_logs_and_the_rate_limiter() -> None:
    import logging

    record = logging.makeLogRecord(
        {"msg": "hello %s", "args": ("x",), "levelname": "WARNING", "node": "n1"}
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello x" and line["node"] == "n1" and line["level"] == "warning"
    now = [0.0]
    limiter = RateLimiter(interval_s=10, max_keys=2, clock=lambda: now[0])
    assert limiter.allow("a") and not limiter.allow("a") and limiter.suppressed == 1
    assert limiter.allow("b") and limiter.allow("c")  # over max_keys: the table is pruned
    now[0] = 11
    assert limiter.allow("a")


def test_connect_packet_carries_the_will() -> None:
    packet = connect_packet(
        client_id="c", keepalive_s=30, username="u", password="p", will=(b"t/w", b"off")
    )
    assert packet[0] == 0x10 and packet[2:9] == b"\x00\x04MQTT\x04"
    assert packet[9] == 0x02 | 0x04 | 0x08 | 0x20 | 0x80 | 0x40
    assert packet.endswith(b"\x00\x03t/w\x00\x03off\x00\x01u\x00\x01p")


@given(st.integers(0, (1 << 28) - 1), st.binary(max_size=4))
def test_remaining_length_round_trips(n: int, tail: bytes) -> None:
    """MQTT's remaining length (1-4 bytes of 7 bits): what varint writes, read_length
    reads back with the index after it, whatever follows; cut anywhere inside it,
    read_length asks for more (None)."""
    data = varint(n) + tail
    assert read_length(data, 0, len(data)) == (n, len(varint(n)))
    for cut in range(len(varint(n))):
        assert read_length(data, 0, cut) is None


def test_remaining_length_garbage() -> None:
    """A fifth continuation byte is not MQTT: refused, saying so."""
    with pytest.raises(MqttError, match="more than 4 bytes"):
        read_length(b"\xff\xff\xff\xff\x01", 0, 5)


def test_subscribe_packet() -> None:
    """SUBSCRIBE (0x82, reserved bits 0010) with the packet id and each filter's QoS."""
    packet = subscribe_packet(7, [("a/#", 1), ("b", 0)])
    assert packet == b"\x82\x0c\x00\x07\x00\x03a/#\x01\x00\x01b\x00"


# --- the ingest path with a real journal and in-memory links ---------------------------


class Wire:
    """An in-memory link end: what the edge wrote, and whether it closed."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True


def _ingest(tmp: Path, budget: int = 10**9) -> tuple[Ingest, Journal, list[Entry]]:
    forwarded: list[Entry] = []
    dedup = DedupIndex()
    holder: dict[str, Ingest] = {}
    journal = Journal(
        path=tmp / "j.sqlite",
        budget_bytes=budget,
        dedup=dedup,
        on_committed=lambda g: holder["i"].committed(g),
        on_failed=lambda g, e: holder["i"].failed(g, e),
    )
    journal.open()
    journal.start()
    topics = Topics(prefix="p", district="d", edge_id="e")
    presence = Presence(topics=topics, publish=lambda t, p: None, edge_id="e", keepalive_s=60)
    ingest = Ingest(
        keys=lambda n: demo_key(n) if n.startswith("n") else None,
        sleep_s=lambda n: 0,
        journal=journal,
        dedup=dedup,
        presence=presence,
        forward=forwarded.extend,
        edge_id="e",
        keepalive_s=60,
    )
    holder["i"] = ingest
    return ingest, journal, forwarded


async def _connect(ingest: Ingest, node_id: str) -> tuple[NodeLink, Wire, NodeSession]:
    wire = Wire()
    link = NodeLink(ingest=ingest, peer="mem", kind="tcp", write=wire.write, close=wire.close)
    ingest.opened(link)
    node = NodeSession(node_id, demo_key(node_id), os.urandom(16))
    link.feed(bytes(node.hello("f", "a", 1, "hydrant", [])))
    node.feed(bytes(wire.data))
    wire.data.clear()
    return link, wire, node


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["n1", "n2", "n3"]), st.integers(0, 12), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_ingest_acks_each_key_once_stored_then_as_duplicate(
    tmp_path_factory: Any, sends: list[tuple[str, int, bool]]
) -> None:
    """Any mix of sends, resends and reconnects: the first copy is stored and forwarded,
    every later one is acked as a duplicate, nothing is acked before its commit."""
    tmp = tmp_path_factory.mktemp("ingest")

    async def scenario() -> None:
        ingest, journal, forwarded = _ingest(tmp)
        links: dict[str, tuple[NodeLink, Wire, NodeSession]] = {}
        expected: dict[tuple[str, int], list[int]] = {}
        try:
            for node_id, seq, reconnect in sends:
                if reconnect or node_id not in links:
                    if node_id in links:
                        ingest.closed(links[node_id][0])
                    links[node_id] = await _connect(ingest, node_id)
                link, wire, node = links[node_id]
                before = len(wire.data)
                link.feed(bytes(node.send(batch_message(node_id, 1, seq, readings=3))))
                await journal.flush()
                acks = [v for n, v in node.feed(bytes(wire.data[before:])) if n == "ack"]
                wire.data.clear()
                assert len(acks) == 1 and acks[0][P.K_SEQ] == seq
                expected.setdefault((node_id, seq), []).append(acks[0][P.K_RESULT])
            for results in expected.values():
                assert results[0] == P.ACK_STORED
                assert all(r == P.ACK_DUPLICATE for r in results[1:])
            assert sorted((e.node, e.seq) for e in forwarded) == sorted(expected)
            assert journal.rows == len(expected)
        finally:
            await journal.close()

    asyncio.run(scenario())


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.integers(1, 64))
def test_garbage_into_the_ingest_path_never_raises(data: bytes, chunk: int) -> None:
    """Random bytes in any chunking: refused and closed (TCP) or skipped (serial), no exception."""
    tmp = Path(f"/tmp/ingest-fuzz-{os.getpid()}")
    tmp.mkdir(exist_ok=True)

    async def scenario() -> None:
        ingest, journal, _ = _ingest(tmp)
        try:
            for kind in ("tcp", "serial"):
                wire = Wire()
                link = NodeLink(
                    ingest=ingest, peer="x", kind=kind, write=wire.write, close=wire.close
                )
                ingest.opened(link)
                for i in range(0, len(data), chunk):
                    link.feed(data[i : i + chunk])
                assert ingest.journal.pending == 0
        finally:
            await journal.close()

    asyncio.run(scenario())


async def test_the_budget_refuses_periodic_beyond_it_and_keeps_room_for_alarms(
    tmp_path: Path,
) -> None:
    committed: list[Entry] = []
    journal = Journal(
        path=tmp_path / "j.sqlite",
        budget_bytes=2000,
        alarm_reserve_bytes=2000,
        when_full="refuse_new",
        dedup=DedupIndex(),
        on_committed=committed.extend,
        on_failed=lambda g, e: None,
    )
    journal.open()
    journal.start()
    pack = bytes(400)
    results = [journal.submit(_entry(PERIODIC, pack)) for _ in range(5)]
    assert results.count(SUBMIT_FULL) == 1
    assert [journal.submit(_entry(ALARM, pack)) for _ in range(5)].count(SUBMIT_FULL) == 1
    await journal.flush()
    assert len(committed) == 8 and journal.rows == 8
    done = await journal.checkpoint([(e.id, e.size) for e in committed[:3]], {"n": b""})
    assert done.ok and journal.rows == 5 and journal.bytes == 5 * (400 + 64)
    await journal.close()
    await journal.close()  # twice is fine
    reopened = Journal(
        path=tmp_path / "j.sqlite",
        budget_bytes=2000,
        dedup=DedupIndex(),
        on_committed=lambda g: None,
        on_failed=lambda g, e: None,
    )
    alarms = reopened.open()
    assert reopened.rows == 5 and len(alarms) == 4 and reopened.next_id == 9
    await reopened.close()


def test_presence_counts_states() -> None:
    published: list[tuple[bytes, bytes]] = []
    clock = [100.0]
    topics = Topics(prefix="p", district="d", edge_id="e", fmt="json")
    presence = Presence(
        topics=topics, publish=lambda t, p: published.append((t, p)), edge_id="e",
        keepalive_s=10, grace=2, clock=lambda: clock[0],
    )  # fmt: skip
    from edge_agent.protocol import Hello

    presence.hello(Hello("n1", "1.0", "a", 1, "hydrant", (), 1))
    presence.disconnected("n1", 100.0)
    clock[0] = 115.0
    presence.sweep()
    assert presence.counts()[("online",)] == 1
    clock[0] = 121.0
    presence.sweep()
    assert presence.counts()[("offline",)] == 1
    assert json.loads(published[-1][1])["state"] == "offline"
