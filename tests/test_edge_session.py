"""The edge's transport-free session against the node's session (both CPython)."""

from __future__ import annotations

import os
import random

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.protocol import (
    Alarm,
    Batch,
    CommandResult,
    EdgeProtocolError,
    EdgeSession,
    Hello,
    Keepalive,
    OtaMessage,
    Refused,
    Status,
)
from firmware.wire import protocol as P
from firmware.wire.cbor import Encoder, dumps
from firmware.wire.frame import MAX_BODY
from firmware.wire.node_session import NodeSession
from firmware.wire.senml import PackWriter
from hardware.virtual_node import build_batch

KEY = bytes(range(32))
NODE = "ja-hyd-000042"


def keys(node_id: str) -> bytes | None:
    return KEY if node_id == NODE else None


def pair(
    *, node_id: str = NODE, key: bytes = KEY, clock: float = 1_790_000_000.0
) -> tuple[NodeSession, EdgeSession, list[object]]:
    node = NodeSession(node_id, key, os.urandom(16))
    edge = EdgeSession(keys=keys, edge_id="edge-1", clock=lambda: clock, peer="test")
    events = edge.feed(bytes(node.hello("1.2.3", "b", 7, "hydrant", ["ota", "alarm"])))
    node_events = node.feed(edge.data_to_send())
    return node, edge, [*events, *node_events]


def batch(seq: int, epoch: int = 1, readings: int = 20) -> bytes:
    return build_batch(
        NODE, epoch, seq, base_time=1_790_000_000, readings=readings, rng=random.Random(seq)
    )


def test_handshake_reports_hello_and_node_gets_welcome() -> None:
    """Hello yields a Hello event with every field; the node receives a verified welcome."""
    node, edge, events = pair()
    hello = events[0]
    assert hello == Hello(NODE, "1.2.3", "b", 7, "hydrant", ("ota", "alarm"), 1)
    name, welcome = events[1]  # type: ignore[misc]
    assert name == "welcome"
    assert welcome[P.K_TIME] == 1_790_000_000
    assert welcome[P.K_EDGE] == "edge-1"
    assert node.edge_time == 1_790_000_000 and node.keepalive_s == 60
    assert edge.established and edge.node_id == NODE


def test_batch_roundtrip_slices_the_exact_pack_and_ack_reaches_the_node() -> None:
    """The Batch event carries the pack bytes exactly as the node encoded them."""
    node, edge, _ = pair()
    message = batch(5000, epoch=3)
    (event,) = edge.feed(bytes(node.send(message)))
    assert isinstance(event, Batch)
    assert (event.node_id, event.epoch, event.seq, event.records) == (NODE, 3, 5000, 20)
    assert event.pack == cbor2.dumps(cbor2.loads(message)[P.K_PACK]) or message.endswith(event.pack)
    assert cbor2.loads(event.pack) == cbor2.loads(message)[P.K_PACK]
    edge.ack(3, 5000)
    ((name, ack),) = node.feed(edge.data_to_send())
    assert name == "ack" and ack == {0: P.MSG_ACK, 10: 3, 11: 5000, 12: P.ACK_STORED}


def test_alarm_status_keepalive_and_command_result() -> None:
    """Every node-to-edge message type becomes its event."""
    node, edge, _ = pair()
    buf = bytearray(512)
    pack = PackWriter(buf, P.BATCH_HEAD_MAX)
    pack.add_bool("valve_open", True, 0, NODE + ":", 1_790_000_100)
    start, end = pack.finish()
    head = P.write_batch_head(buf, start, bytearray(P.BATCH_HEAD_MAX), 1, 9, "tamper", 2)
    (alarm,) = edge.feed(bytes(node.send(memoryview(buf)[head:end])))
    assert isinstance(alarm, Alarm)
    assert (alarm.kind, alarm.severity, alarm.seq, alarm.records) == ("tamper", 2, 9, 1)
    assert cbor2.loads(alarm.pack)[0][4] is True

    (status,) = edge.feed(bytes(node.status({"heap_free": 41000, "faults": "ds18b20"})))
    assert status == Status(NODE, {"heap_free": 41000, "faults": "ds18b20"})

    (keep,) = edge.feed(bytes(node.keepalive()))
    assert keep == Keepalive(NODE)
    ((name, answer),) = node.feed(edge.data_to_send())
    assert name == "keepalive" and answer[P.K_TIME] == 1_790_000_000

    edge.command(77, "reboot", {"delay_s": 5})
    ((name, command),) = node.feed(edge.data_to_send())
    assert name == "command" and command[P.K_ARGS] == {"delay_s": 5}
    (result,) = edge.feed(bytes(node.command_result(77, P.CMD_OK, "rebooting")))
    assert result == CommandResult(NODE, 77, P.CMD_OK, "rebooting")


