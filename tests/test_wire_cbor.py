"""The node's CBOR codec (firmware/wire/cbor.py) against shared vectors, in every runtime.

The same vector files and the same runner (tests/mp/wire_runner.py) run under
CPython, under the real MicroPython binary with the firmware compiled from
source, and under MicroPython with the firmware compiled to .mpy by mpy-cross.
The CPython-only tests check the vector files themselves against cbor2 (the
edge agent's decoder) and an independent reference encoder, and fuzz the
encoder against both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import cbor2
import cbor_reference as ref
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_support import VECTORS

from firmware.wire import cbor
from firmware.wire.errors import CborError

RFC = VECTORS / "rfc8949_appendix_a.json"
MALFORMED = VECTORS / "malformed.json"

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def canon(v: Any) -> str:
    """A type-strict comparable form (``True`` and ``1`` differ, as in CBOR)."""
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def load(path: Any) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- the vector files themselves ------------------------------------------------------


def test_vector_files_are_one_vector_per_line() -> None:
    """The MicroPython runner reads the vector files a line at a time (a 64 KiB heap
    cannot parse them whole): its line reader yields exactly what json.load sees."""
    import wire_runner

    for path in sorted(VECTORS.glob("*.json")):
        doc = load(path)
        for key, value in doc.items():
            if isinstance(value, list):
                got = list(wire_runner.vectors(str(path), key))
            else:
                got = wire_runner.value_of(str(path), key)
            assert canon(got) == canon(value), f"{path.name}: {key}"


def test_rfc_table_agrees_with_cbor2_and_the_reference_encoder() -> None:
    """The RFC 8949 Appendix A table was typed in: every supported example's hex equals
    cbor2.dumps and the reference encoder for its value, and every unsupported example
    is well-formed CBOR that cbor2 decodes (refusing it is our subset's choice)."""
    doc = load(RFC)
    assert len(doc["supported"]) + len(doc["unsupported"]) == 81  # every row of Table 6
    for v in doc["supported"]:
        data = bytes.fromhex(v["hex"])
        assert cbor2.dumps(ref.to_cbor2(v["value"])).hex() == v["hex"], v["diag"]
        assert ref.encode(v["value"]).hex() == v["hex"], v["diag"]
        if isinstance(v["value"], int) and not isinstance(v["value"], bool):
            assert int(v["diag"]) == v["value"] == cbor2.loads(data)
        if (
            isinstance(v["value"], dict)
            and "$tag" in v["value"]
            and v["value"]["$tag"][0] in (2, 3)
        ):
            assert cbor2.loads(data) == int(v["diag"])  # bignums
    for v in doc["unsupported"]:
        data = bytes.fromhex(v["hex"])
        decoded = cbor2.loads(data)  # well-formed
        if v["code"] == "float":
            inner = decoded.value if isinstance(decoded, cbor2.CBORTag) else decoded
            assert isinstance(inner, float) or v["diag"].startswith("1("), v["diag"]
        elif v["code"] == "indefinite":
            assert cbor2.dumps(decoded) != data, v["diag"]  # the definite form differs
        else:
            assert v["code"] == "simple"


# --- RFC 8949 Appendix A in every runtime -----------------------------------------------


def test_rfc8949_appendix_a(wire_suite: Callable[..., Any], runtime: str) -> None:
    """Every RFC 8949 Appendix A example in the wire subset decodes to its value and
    encodes back to exactly its bytes (bytes, bytearray and memoryview input alike);
    every example outside the subset (floats, undefined, simple values, indefinite
    lengths) is refused with its CborError code at its offset. Same results in CPython,
    MicroPython from source and MicroPython from .mpy, in a 64 KiB MicroPython heap."""
    doc = load(RFC)
    out = wire_suite({"suite": "rfc", "path": str(RFC)}, heap="64k")
    problems = []
    for v, r in zip(doc["supported"], out["supported"], strict=True):
        if canon(r.get("value")) != canon(v["value"]):
            problems.append(f"decode {v['diag']}: {r}")
        if r.get("encoded") != v["hex"]:
            problems.append(f"encode {v['diag']}: {r.get('encoded') or r.get('encode_error')}")
        if not r["views_agree"]:
            problems.append(f"bytes/bytearray/memoryview disagree on {v['diag']}")
    for v, r in zip(doc["unsupported"], out["unsupported"], strict=True):
        err = r.get("error") or {}
        if (err.get("type"), err.get("code"), err.get("offset")) != (
            "CborError",
            v["code"],
            v["offset"],
        ):
            problems.append(f"{v['diag']} ({v['hex']}): want {v['code']}@{v['offset']}, got {r}")
    assert not problems, f"{runtime}:\n" + "\n".join(problems)


# --- malformed input ------------------------------------------------------------------------


def test_malformed_input_is_refused(wire_suite: Callable[..., Any], runtime: str) -> None:
    """Every non-well-formed input of malformed.json (two-byte simple values below 32,
    reserved additional information 28-30 of every major type, indefinite lengths,
    stray breaks, truncated heads and strings, declared lengths of up to 2**64-1 with
    a few bytes behind them, nesting beyond MAX_DEPTH, invalid UTF-8, duplicate keys,
    array/map keys, trailing bytes) raises CborError with the listed code and byte
    offset, never another exception - in a 64 KiB MicroPython heap, which also proves a
    huge declared length allocates nothing before it is refused. The deepest allowed
    nesting still decodes, and the encoder refuses (or encodes exactly) the listed
    values, including RFC 8949's bytewise map key order."""
    doc = load(MALFORMED)
    out = wire_suite(
        {
            "suite": "malformed",
            "path": str(MALFORMED),
            "sections": ["decode", "decode_ok", "encode"],
        },
        heap="64k",
    )
    problems = []
    for v, r in zip(doc["decode"], out["decode"], strict=True):
        err = r.get("error") or {}
        if (
            err.get("type") != "CborError"
            or err.get("code") != v["code"]
            or err.get("offset") != v["offset"]
        ):
            problems.append(
                f"{v['hex'][:40]} ({v['why']}): want {v['code']}@{v['offset']}, got {r}"
            )
        elif err.get("offset", -1) < 0 or not err.get("what"):
            problems.append(f"{v['hex'][:40]}: error without offset or text: {err}")
    for v, r in zip(doc["decode_ok"], out["decode_ok"], strict=True):
        if "value" not in r or cbor2.dumps(ref.to_cbor2(r["value"])).hex() != v["hex"]:
            problems.append(f"{v['why']}: {r}")
    for v, r in zip(doc["encode"], out["encode"], strict=True):
        want = v.get("hex") or v["code"]
        got = r.get("hex") or r["error"].get("code")
        if want != got:
            problems.append(f"encode {v['why']}: want {want}, got {r}")
    assert not problems, f"{runtime}:\n" + "\n".join(problems)


def test_invalid_utf8_is_refused_in_every_runtime(
    wire_suite: Callable[..., Any], runtime: str
) -> None:
    """Text strings that are not valid UTF-8 under RFC 3629 (overlong forms, UTF-16
    surrogates, code points above U+10FFFF, 5-byte sequences) are refused with
    CborError "utf8" - CPython's str() refuses them, and the edge decodes with cbor2,
    which refuses them too, so the node must not accept what the edge refuses.

    FIRMWARE BUG (fails under MicroPython): MicroPython's str(bytes, "utf-8") only
    checks the structure of sequences, so cbor.Decoder accepts all of these there.
    """
    doc = load(MALFORMED)
    out = wire_suite(
        {"suite": "malformed", "path": str(MALFORMED), "sections": ["decode_strict"]}, heap="64k"
    )
    accepted = []
    for v, r in zip(doc["decode_strict"], out["decode_strict"], strict=True):
        with pytest.raises(cbor2.CBORDecodeError):
            cbor2.loads(bytes.fromhex(v["hex"]))  # what the edge does with them
        err = r.get("error") or {}
        if err.get("code") != "utf8":
            accepted.append(f"{v['hex']} ({v['why']}) -> {r}")
    assert not accepted, f"{runtime} accepts invalid UTF-8:\n" + "\n".join(accepted)


def test_api_edges(wire_suite: Callable[..., Any], runtime: str) -> None:
    """The errors the encoder, PackWriter, frame writer, MacKey and NodeSession raise at
    the edges of their API are the same typed errors with the same codes in every
    runtime: buffer overflow, full pack (256 records), empty pack, no room for the
    message head, out-of-range frame bodies, short keys and nonces, sending before
    the welcome, a second hello, a frame before hello, after close, too big for the
    session, and an exhausted frame counter; and the pack array head grows from one
    to three bytes at 24 and 256 records."""
    c = wire_suite({"suite": "misc"}, heap="1m")

    def code(name: str) -> tuple[str, str]:
        err = c[name].get("error") or {}
        return err.get("type", "-"), err.get("code", "-")

    assert code("encoder_overflow") == ("CborError", "overflow")
    assert c["encoder_overflow"]["error"]["limit"] == 4
    assert c["dumps_grows"] == {"ok": 5003}
    assert code("pack_full") == ("ProtocolError", "records")
    assert c["pack_23"]["ok"][1][:2] == "97" and c["pack_23"]["ok"][2] == 23
    assert c["pack_24"]["ok"][1][:4] == "9818" and c["pack_24"]["ok"][2] == 24
    assert c["pack_256"]["ok"] == [0, "990100", 256]
    assert (
        c["pack_reset"]["ok"]
        == cbor2.dumps([{0: "trips", 2: 3, 6: cbor2.CBORTag(4, [-3, 1500])}]).hex()
    )
    assert code("pack_empty") == ("ProtocolError", "empty")
    assert code("pack_buffer_full") == ("CborError", "overflow")
    assert code("batch_head_no_room") == ("ProtocolError", "reserve")
    assert code("reader_max_body_low")[0] == "ValueError"
    assert code("reader_max_body_high")[0] == "ValueError"
    assert code("header_body_short") == ("FrameError", "length")
    assert code("header_body_long") == ("FrameError", "length")
    assert c["crc8_check"] == {"ok": 0xF4}  # CRC-8 (poly 0x07) check value of "123456789"
    assert code("mac_short_key")[0] == "ValueError"
    assert code("session_bad_nonce")[0] == "ValueError"
    assert code("send_before_welcome") == ("ProtocolError", "state")
    assert code("hello_twice") == ("ProtocolError", "state")
    events = c["feed_before_hello"]["ok"]
    assert [(e[0], e[1].get("code")) for e in events] == [("error", "state")]
    assert code("frame_after_close") == ("ProtocolError", "closed")
    assert code("session_message_too_big") == ("ProtocolError", "size")
    assert c["session_message_largest"] == {"ok": 64 + 11}
    last, err = c["counter_exhausted"]["ok"]
    assert last == "ffffffff" and err["code"] == "counter"


# --- the encoder against cbor2 and the reference, fuzzed (CPython) --------------------

INT31_EDGES = [
    2**30 - 1,
    2**30,
    -(2**30),
    -(2**30) - 1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**32,
    2**63,
    2**64 - 1,
    -(2**64),
    23,
    24,
    255,
    256,
    65535,
    65536,
    -24,
    -25,
]
ints = st.one_of(st.integers(-(2**64), 2**64 - 1), st.sampled_from(INT31_EDGES))
scalars = st.one_of(ints, st.binary(max_size=40), st.text(max_size=20), st.booleans(), st.none())
keys = st.one_of(ints, st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=30,
)


def py_to_json(v: Any) -> Any:
    """Python value -> the vectors' JSON convention, written without the firmware."""
    if isinstance(v, bytes):
        return {"$bytes": v.hex()}
    if isinstance(v, list):
        return [py_to_json(x) for x in v]
    if isinstance(v, dict):
        return {"$map": [[py_to_json(k), py_to_json(x)] for k, x in v.items()]}
    return v


@SETTINGS
@given(values)
def test_encoder_matches_cbor2_and_reference(value: Any) -> None:
    """Encoder.value on random nested ints (all of -2**64..2**64-1, with the int31 and
    64-bit edges), bytes, text, booleans, null, arrays and maps with int and text keys
    gives exactly the RFC 8949 core deterministic bytes (reference encoder); cbor2 and
    the node's own decoder read them back to the same value; and where cbor2's
    length-first canonical key order coincides with RFC 8949's bytewise order (always,
    for maps whose keys encode to equal lengths) the bytes equal
    cbor2.dumps(value, canonical=True)."""
    j = py_to_json(value)
    data = cbor.dumps(value)
    assert data == ref.encode(j)
    assert ref.encode(py_to_json(cbor2.loads(data))) == data
    assert ref.encode(py_to_json(cbor.loads(data))) == data
    if ref.key_orders_agree(j):
        assert data == cbor2.dumps(value, canonical=True)


def test_cbor2_canonical_differs_from_rfc8949_for_mixed_length_keys() -> None:
    """Documents why the property test compares with a reference encoder: cbor2's
    canonical=True sorts keys length-first (RFC 7049), RFC 8949 section 4.2.1 bytewise;
    the node follows RFC 8949. Protocol messages never mix key lengths."""
    value = {-1: 0, 100: 0}
    assert cbor.dumps(value).hex() == "a2186400" + "2000"
    assert cbor2.dumps(value, canonical=True).hex() == "a22000" + "186400"


def test_encoder_refuses_unsupported_types() -> None:
    """A value the wire cannot carry (a set, an object, a float) raises CborError with
    code "type" or "float" instead of writing anything wrong."""
    for v, code in (({1, 2}, "type"), (object(), "type"), (1.5, "float"), ([{"a": 0.1}], "float")):
        with pytest.raises(CborError) as e:
            cbor.dumps(v)
        assert e.value.code == code


# --- SenML packs fuzzed (CPython) --------------------------------------------------------

reading = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["num", "num", "num", "bool", "str"]),
        "n": st.sampled_from(["temp", "pressure", "level", "h2s", "trips", "door_open", "x" * 30]),
        "u": st.sampled_from(["", "Cel", "Pa", "m", "/", "m/s2"]),
        "m": ints,
        "e": st.one_of(st.just(0), st.integers(-30, 10)),
        "t_ms": st.one_of(
            st.integers(-(10**7), 10**11), st.sampled_from([0, 1000, -1000, 250, 2**31 + 7])
        ),
        "vb": st.booleans(),
        "vs": st.text(max_size=12),
    }
)


