"""Frame authentication (firmware/wire/mac.py) against RFC 4231 and CPython's hmac.

MicroPython has hashlib.sha256 but no hmac module, so the node computes
HMAC-SHA256 from precomputed pads. These tests prove it equals CPython's
hmac (what the edge agent uses) in every runtime.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from wire_support import VECTORS

from firmware.wire import mac as MAC

RFC4231 = VECTORS / "rfc4231.json"


def test_rfc4231_table_matches_cpython_hmac() -> None:
    """The RFC 4231 values typed into rfc4231.json are what CPython's hmac computes."""
    for v in json.loads(RFC4231.read_text())["cases"]:
        got = hmac.new(
            bytes.fromhex(v["key"]), bytes.fromhex(v["data"]), hashlib.sha256
        ).hexdigest()
        assert got == v.get("hmac_sha256", got), v["case"]
        assert got.startswith(v.get("hmac_sha256_128", "")), v["case"]


def test_mac_key_rfc4231(wire_suite: Callable[..., Any], runtime: str) -> None:
    """MacKey.digest gives the RFC 4231 HMAC-SHA-256 of test cases 1-4, 6 and 7 (6 and
    7: a 131-byte key, hashed first because it is longer than the 64-byte block) and
    the 128-bit truncation of case 5, whole or split into bytes/bytearray/memoryview
    parts, in every runtime. Case 2's 4-byte key is below KEY_MIN, which MacKey
    refuses with ValueError; it runs zero-padded to 16 bytes (the same HMAC key)."""
    cases = json.loads(RFC4231.read_text())["cases"]
    out = wire_suite({"suite": "mac", "path": str(RFC4231)}, heap="64k")
    for v, r in zip(cases, out["cases"], strict=True):
        assert "error" not in r, (v["case"], r)
        if "hmac_sha256" in v:
            assert r["digest"] == v["hmac_sha256"], v["case"]
        else:
            assert r["digest"][:32] == v["hmac_sha256_128"], v["case"]
        assert r["parts_agree"], v["case"]
        if len(v["key"]) < 2 * MAC.KEY_MIN:
            assert r["short_key"]["type"] == "ValueError", v["case"]
    assert out["checks"] == {
        "equal_same": True,
        "equal_diff": False,
        "equal_len": False,
        "equal_empty": True,
    }


@settings(derandomize=True, database=None, deadline=None, max_examples=100)
@given(st.binary(min_size=MAC.KEY_MIN, max_size=200), st.binary(max_size=300), st.integers(0, 5))
def test_mac_key_matches_hmac(key: bytes, data: bytes, cut: int) -> None:
    """For random keys of 16..200 bytes (across the 64-byte block size) and data, and any
    split of the data into parts, MacKey.digest equals hmac.new(key, data, sha256)."""
    k = MAC.MacKey(key)
    want = hmac.new(key, data, hashlib.sha256).digest()
    assert k.digest((data,)) == want
    assert k.digest((data[:cut], memoryview(data)[cut:])) == want


@settings(derandomize=True, database=None, deadline=None, max_examples=100)
@given(
    st.binary(min_size=16, max_size=64),
    st.sampled_from([MAC.DIR_NODE_TO_EDGE, MAC.DIR_EDGE_TO_NODE]),
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=4, max_size=4),
    st.binary(min_size=4, max_size=200),
)
def test_frame_mac_is_the_documented_hmac(  # noqa: PLR0917 (hypothesis passes them)
    key: bytes, direction: int, node_nonce: bytes, edge_nonce: bytes, head: bytes, body: bytes
) -> None:
    """frame_mac is HMAC-SHA256(key, "CNv1" | direction | node nonce | edge nonce |
    header bytes 2..5 | body without the MAC), truncated to 16 bytes - the input the
    module documents and the edge computes with CPython's hmac."""
    want = hmac.new(
        key, b"CNv1" + bytes([direction]) + node_nonce + edge_nonce + head + body, hashlib.sha256
    ).digest()[:16]
    assert MAC.frame_mac(MAC.MacKey(key), direction, node_nonce, edge_nonce, head, body) == want
