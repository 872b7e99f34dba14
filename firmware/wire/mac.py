# Frame authentication: HMAC-SHA256 (RFC 2104) under the node's own key,
# truncated to 16 bytes (as HMAC-SHA-256-128, RFC 4868).
#
# The MAC input binds every frame to its connection, direction and position:
#   "CNv1" | direction | node nonce (16) | edge nonce (16) | frame header bytes
#   2..5 (version, address, length) | body without the MAC (counter, payload)
# so a frame replayed from another connection (other nonces), reflected back to
# its sender (other direction) or replayed or reordered within the connection
# (counter not above the last one) fails. The hello is sent before the edge
# nonce exists: its MAC uses 16 zero bytes in that place.
#
# MicroPython's hashlib has sha256 but no hmac module and no copy(): the node
# computes HMAC from precomputed pads. The edge agent uses CPython's hmac with
# the same input (proved equal by the shared test vectors).

import hashlib

try:
    from micropython import const
except ImportError:

    def const(x: int) -> int:  # type: ignore[misc]
        return x


MAC_LEN = const(16)
KEY_MIN = const(16)
DOMAIN = b"CNv1"
DIR_NODE_TO_EDGE = const(0x4E)  # "N"
DIR_EDGE_TO_NODE = const(0x45)  # "E"
ZERO_NONCE = bytes(16)
_BLOCK = const(64)


# HMAC-SHA256 with the key's pads computed once.
class MacKey:
    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_MIN:
            raise ValueError("node key must be at least %d bytes, got %d" % (KEY_MIN, len(key)))
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        ipad = bytearray(_BLOCK)
        opad = bytearray(_BLOCK)
        for i in range(_BLOCK):
            k = key[i] if i < len(key) else 0
            ipad[i] = k ^ 0x36
            opad[i] = k ^ 0x5C
        self._ipad = bytes(ipad)
        self._opad = bytes(opad)

    # Full 32-byte HMAC-SHA256 of the concatenation of parts.
    def digest(self, parts: tuple[bytes | bytearray | memoryview, ...]) -> bytes:
        inner = hashlib.sha256(self._ipad)
        for part in parts:
            inner.update(part)
        outer = hashlib.sha256(self._opad)
        outer.update(inner.digest())
        return outer.digest()


# The truncated frame MAC (see the layout above).
def frame_mac(
    key: MacKey,
    direction: int,
    node_nonce: bytes,
    edge_nonce: bytes,
    header: bytes | bytearray | memoryview,
    body: bytes | bytearray | memoryview,
) -> bytes:
    return key.digest((DOMAIN, bytes((direction,)), node_nonce, edge_nonce, header, body))[:MAC_LEN]


# Compares two byte strings in time that depends only on their length.
def equal(a: bytes | bytearray | memoryview, b: bytes | bytearray | memoryview) -> bool:
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