def expected_record(r: dict[str, Any], first: bool, bn: str, bt: int) -> dict[int, Any]:
    t = r["t_ms"]
    rec: dict[int, Any] = {0: r["n"], 6: t // 1000 if t % 1000 == 0 else Decimal(t).scaleb(-3)}
    if r["kind"] == "num":
        if r["u"]:
            rec[1] = r["u"]
        rec[2] = r["m"] if r["e"] == 0 else Decimal(r["m"]).scaleb(r["e"])
    elif r["kind"] == "bool":
        rec[4] = r["vb"]
    else:
        rec[3] = r["vs"]
    if first:
        rec[-2] = bn
        rec[-3] = bt
    return rec


def as_tagged(rec: dict[int, Any], r: dict[str, Any]) -> dict[int, Any]:
    """The record with cbor2 tags instead of Decimals (for an exact byte comparison)."""
    out = dict(rec)
    t = r["t_ms"]
    if t % 1000:
        out[6] = cbor2.CBORTag(4, [-3, t])
    if r["kind"] == "num" and r["e"] != 0:
        out[2] = cbor2.CBORTag(4, [r["e"], r["m"]])
    return out


@SETTINGS
@given(
    st.lists(reading, min_size=1, max_size=30),
    st.text(min_size=1, max_size=30),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
)
def test_pack_writer_matches_cbor2(
    readings: list[dict[str, Any]], bn: str, bt: int, epoch: int, seq: int
) -> None:
    """PackWriter + write_batch_head on random readings (negative values, mantissas up
    to +-2**64, decimal exponents -30..10, ms offsets negative, fractional and beyond
    int31, booleans, strings) give a batch that cbor2 decodes to exactly the intended
    SenML records (decimal fractions compared value-wise as Decimal), whose bytes equal
    cbor2's canonical encoding of the tagged records, and that check_message accepts."""
    import wire_node

    from firmware.wire import protocol as P

    recs = []
    tagged = []
    for i, r in enumerate(readings):
        spec = dict(r)
        if i == 0:
            spec.update(bn=bn, bt=bt)
        recs.append(expected_record(r, i == 0, bn, bt))
        tagged.append(as_tagged(recs[-1], r))
        readings[i] = spec
    data = wire_node.build_pack_message(
        {"epoch": epoch, "seq": seq, "readings": readings, "buf_size": 8192}
    )
    msg = cbor2.loads(data)
    assert msg == {0: 3, 10: epoch, 11: seq, 23: recs}
    assert data == cbor2.dumps({0: 3, 10: epoch, 11: seq, 23: tagged}, canonical=True)
    assert P.check_message(cbor.loads(data), True) == P.MSG_BATCH
