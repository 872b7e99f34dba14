"""MQTT 3.1.1 packets, without I/O: the codec shared by the edge's publisher
(:mod:`edge_agent.uplink.mqtt`) and the fleet manager's subscriber
(:mod:`fleet.mqtt_sub`).

Only what those two need: CONNECT (clean session, optional retained QoS 1 will,
user name and password), SUBSCRIBE, the remaining-length varint both ways and
the broker's CONNACK refusal reasons.
"""

from __future__ import annotations

from collections.abc import Sequence

CONNACK_CODES = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}
PINGREQ = b"\xc0\x00"


class MqttError(Exception):
    """The broker refused us or spoke nonsense."""


def varint(n: int) -> bytes:
    """``n`` as an MQTT remaining length (7 bits per byte, low first)."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def read_length(buf: bytes | bytearray, i: int, end: int) -> tuple[int, int] | None:
    """The remaining length starting at ``buf[i]`` and the index after it; None when
    ``buf[:end]`` ends inside it. MqttError when it runs past four bytes."""
    length = 0
    shift = 0
    while True:
        if i >= end:
            return None
        byte = buf[i]
        length |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return length, i
        shift += 7
        if shift > 21:
            raise MqttError("malformed remaining length (more than 4 bytes)")


def encode_str(data: bytes) -> bytes:
    """An MQTT string or binary field: two bytes of length, then the bytes."""
    return len(data).to_bytes(2, "big") + data


def connect_packet(
    *,
    client_id: str,
    keepalive_s: int,
    username: str = "",
    password: str = "",
    will: tuple[bytes, bytes] | None = None,
) -> bytes:
    """A CONNECT with a clean session; the will (topic, payload) is retained at QoS 1."""
    flags = 0x02
    payload = encode_str(client_id.encode())
    if will is not None:
        flags |= 0x04 | 0x08 | 0x20
        payload += encode_str(will[0]) + encode_str(will[1])
    if username:
        flags |= 0x80
        payload += encode_str(username.encode())
        if password:
            flags |= 0x40
            payload += encode_str(password.encode())
    body = b"\x00\x04MQTT\x04" + bytes((flags,)) + keepalive_s.to_bytes(2, "big") + payload
    return b"\x10" + varint(len(body)) + body


def subscribe_packet(pid: int, topics: Sequence[tuple[str, int]]) -> bytes:
    """A SUBSCRIBE to topic filters, each with its QoS."""
    body = pid.to_bytes(2, "big") + b"".join(
        encode_str(t.encode()) + bytes((q,)) for t, q in topics
    )
    return b"\x82" + varint(len(body)) + body