def test_reserved_ota_message_from_node_is_refused_until_designed() -> None:
    """OTA type codes are reserved: a node sending one gets a specific refusal."""
    node, edge, _ = pair()
    (event,) = edge.feed(bytes(node.send(dumps({0: P.MSG_OTA_RESULT, 12: 0}))))
    assert isinstance(event, Refused)
    assert event.error.reason() == "protocol.reserved"
    assert "reserved" in str(event.error)
    assert not isinstance(event, OtaMessage)


def test_unknown_node_is_refused_fatally_and_gets_no_welcome() -> None:
    """A hello from a node without a key is refused; nothing is sent back."""
    node = NodeSession("stranger", KEY, os.urandom(16))
    edge = EdgeSession(keys=keys, edge_id="e", peer="10.0.0.9:5000")
    (event,) = edge.feed(bytes(node.hello("1", "a", 1, "hydrant")))
    assert isinstance(event, Refused) and event.fatal
    assert event.error.reason() == "auth.unknown_node"
    assert "stranger" in str(event.error)
    assert edge.data_to_send() == b""


def test_hello_under_the_wrong_key_is_refused() -> None:
    """A node holding another key cannot open a session."""
    node = NodeSession(NODE, b"x" * 32, os.urandom(16))
    edge = EdgeSession(keys=keys, edge_id="e")
    (event,) = edge.feed(bytes(node.hello("1", "a", 1, "hydrant")))
    assert isinstance(event, Refused) and event.fatal
    assert event.error.reason() == "auth.mac"
    assert edge.data_to_send() == b""


def test_replay_reorder_and_cross_connection_frames_are_refused() -> None:
    """Replayed, reordered and other-connection frames fail; good frames still pass."""
    node, edge, _ = pair()
    first = bytes(node.send(batch(1)))
    second = bytes(node.send(batch(2)))
    assert isinstance(edge.feed(second)[0], Batch)
    (late,) = edge.feed(first)  # reordered: counter below the last
    assert isinstance(late, Refused) and late.error.reason() == "auth.replay"
    (again,) = edge.feed(second)  # replayed
    assert isinstance(again, Refused) and again.error.reason() == "auth.replay"

    other_node, other_edge, _ = pair()
    foreign = bytes(other_node.send(batch(3)))
    (cross,) = edge.feed(foreign)
    assert isinstance(cross, Refused) and cross.error.reason() == "auth.mac"
    assert isinstance(other_edge.feed(foreign)[0], Batch)
    assert isinstance(edge.feed(bytes(node.send(batch(4))))[0], Batch)


def test_reflected_edge_frame_is_refused() -> None:
    """The edge's own frame fed back to it fails (direction is in the MAC)."""
    _node, edge, _ = pair()
    edge.ack(1, 1)
    reflected = edge.data_to_send()
    (event,) = edge.feed(reflected)
    assert isinstance(event, Refused) and event.error.reason() == "auth.mac"


def test_garbage_between_frames_is_skipped_and_the_frames_survive() -> None:
    """Serial noise between frames costs only the noise."""
    node, edge, _ = pair()
    stream = (
        b"\x00\xc3\xffnoise"
        + bytes(node.send(batch(1)))
        + b"\xc3\x4e\x01zz"
        + bytes(node.send(batch(2)))
    )
    events = edge.feed(stream)
    batches = [e for e in events if isinstance(e, Batch)]
    refused = [e for e in events if isinstance(e, Refused)]
    assert [b.seq for b in batches] == [1, 2]
    assert refused and all(not r.fatal for r in refused)
    assert {r.error.kind for r in refused} == {"frame"}


