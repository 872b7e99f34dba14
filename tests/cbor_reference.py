"""CPython-side references for the wire vectors, independent of the firmware.

- :func:`encode` is a from-scratch CBOR encoder with the core deterministic
  rules of RFC 8949 section 4.2.1 (shortest heads, definite lengths, map keys
  sorted by the bytewise lexicographic order of their encodings). It reads the
  JSON convention of the vector files (see ``tests/mp/wire_json.py``).
- :func:`to_cbor2` turns the same convention into the objects cbor2 encodes
  and decodes (``bytes``, ``CBORTag``, ``dict``), so a vector can be checked
  against cbor2, the decoder the edge agent uses.

cbor2's ``canonical=True`` is *not* the RFC 8949 order: cbor2 6.x sorts map
keys length-first (the RFC 7049 "canonical CBOR" rule), so ``-1`` (``0x20``)
comes before ``100`` (``0x18 0x64``), whereas RFC 8949 core deterministic
encoding puts ``0x1864`` first. The two orders agree whenever all keys of a
map encode to the same length (all wire messages and SenML records: their
keys are one-byte integers). :func:`key_orders_agree` tells the cases apart.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import cbor2

JsonValue = Any


def head(major: int, n: int) -> bytes:
    """The initial byte(s) of an item of ``major`` type with argument ``n``, shortest form."""
    mt = major << 5
    if n < 24:
        return bytes([mt | n])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([mt | ai]) + n.to_bytes(size, "big")
    raise ValueError(f"argument {n} does not fit in 64 bits")


def encode(j: JsonValue) -> bytes:
    """Encodes a JSON-convention value deterministically (RFC 8949 section 4.2.1)."""
    if j is None:
        return b"\xf6"
    if j is True:
        return b"\xf5"
    if j is False:
        return b"\xf4"
    if isinstance(j, int):
        return head(0, j) if j >= 0 else head(1, -1 - j)
    if isinstance(j, str):
        data = j.encode("utf-8")
        return head(3, len(data)) + data
    if isinstance(j, list):
        return head(4, len(j)) + b"".join(encode(x) for x in j)
    if isinstance(j, dict):
        if "$bytes" in j:
            data = bytes.fromhex(j["$bytes"])
            return head(2, len(data)) + data
        if "$tag" in j:
            return head(6, j["$tag"][0]) + encode(j["$tag"][1])
        if "$map" in j:
            pairs = sorted((encode(k), encode(v)) for k, v in j["$map"])
            keys = [k for k, _ in pairs]
            if len(set(keys)) != len(keys):
                raise ValueError("duplicate map key")
            return head(5, len(pairs)) + b"".join(k + v for k, v in pairs)
    raise TypeError(f"not a JSON-convention CBOR value: {j!r}")


def to_cbor2(j: JsonValue) -> Any:
    """The cbor2 object for a JSON-convention value (tags become ``cbor2.CBORTag``)."""
    if isinstance(j, list):
        return [to_cbor2(x) for x in j]
    if isinstance(j, dict):
        if "$bytes" in j:
            return bytes.fromhex(j["$bytes"])
        if "$tag" in j:
            return cbor2.CBORTag(j["$tag"][0], to_cbor2(j["$tag"][1]))
        if "$map" in j:
            return {to_cbor2(k): to_cbor2(v) for k, v in j["$map"]}
        raise TypeError(f"unknown convention object {j!r}")
    return j


def as_decoded_by_cbor2(j: JsonValue) -> Any:
    """What ``cbor2.loads`` returns for the encoding of ``j``: like :func:`to_cbor2`, but
    decimal fractions (tag 4) become ``Decimal`` and bignums (tags 2/3) become ``int``."""
    if isinstance(j, list):
        return [as_decoded_by_cbor2(x) for x in j]
    if isinstance(j, dict):
        if "$tag" in j:
            number, content = j["$tag"]
            if number == 4:
                exponent, mantissa = content
                return Decimal(mantissa).scaleb(exponent)
            if number in (2, 3):
                n = int.from_bytes(bytes.fromhex(content["$bytes"]), "big")
                return n if number == 2 else -1 - n
            return cbor2.CBORTag(number, as_decoded_by_cbor2(content))
        if "$map" in j:
            return {as_decoded_by_cbor2(k): as_decoded_by_cbor2(v) for k, v in j["$map"]}
    return to_cbor2(j)


def key_orders_agree(j: JsonValue) -> bool:
    """True when cbor2's length-first canonical key order equals the RFC 8949 bytewise
    order for every map in ``j``."""
    if isinstance(j, list):
        return all(key_orders_agree(x) for x in j)
    if isinstance(j, dict):
        if "$tag" in j:
            return key_orders_agree(j["$tag"][1])
        if "$map" in j:
            keys = [encode(k) for k, _ in j["$map"]]
            if sorted(keys) != sorted(keys, key=lambda k: (len(k), k)):
                return False
            return all(key_orders_agree(k) and key_orders_agree(v) for k, v in j["$map"])
    return True
