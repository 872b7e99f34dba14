"""Pack templates: a pack a template accepts always passes the full check, same record count."""

from __future__ import annotations

import io
import os
import random
from decimal import Decimal
from typing import Any

import cbor2
from edge_helpers import batch_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.protocol import Batch, EdgeSession, Refused
from edge_agent.protocol.template import learn
from firmware.wire import protocol as P
from firmware.wire.node_session import NodeSession
from firmware.wire.senml import LABELS, check_pack
from hardware.virtual_node import build_batch, demo_key


def _full_check(pack: bytes) -> int:
    """What the edge does without a template: decode all of it, then check_pack."""
    stream = io.BytesIO(pack)
    decoded = cbor2.CBORDecoder(stream).decode()
    assert stream.tell() == len(pack), "trailing bytes"
    return check_pack(decoded)


def _pack_of(message: bytes) -> bytes:
    return cbor2.dumps(cbor2.loads(message)[P.K_PACK])


values = st.one_of(
    st.integers(-(2**64), 2**64 - 1),
    st.text(max_size=30),
    st.binary(max_size=30),
    st.booleans(),
    st.none(),
    st.builds(
        lambda m, e: Decimal(m).scaleb(e),
        st.integers(-(2**63), 2**63 - 1),
        st.integers(-12, 12),
    ),
)
records = st.lists(
    st.dictionaries(st.sampled_from(LABELS), values, max_size=8), min_size=1, max_size=30
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(records, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4))
def test_whatever_a_template_accepts_passes_the_full_check(
    pack_records: list[dict[int, Any]], flips: list[tuple[int, int]]
) -> None:
    """Learnt from a checked pack; any bytes it accepts decode, pass check_pack, same count."""
    pack = cbor2.dumps(pack_records)
    assert _full_check(pack) == len(pack_records)
    template = learn(pack)
    assert template is not None  # every value kind above is covered
    assert template.records_if_match(pack) == len(pack_records)
    mutated = bytearray(pack)
    for at, byte in flips:
        mutated[at % len(mutated)] = byte
    if template.records_if_match(bytes(mutated)):
        assert _full_check(bytes(mutated)) == len(pack_records)


@settings(max_examples=200)
@given(records, st.randoms(use_true_random=False))
def test_other_numbers_of_the_same_width_fit_the_template(
    pack_records: list[dict[int, Any]], rng: random.Random
) -> None:
    """The same shape with new integer values (each in its head's range) is accepted."""
    template = learn(cbor2.dumps(pack_records))
    assert template is not None

    def renumber(value: Any) -> Any:
        if type(value) is int:
            for lo, hi in ((0, 15), (16, 23), (24, 255), (256, 65535), (65536, 2**32 - 1)):
                if lo <= value <= hi or lo <= -1 - value <= hi:
                    new = rng.randint(lo, hi)
                    return new if value >= 0 else -1 - new
            return value
        if type(value) is bool:
            return rng.random() < 0.5
        return value

    renumbered = [{k: renumber(v) for k, v in rec.items()} for rec in pack_records]
    assert template.records_if_match(cbor2.dumps(renumbered)) == len(pack_records)


def test_a_node_s_successive_batches_fit_its_first_pack_s_template() -> None:
    """build_batch packs of one node (new readings, new base time) keep the first's template."""
    template = learn(_pack_of(batch_message("ja-hyd-000001", 1, 0)))
    assert template is not None
    for seq in range(1, 50):
        assert template.records_if_match(_pack_of(batch_message("ja-hyd-000001", 1, seq))) == 20
    assert not template.records_if_match(_pack_of(batch_message("ja-hyd-000002", 1, 0)))
    assert not template.records_if_match(_pack_of(batch_message("ja-hyd-000001", 1, 0, 19)))


def test_unusual_packs_get_no_template() -> None:
    """Floats, nested items, indefinite lengths, trailing bytes: always the full check."""
    ok = cbor2.dumps([{0: "t", 2: 1}])
    assert learn(ok) is not None
    for pack in (
        cbor2.dumps([{0: "t", 2: 1.5}]),
        cbor2.dumps([{0: "t", 2: [1, 2]}]),
        cbor2.dumps([{0: "t", 2: {"a": 1}}]),
        cbor2.dumps([{0: "t", 99: 1}]),
        cbor2.dumps([{"n": "t"}]),
        cbor2.dumps([[1]]),
        cbor2.dumps({0: "t"}),
        cbor2.dumps([]),
        b"\x9f\xa1\x00\x61t\xff",  # indefinite-length array
        ok + b"\x00",
        ok[:-1],
    ):
        assert learn(pack) is None, pack.hex()


def _session(node_id: str) -> tuple[EdgeSession, NodeSession]:
    key = demo_key(node_id)
    edge = EdgeSession(keys=lambda _n: key, edge_id="edge-1")
    node = NodeSession(node_id, key, os.urandom(P.NONCE_LEN))
    edge.feed(bytes(node.hello("t", "a", 1, "hydrant", [])))
    for _ in node.feed(edge.data_to_send()):
        pass
    return edge, node


def test_the_session_gives_the_same_batches_with_and_without_templates() -> None:
    """Shapes that come and go, a float after many good packs: the same events as the full path."""
    node_id = "ja-hyd-000007"
    edge, node = _session(node_id)
    rng = random.Random(7)
    messages = []
    for seq in range(60):
        readings = 20 if seq % 17 else rng.randint(1, 30)
        messages.append(
            build_batch(node_id, 1, seq, base_time=1_790_000_000 + seq, readings=readings, rng=rng)
        )
    for seq, message in enumerate(messages):
        (event,) = edge.feed(bytes(node.frame(message)))
        assert isinstance(event, Batch)
        decoded = cbor2.loads(message)
        assert (event.epoch, event.seq) == (1, seq)
        assert event.pack == cbor2.dumps(decoded[P.K_PACK])
        assert event.records == len(decoded[P.K_PACK])
    # same shape and widths as the last pack, but one value is a float: refused
    bad = cbor2.loads(messages[-1])
    bad[P.K_SEQ] = 60
    bad[P.K_PACK][1][2] = 1.5
    (event,) = edge.feed(bytes(node.frame(cbor2.dumps(bad))))
    assert isinstance(event, Refused) and event.error.reason() == "protocol.pack"


def test_cut_or_altered_batches_after_a_template_get_the_full_check() -> None:
    """Every prefix and every one-byte change of a batch, authenticated, on a session
    with a template: the same event as on a session without one, never an exception."""
    node_id = "ja-hyd-000009"
    message = batch_message(node_id, 1, 1)
    variants = [message[:n] for n in range(1, len(message))]
    variants += [
        message[:at] + bytes((message[at] ^ 0x5A,)) + message[at + 1 :] for at in range(40)
    ]
    for variant in variants:
        results = []
        for learnt in (True, False):
            edge, node = _session(node_id)
            if learnt:
                (first,) = edge.feed(bytes(node.frame(batch_message(node_id, 1, 0))))
                assert isinstance(first, Batch)
            (event,) = edge.feed(bytes(node.frame(variant)))
            results.append(
                (event.epoch, event.seq, event.pack, event.records)
                if isinstance(event, Batch)
                else (type(event).__name__, getattr(getattr(event, "error", None), "code", None))
            )
        assert results[0] == results[1], variant.hex()