def test_flipped_bit_is_a_crc_error_not_an_auth_error() -> None:
    """Corruption is counted as corruption, and the next frame is accepted."""
    node, edge, _ = pair()
    frame = bytearray(node.send(batch(1)))
    frame[40] ^= 0x10
    events = edge.feed(bytes(frame) + bytes(node.send(batch(2))))
    reasons = [e.error.reason() for e in events if isinstance(e, Refused)]
    assert "frame.crc" in reasons
    assert [e.seq for e in events if isinstance(e, Batch)] == [2]


def test_oversized_declared_length_is_refused_from_the_header() -> None:
    """A length above the receiver's limit is refused before any body byte arrives."""
    edge = EdgeSession(keys=keys, edge_id="e", max_body=512)
    node = NodeSession(NODE, KEY, os.urandom(16))
    big = bytes(node.hello("1" * 60, "a", 1, "hydrant", ["c" * 60] * 12))
    events = edge.feed(big[:7])  # the header alone
    assert len(big) > 512
    event = events[0]
    assert isinstance(event, Refused)
    assert event.error.reason() == "frame.length"
    # the rest of the header is then skipped as garbage while hunting for a sync
    assert all(isinstance(e, Refused) and e.error.kind == "frame" for e in events)
    assert event.error.limit == 512
    assert "512" in str(event.error)


def test_messages_from_the_wrong_direction_and_bad_shapes_are_refused() -> None:
    """An authenticated frame with a bad message is a protocol error naming the field."""
    node, edge, _ = pair()
    cases = {
        "protocol.direction": {0: P.MSG_ACK, 10: 1, 11: 1, 12: 0},
        "protocol.field": {0: P.MSG_BATCH, 10: 1, 11: -4, 23: [{0: "t", 2: 1}]},
        "protocol.type": {0: 99},
        "protocol.pack": {0: P.MSG_BATCH, 10: 1, 11: 1, 23: [{0: "t", 2: 1.5}]},
    }
    for reason, message in cases.items():
        node, edge, _ = pair()
        enc = Encoder(bytearray(256))
        try:
            enc.value(message)
            payload = enc.getvalue()
        except Exception:
            payload = cbor2.dumps(message)
        (event,) = edge.feed(bytes(node.send(payload)))
        assert isinstance(event, Refused), reason
        assert event.error.reason() == reason, (reason, str(event.error))
        assert event.fatal


def test_non_cbor_payload_is_refused_as_cbor() -> None:
    """Bytes that are not CBOR at all, inside a valid authenticated frame."""
    node, edge, _ = pair()
    (event,) = edge.feed(bytes(node.send(b"\xff\xff\xff")))
    assert isinstance(event, Refused) and event.error.reason() == "cbor.decode"


def test_ack_before_handshake_is_an_error() -> None:
    """The edge cannot ack on a session that has no node yet."""
    edge = EdgeSession(keys=keys, edge_id="e")
    with pytest.raises(EdgeProtocolError, match="not established"):
        edge.ack(1, 1)


def test_close_is_idempotent_and_stops_processing() -> None:
    """After close() nothing more is decoded; calling it twice is fine."""
    node, edge, _ = pair()
    edge.close()
    edge.close()
    assert edge.feed(bytes(node.send(batch(1)))) == []


def test_non_canonical_message_pack_is_still_sliced_correctly() -> None:
    """A peer that encodes the seq non-shortest still yields the exact pack bytes."""
    node, edge, _ = pair()
    pack = cbor2.loads(batch(1))[P.K_PACK]
    raw_pack = cbor2.dumps(pack)
    # seq 5 written in 4 bytes instead of 1
    payload = bytes([0xA4, 0x00, 0x03, 0x0A, 0x01, 0x0B, 0x1A, 0, 0, 0, 5, 0x17]) + raw_pack
    (event,) = edge.feed(bytes(node.send(payload)))
    assert isinstance(event, Batch) and event.seq == 5
    assert event.pack == raw_pack


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=40))
def test_fuzz_random_bytes_never_crash_the_edge_session(data: bytes, chunk: int) -> None:
    """Any byte stream yields only events: no exception escapes, buffers stay bounded."""
    node, edge, _ = pair()
    good = bytes(node.send(batch(1)))
    stream = data + good
    events = []
    for i in range(0, len(stream), chunk):
        events.extend(edge.feed(stream[i : i + chunk]))
        assert edge._reader.pending() <= MAX_BODY + 11
    for event in events:
        assert isinstance(event, Batch | Refused)
