"""NodeSession end to end, in CPython and in the real MicroPython, against a tiny edge.

The node runs firmware/wire/node_session.py behind a JSON-line driver
(tests/mp/wire_node.py): in-process under CPython, or as a long-lived
`micropython` process (source and .mpy). The edge is written here, in CPython,
from the shared frame and protocol modules plus CPython's hmac and cbor2 (not
the edge agent): it checks every node frame independently and makes frames for
the node, including replayed, reflected, reordered, foreign and corrupted ones.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import cbor2
import pytest
from wire_support import ALL_RUNTIMES, RUNNER_BOOT

from firmware.wire import frame as F
from firmware.wire import protocol as P

KEY = hashlib.sha256(b"citynerve test node key").digest()
NODE_NONCE = bytes(range(100, 116))
EDGE_NONCE = bytes(range(200, 216))
NODE_ID = "elevator-0042"


class TinyEdge:
    """The edge's half of one connection, independent of the node's code paths:
    frames parsed by the shared FrameReader, MACs by CPython's hmac, messages by
    cbor2 and the shared check_message."""

    def __init__(self, key: bytes = KEY, edge_nonce: bytes = EDGE_NONCE) -> None:
        self.key = key
        self.edge_nonce = edge_nonce
        self.node_nonce: bytes | None = None
        self.tx = 0
        self.rx = -1
        self.reader = F.FrameReader()

    def mac(self, direction: bytes, edge_nonce: bytes, head: bytes, body: bytes) -> bytes:
        assert self.node_nonce is not None
        msg = b"CNv1" + direction + self.node_nonce + edge_nonce + head + body
        return hmac.new(self.key, msg, hashlib.sha256).digest()[:16]

    def receive(self, frame_hex: str) -> dict[Any, Any]:
        """Parses, authenticates and checks one node frame; returns its message."""
        self.reader.feed(bytes.fromhex(frame_hex))
        view = self.reader.next_frame()
        assert view is not None and self.reader.pending() == 0
        head = bytes(self.reader.header)
        body = bytes(view)
        counter = int.from_bytes(body[:4], "big")
        msg: dict[Any, Any] = cbor2.loads(body[4:-16])
        edge_nonce = self.edge_nonce
        if self.node_nonce is None:
            assert msg[P.K_TYPE] == P.MSG_HELLO and counter == 0
            self.node_nonce = msg[P.K_NONCE]
            edge_nonce = bytes(16)
        assert hmac.compare_digest(body[-16:], self.mac(b"N", edge_nonce, head, body[:-16]))
        assert counter > self.rx, "node counters must rise"
        self.rx = counter
        P.check_message(msg, True)
        return msg

    def frame(
        self,
        payload: bytes,
        counter: int | None = None,
        direction: bytes = b"E",
        edge_nonce: bytes | None = None,
    ) -> bytes:
        """A frame to the node (the next counter unless one is given)."""
        if counter is None:
            counter = self.tx
            self.tx += 1
        body_len = 4 + len(payload) + 16
        buf = bytearray(F.OVERHEAD + body_len)
        F.write_header(buf, 0, body_len)
        body = counter.to_bytes(4, "big") + payload
        buf[7 : 7 + len(body)] = body
        buf[7 + len(body) : 7 + body_len] = self.mac(
            direction, self.edge_nonce if edge_nonce is None else edge_nonce, bytes(buf[2:6]), body
        )
        F.write_trailer(buf, body_len)
        return bytes(buf)

    def welcome(self, **kw: Any) -> bytes:
        return self.frame(
            cbor2.dumps(
                {
                    0: P.MSG_WELCOME,
                    P.K_NONCE: self.edge_nonce,
                    P.K_TIME: 1790000000,
                    P.K_CONFIG: 4,
                    P.K_KEEPALIVE: 45,
                    P.K_EDGE: "edge-7",
                }
            ),
            **kw,
        )

    def ack(self, epoch: int, seq: int, result: int = P.ACK_STORED, **kw: Any) -> bytes:
        return self.frame(
            cbor2.dumps({0: P.MSG_ACK, P.K_EPOCH: epoch, P.K_SEQ: seq, P.K_RESULT: result}), **kw
        )


class Node:
    """A node driven by JSON operations (wire_node.NodeDriver), in some runtime."""

    def __init__(self, call: Callable[[dict[str, Any]], Any]) -> None:
        self.call = call
        assert (
            self.call(
                {"op": "init", "node_id": NODE_ID, "key": KEY.hex(), "nonce": NODE_NONCE.hex()}
            )
            == {}
        )

    def frame(self, op: str, **kw: Any) -> str:
        reply = self.call({"op": op, **kw})
        assert "frame" in reply, reply
        return str(reply["frame"])

    def feed(self, data: bytes, chunk: int = 0) -> list[tuple[str, Any]]:
        reply = self.call({"op": "feed", "data": data.hex(), "chunk": chunk})
        assert "events" in reply, reply
        return [(e[0], e[1]) for e in reply["events"]]

    def state(self) -> dict[str, Any]:
        return dict(self.call({"op": "state"}))

    def hello(self) -> str:
        return self.frame(
            "hello", firmware="2.0.1", slot="b", boot=3, kit="elevator", caps=["accel", "current"]
        )


@pytest.fixture(params=ALL_RUNTIMES)
def node(request: pytest.FixtureRequest) -> Iterator[Node]:
    if request.param == "cpython":
        import wire_node

        yield Node(wire_node.NodeDriver().handle)
        assert wire_node.where()["implementation"] == "cpython"
        return
    start = request.getfixturevalue("mpy_process")
    helpers = request.getfixturevalue("mp_helpers")
    proc = start(
        RUNNER_BOOT,
        args=("serve",),
        heap="256k",
        mpy=request.param == "micropython-mpy",
        extra_path=(str(helpers),),
    )
    where = proc.request({"op": "where"})
    assert where["implementation"] == "micropython"
    assert where["cbor"].endswith(
        ".mpy" if request.param == "micropython-mpy" else "firmware/wire/cbor.py"
    )
    yield Node(proc.request)


def codes(events: list[tuple[str, Any]]) -> list[str]:
    return [e[0] if e[0] != "error" else f"{e[1]['kind']}.{e[1]['code']}" for e in events]


def establish(node: Node, edge: TinyEdge) -> None:
    hello = edge.receive(node.hello())
    assert (
        hello[P.K_NODE] == NODE_ID and hello[P.K_NONCE] == NODE_NONCE and hello[P.K_PROTOCOL] == 1
    )
    events = node.feed(edge.welcome())
    assert codes(events) == ["welcome"]


BATCH = {
    "fn": "batch",
    "args": {
        "epoch": 3,
        "seq": 10,
        "readings": [
            {
                "n": "accel_rms",
                "u": "m/s2",
                "m": 1234,
                "e": -3,
                "t_ms": 0,
                "bn": "urn:dev:cn:elevator-0042:",
                "bt": 1790000000,
            },
            {"n": "current", "u": "A", "m": -15, "e": -3, "t_ms": 250},
            {"kind": "bool", "n": "door_open", "vb": True, "t_ms": 1000},
            {"n": "trips", "u": "", "m": 2**31, "e": 0, "t_ms": 60000},
        ],
    },
}


def test_handshake_batch_ack(node: Node) -> None:
    """hello -> welcome -> batch -> ack, in order: the edge verifies every node frame with
    CPython's hmac (hello under the zero edge nonce), cbor2 reads the batch's SenML pack
    with the intended values (Decimal for decimal fractions), the node takes the welcome's
    time/config/keepalive/edge id, reports the ack, and counters rise on both sides."""
    edge = TinyEdge()
    establish(node, edge)
    st = node.state()
    assert (
        st["state"],
        st["edge_id"],
        st["edge_time"],
        st["config_version"],
        st["keepalive_s"],
    ) == (2, "edge-7", 1790000000, 4, 45)
    assert st["edge_nonce"] == EDGE_NONCE.hex()
    batch = edge.receive(node.frame("send", message=BATCH))
    assert batch[P.K_EPOCH] == 3 and batch[P.K_SEQ] == 10
    pack = batch[P.K_PACK]
    assert pack[0] == {
        -2: "urn:dev:cn:elevator-0042:",
        -3: 1790000000,
        0: "accel_rms",
        1: "m/s2",
        2: Decimal("1.234"),
        6: 0,
    }
    assert pack[1] == {0: "current", 1: "A", 2: Decimal("-0.015"), 6: Decimal("0.25")}
    assert pack[2] == {0: "door_open", 4: True, 6: 1}
    assert pack[3] == {0: "trips", 2: 2**31, 6: 60}
    events = node.feed(edge.ack(3, 10))
    assert codes(events) == ["ack"]
    assert events[0][1] == {"$map": [[0, 5], [10, 3], [11, 10], [12, 0]]}
    keep = edge.receive(node.frame("keepalive"))
    assert keep == {0: P.MSG_KEEPALIVE}
    status = edge.receive(
        node.frame("status", health={"$map": [["heap_free", 41000], ["ok", True]]})
    )
    assert status[P.K_HEALTH] == {"heap_free": 41000, "ok": True}
    assert node.state()["tx_counter"] == 4 and node.state()["rx_counter"] == 1


def test_command_and_result(node: Node) -> None:
    """A command from the edge (encoded by cbor2, not the node's encoder) reaches the node
    as a "command" event with its arguments, and the node's command_result verifies at
    the edge with the same command id and detail text."""
    edge = TinyEdge()
    establish(node, edge)
    cmd = cbor2.dumps(
        {
            0: P.MSG_COMMAND,
            P.K_COMMAND_ID: 2**33,
            P.K_COMMAND: "set_interval",
            P.K_ARGS: {"seconds": 30, "quantity": "accel_rms"},
        }
    )
    events = node.feed(edge.frame(cmd))
    assert codes(events) == ["command"]
    result = edge.receive(
        node.frame("command_result", command_id=2**33, result=P.CMD_FAILED, detail="busy: ü")
    )
    assert result == {
        0: P.MSG_COMMAND_RESULT,
        P.K_COMMAND_ID: 2**33,
        P.K_RESULT: P.CMD_FAILED,
        P.K_DETAIL: "busy: ü",
    }


def test_replayed_frame_is_refused(node: Node) -> None:
    """The same authentic frame fed twice: the second is refused with AuthError "replay"
    (its counter is not above the last one) and produces no message event."""
    edge = TinyEdge()
    establish(node, edge)
    ack = edge.ack(3, 10)
    assert codes(node.feed(ack)) == ["ack"]
    assert codes(node.feed(ack)) == ["auth.replay"]
    assert codes(node.feed(ack + edge.ack(3, 11))) == ["auth.replay", "ack"]


def test_reflected_frame_is_refused(node: Node) -> None:
    """The node's own frames fed back to it (an attacker reflecting them) fail the MAC
    (direction byte "N" instead of "E"): AuthError "mac", before and after the welcome."""
    edge = TinyEdge()
    hello = node.hello()
    edge.receive(hello)
    assert codes(node.feed(bytes.fromhex(hello))) == ["auth.mac"]
    assert codes(node.feed(edge.welcome())) == ["welcome"]
    keep = node.frame("keepalive")
    assert codes(node.feed(bytes.fromhex(keep))) == ["auth.mac"]
    assert node.state()["rx_counter"] == 0


def test_frame_from_another_connection_is_refused(node: Node) -> None:
    """A frame made for another connection (another edge nonce, or the same key with a
    different node nonce) fails the MAC: AuthError "mac", even with a fresh counter."""
    edge = TinyEdge()
    establish(node, edge)
    other = TinyEdge(edge_nonce=bytes(range(16)))
    other.node_nonce = NODE_NONCE
    assert codes(node.feed(other.ack(3, 10, counter=50))) == ["auth.mac"]
    stranger = TinyEdge()
    stranger.node_nonce = bytes(range(16, 32))
    assert codes(node.feed(stranger.ack(3, 10, counter=50))) == ["auth.mac"]
    wrong_key = TinyEdge(key=b"\x01" * 32)
    wrong_key.node_nonce = NODE_NONCE
    assert codes(node.feed(wrong_key.ack(3, 10, counter=50))) == ["auth.mac"]
    assert codes(node.feed(edge.ack(3, 10))) == ["ack"]


def test_reordered_frames(node: Node) -> None:
    """Frames arriving out of order: a lower counter after a higher one is refused as
    "replay" (the session keeps only the highest counter); a gap is accepted."""
    edge = TinyEdge()
    establish(node, edge)
    a2 = edge.ack(1, 2, counter=2)
    a1 = edge.ack(1, 1, counter=1)
    a5 = edge.ack(1, 5, counter=5)
    assert codes(node.feed(a2 + a1 + a5)) == ["ack", "auth.replay", "ack"]
    assert node.state()["rx_counter"] == 5


def test_corrupted_frame_then_good_frames(node: Node) -> None:
    """A frame with a flipped bit is refused by the framing layer (FrameError "crc") and
    the good frames around it still arrive; bytes fed one at a time work the same."""
    edge = TinyEdge()
    establish(node, edge)
    bad = bytearray(edge.ack(1, 1))
    bad[20] ^= 0x10
    events = node.feed(edge.ack(1, 2) + bytes(bad) + edge.ack(1, 3), chunk=1)
    got = codes(events)
    assert got[0] == "ack" and got[-1] == "ack" and "frame.crc" in got
    assert set(got[1:-1]) <= {"frame.crc", "frame.garbage"}


def test_frames_before_the_welcome(node: Node) -> None:
    """Before the welcome the node accepts nothing else: an authentic ack is refused
    (ProtocolError), a frame before hello is refused ("state"), sending a batch is
    refused ("state"); the welcome after all this still establishes the session."""
    early = TinyEdge()
    early.node_nonce = NODE_NONCE
    assert codes(node.feed(early.welcome())) == ["protocol.state"]  # before hello
    edge = TinyEdge()
    edge.receive(node.hello())
    reply = node.call({"op": "send", "message": BATCH})
    assert reply["error"]["code"] == "state"
    events = node.feed(edge.ack(1, 1))
    assert len(events) == 1 and events[0][0] == "error" and events[0][1]["kind"] == "protocol"
    assert events[0][1]["code"] in ("state", "field")
    assert node.state()["state"] == 1
    assert codes(node.feed(edge.welcome())) == ["welcome"]
    assert codes(node.feed(edge.welcome())) == ["protocol.state"]  # a second welcome


def test_welcome_with_wrong_key_or_nonce(node: Node) -> None:
    """A welcome whose MAC was made with another key, or whose MAC does not cover the
    nonce it carries, is refused ("mac") and the node keeps waiting for a real one."""
    edge = TinyEdge()
    edge.receive(node.hello())
    forger = TinyEdge(key=b"\x02" * 32)
    forger.node_nonce = NODE_NONCE
    assert codes(node.feed(forger.welcome())) == ["auth.mac"]
    swapped = edge.welcome(edge_nonce=bytes(16), counter=0)  # MAC over another edge nonce
    assert codes(node.feed(swapped)) == ["auth.mac"]
    assert node.state()["state"] == 1
    assert codes(node.feed(edge.welcome())) == ["welcome"]
