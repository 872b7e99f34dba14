"""The edge's side of one node connection, as a state machine without I/O.

Bytes from the node go in through :meth:`EdgeSession.feed`, which returns
events; frames for the node accumulate until :meth:`EdgeSession.data_to_send`
takes them. The transport (TCP, serial) decides what to do with a
:class:`Refused` event: a TCP connection is dropped when ``fatal`` is set; a
serial line keeps going after corruption.

Frames and message shapes come from :mod:`firmware.wire`; here the edge decodes
with cbor2 and verifies with CPython's :mod:`hmac` (both much faster than the
node's pure-Python code, and proved byte-compatible by the shared vectors).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any

import cbor2

from edge_agent.protocol.errors import EdgeProtocolError
from edge_agent.protocol.template import PackTemplate
from edge_agent.protocol.template import learn as learn_template
from firmware.wire import protocol as P
from firmware.wire.cbor import Decoder, Encoder
from firmware.wire.errors import WireError
from firmware.wire.frame import (
    COUNTER_LEN,
    FRAME_VERSION,
    HEADER_LEN,
    MAC_LEN,
    MAX_BODY,
    MIN_BODY,
    OVERHEAD,
    SYNC0,
    SYNC1,
    FrameReader,
    crc8,
)
from firmware.wire.mac import DIR_EDGE_TO_NODE, DIR_NODE_TO_EDGE, DOMAIN, ZERO_NONCE
from firmware.wire.senml import LABELS, MAX_RECORDS

try:  # the C HMAC object directly: copy/update/digest without the Python wrapper
    from _hashlib import hmac_new as _c_hmac_new

    def _hmac(key: bytes) -> Any:
        return _c_hmac_new(key, digestmod="sha256")

except ImportError:  # pragma: no cover - CPython without OpenSSL

    def _hmac(key: bytes) -> Any:
        return hmac.new(key, digestmod=hashlib.sha256)


_COUNTER_MAX = 0xFFFFFFFF
_LABEL_SET = frozenset(LABELS)
_DICT_ONLY = {dict}


@dataclass(frozen=True, slots=True)
class Hello:
    """A node announced itself; the welcome is already queued for sending."""

    node_id: str
    firmware: str
    slot: str
    boot: int
    kit: str
    caps: tuple[str, ...]
    protocol: int


@dataclass(frozen=True, slots=True)
class Batch:
    """Periodic readings: ``pack`` is the raw SenML CBOR pack, ``records`` its size."""

    node_id: str
    epoch: int
    seq: int
    pack: bytes
    records: int


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm; acknowledged like a batch, forwarded before any backlog."""

    node_id: str
    epoch: int
    seq: int
    kind: str
    severity: int
    pack: bytes
    records: int


@dataclass(frozen=True, slots=True)
class Status:
    """A health report."""

    node_id: str
    health: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The outcome of a command the edge relayed."""

    node_id: str
    command_id: int
    result: int
    detail: str


@dataclass(frozen=True, slots=True)
class Keepalive:
    """The node is alive; the edge has already queued its keepalive answer."""

    node_id: str


@dataclass(frozen=True, slots=True)
class OtaMessage:
    """An update message (types reserved for the OTA work), passed through as decoded."""

    node_id: str
    msg_type: int
    message: dict[Any, Any]


@dataclass(frozen=True, slots=True)
class Refused:
    """A frame was refused; ``fatal`` means the connection must be closed."""

    error: EdgeProtocolError
    fatal: bool


Event = Hello | Batch | Alarm | Status | CommandResult | Keepalive | OtaMessage | Refused

KeyLookup = Callable[[str], bytes | None]


class EdgeSession:
    """One node connection, seen from the edge."""

    def __init__(
        self,
        *,
        keys: KeyLookup,
        edge_id: str,
        config_version: Callable[[str], int] | None = None,
        keepalive_s: int = 60,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[int], bytes] = os.urandom,
        max_body: int = MAX_BODY,
        address: int = 0,
        peer: str = "",
    ) -> None:
        self._keys = keys
        self._edge_id = edge_id
        self._config_version = config_version
        self._keepalive_s = keepalive_s
        self._clock = clock
        self._nonce = nonce
        self._reader = FrameReader(max_body, peer)
        self._address = address
        self._peer = peer
        self._out = bytearray()
        self._heads: dict[int, bytes] = {}
        self._enc = Encoder(bytearray(MAX_BODY - COUNTER_LEN - MAC_LEN))
        self.node_id: str | None = None
        self.established = False
        self.closed = False
        self._rx_counter = -1
        self._tx_counter = 0
        self._rx_mac: Any = None
        self._tx_mac: Any = None
        self._template: PackTemplate | None = None
        self._template_misses = 0

    @property
    def peer(self) -> str:
        """The node id once known, else the transport's peer name."""
        return self.node_id or self._peer

    # --- incoming ------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Consume bytes from the node; return what they meant, in order."""
        events: list[Event] = []
        view = memoryview(data)
        reader = self._reader
        if reader.start == reader.end and not self.closed:
            # fast path: whole frames straight from the caller's bytes; anything
            # unusual (a partial frame, garbage, a bad CRC) goes to the reader,
            # which produces the same errors with the same offsets
            taken = self._fast_frames(view, events)
            if taken:
                reader.consumed += taken
                view = view[taken:]
                if not len(view) or self.closed:
                    return events
        while True:
            taken = self._reader.feed(view)
            view = view[taken:]
            while not self.closed:
                try:
                    body = self._reader.next_frame()
                except WireError as e:
                    # corruption: a TCP transport drops the connection, serial resyncs
                    events.append(Refused(EdgeProtocolError.wrap(e, self.peer), False))
                    continue
                if body is None:
                    break
                try:
                    events.append(self._receive(body, self._reader.header))
                except WireError as e:
                    error = EdgeProtocolError.wrap(e, self.peer)
                    fatal = not self.established or error.kind in ("protocol", "cbor")
                    events.append(Refused(error, fatal))
            if not len(view) or self.closed:
                return events

    def _fast_frames(self, view: memoryview, events: list[Event]) -> int:
        """Handle the complete, well-formed frames at the start of ``view``; return bytes used."""
        n = len(view)
        pos = 0
        limit = self._reader.max_body
        while n - pos >= OVERHEAD + MIN_BODY and not self.closed:
            if (
                view[pos] != SYNC0
                or view[pos + 1] != SYNC1
                or view[pos + 2] != FRAME_VERSION
                or crc8(view[pos + 2 : pos + 6]) != view[pos + 6]
            ):
                break
            body_len = (view[pos + 4] << 8) | view[pos + 5]
            end = pos + HEADER_LEN + body_len
            if body_len < MIN_BODY or body_len > limit or end + 4 > n:
                break
            if binascii.crc32(view[pos:end]) != int.from_bytes(view[end : end + 4], "big"):
                break
            self._reader.address = view[pos + 3]
            try:
                events.append(self._receive(view[pos + HEADER_LEN : end], view[pos + 2 : pos + 6]))
            except WireError as e:
                error = EdgeProtocolError.wrap(e, self.peer)
                fatal = not self.established or error.kind in ("protocol", "cbor")
                events.append(Refused(error, fatal))
            pos = end + 4
        return pos

    def _receive(self, body: memoryview, header: memoryview) -> Event:
        counter = int.from_bytes(body[:COUNTER_LEN], "big")
        mac_at = len(body) - MAC_LEN
        payload = body[COUNTER_LEN:mac_at]
        if not self.established:
            return self._hello(body, counter, payload, mac_at, header)
        mac = self._rx_mac.copy()
        mac.update(header)
        mac.update(body[:mac_at])
        if not hmac.compare_digest(mac.digest()[:MAC_LEN], body[mac_at:]):
            raise EdgeProtocolError("auth", "mac", "frame MAC does not verify", mac_at)
        if counter <= self._rx_counter:
            raise EdgeProtocolError(
                "auth",
                "replay",
                f"frame counter {counter} is not above {self._rx_counter} (replayed or reordered)",
            )
        self._rx_counter = counter
        node_id = self.node_id or ""
        template = self._template
        if template is not None and payload[0] == 0xA4:
            batch = self._templated_batch(template, node_id, payload)
            if batch is not None:
                return batch
        msg = self._decode(payload)
        if msg.get(P.K_TYPE) == P.MSG_BATCH and len(msg) == 4:
            # fast path for the common message; anything odd gets the full check
            epoch = msg.get(P.K_EPOCH)
            seq = msg.get(P.K_SEQ)
            if type(epoch) is int and type(seq) is int and 0 <= epoch <= _U64 and 0 <= seq <= _U64:
                pack = _pack_bytes(payload, msg)
                records = _fast_pack_check(msg.get(P.K_PACK), pack)
                if records:
                    return self._checked_batch(Batch(node_id, epoch, seq, pack, records))
        msg_type = P.check_message(msg, True)
        if msg_type == P.MSG_BATCH:
            return self._checked_batch(
                Batch(
                    node_id,
                    msg[P.K_EPOCH],
                    msg[P.K_SEQ],
                    _pack_bytes(payload, msg),
                    len(msg[P.K_PACK]),
                )
            )
        if msg_type == P.MSG_ALARM:
            return Alarm(
                node_id,
                msg[P.K_EPOCH],
                msg[P.K_SEQ],
                msg[P.K_ALARM],
                msg[P.K_SEVERITY],
                _pack_bytes(payload, msg),
                len(msg[P.K_PACK]),
            )
        if msg_type == P.MSG_KEEPALIVE:
            self._enc.reset()
            P.write_keepalive(self._enc, int(self._clock()))
            self._send_encoded()
            return Keepalive(node_id)
        if msg_type == P.MSG_STATUS:
            return Status(node_id, msg[P.K_HEALTH])
        if msg_type == P.MSG_COMMAND_RESULT:
            return CommandResult(
                node_id, msg[P.K_COMMAND_ID], msg[P.K_RESULT], msg.get(P.K_DETAIL, "")
            )
        if msg_type == P.MSG_HELLO:
            raise EdgeProtocolError("protocol", "state", "second hello on an established session")
        return OtaMessage(node_id, msg_type, msg)

    def _templated_batch(
        self, template: PackTemplate, node_id: str, payload: memoryview
    ) -> Batch | None:
        """The batch when the message is ``{0: 3, 10: epoch, 11: seq, 23: pack}`` in that
        order and the pack fits the session's template (module ``template``), else None."""
        try:
            if payload[1] != P.K_TYPE or payload[2] != P.MSG_BATCH or payload[3] != P.K_EPOCH:
                return None
            epoch = payload[4]  # mostly a one-byte integer
            at = 5
            if epoch >= 24:
                epoch, at = _uint_at(payload, 4)
            if at < 0 or payload[at] != P.K_SEQ:
                return None
            seq, at = _uint_at(payload, at + 1)
            if at < 0 or payload[at] != P.K_PACK:
                return None
        except IndexError:  # a short message: the full check says what is wrong
            return None
        pack = bytes(payload[at + 1 :])
        records = template.records_if_match(pack)
        if not records:
            return None
        self._template_misses = 0
        return Batch(node_id, epoch, seq, pack, records)

    def _checked_batch(self, batch: Batch) -> Batch:
        """A batch that passed the full check: learn its pack's template now and then.

        The template is learnt from the 1st, 2nd, 4th, 8th... fully checked batch
        since the last template hit, so a node whose packs keep changing shape
        costs little more than the full check."""
        misses = self._template_misses = self._template_misses + 1
        if not misses & (misses - 1):
            self._template = learn_template(batch.pack)
        return batch

    def _decode(self, payload: memoryview) -> dict[Any, Any]:
        try:
            msg = cbor2.loads(payload)
        except (cbor2.CBORDecodeError, ValueError, RecursionError) as e:
            raise EdgeProtocolError("cbor", "decode", f"message is not valid CBOR: {e}") from None
        if not isinstance(msg, dict):
            raise EdgeProtocolError("protocol", "shape", "message is not a map")
        return msg

    def _hello(
        self, body: memoryview, counter: int, payload: memoryview, mac_at: int, header: memoryview
    ) -> Event:
        msg = self._decode(payload)
        msg_type = P.check_message(msg, True)
        if msg_type != P.MSG_HELLO:
            raise EdgeProtocolError(
                "protocol", "state", f"expected hello, got {P.MESSAGE_NAMES[msg_type]}"
            )
        node_id: str = msg[P.K_NODE]
        key = self._keys(node_id)
        if key is None:
            raise EdgeProtocolError(
                "auth", "unknown_node", f"node {node_id!r} has no key on this edge", -1, -1, node_id
            )
        node_nonce: bytes = msg[P.K_NONCE]
        check = hmac.new(key, digestmod=hashlib.sha256)
        check.update(DOMAIN + bytes((DIR_NODE_TO_EDGE,)) + node_nonce + ZERO_NONCE)
        check.update(header)
        check.update(body[:mac_at])
        if not hmac.compare_digest(check.digest()[:MAC_LEN], body[mac_at:]):
            raise EdgeProtocolError("auth", "mac", "hello MAC does not verify", mac_at, -1, node_id)
        if msg[P.K_PROTOCOL] != P.PROTOCOL_VERSION:
            raise EdgeProtocolError(
                "protocol",
                "version",
                f"node speaks protocol {msg[P.K_PROTOCOL]}, edge {P.PROTOCOL_VERSION}",
                -1,
                -1,
                node_id,
            )
        edge_nonce = self._nonce(P.NONCE_LEN)
        self._rx_mac = _hmac(key)
        self._rx_mac.update(DOMAIN + bytes((DIR_NODE_TO_EDGE,)) + node_nonce + edge_nonce)
        self._tx_mac = _hmac(key)
        self._tx_mac.update(DOMAIN + bytes((DIR_EDGE_TO_NODE,)) + node_nonce + edge_nonce)
        self._rx_counter = counter
        self.node_id = node_id
        self.established = True
        config = self._config_version(node_id) if self._config_version else 0
        self._enc.reset()
        P.write_welcome(
            self._enc, edge_nonce, int(self._clock()), config, self._keepalive_s, self._edge_id
        )
        self._send_encoded()
        return Hello(
            node_id,
            msg[P.K_FIRMWARE],
            msg[P.K_SLOT],
            msg[P.K_BOOT],
            msg[P.K_KIT],
            tuple(msg[P.K_CAPS]),
            msg[P.K_PROTOCOL],
        )

    # --- outgoing ------------------------------------------------------------

    def _send_encoded(self) -> None:
        self._frame(self._enc.view())

    def _frame(self, payload: bytes | bytearray | memoryview) -> None:
        if self._tx_counter > _COUNTER_MAX:
            raise EdgeProtocolError(
                "protocol", "counter", "frame counter exhausted: reconnect", -1, -1, self.peer
            )
        body_len = COUNTER_LEN + len(payload) + MAC_LEN
        if body_len > MAX_BODY:
            raise EdgeProtocolError(
                "frame", "length", f"body of {body_len} bytes is out of range", 4, MAX_BODY
            )
        head = self._heads.get(body_len)
        if head is None:
            fields = bytes((FRAME_VERSION, self._address, body_len >> 8, body_len & 0xFF))
            head = self._heads[body_len] = bytes((SYNC0, SYNC1)) + fields + bytes((crc8(fields),))
        counter = self._tx_counter.to_bytes(COUNTER_LEN, "big")
        mac = self._tx_mac.copy()
        mac.update(head[2:6])
        mac.update(counter)
        mac.update(payload)
        frame = b"".join((head, counter, payload, mac.digest()[:MAC_LEN]))
        self._tx_counter += 1
        out = self._out
        out += frame
        out += binascii.crc32(frame).to_bytes(4, "big")

    def _require_established(self) -> None:
        if not self.established or self.closed:
            raise EdgeProtocolError(
                "protocol", "state", "session is not established", -1, -1, self.peer
            )

    def ack(self, epoch: int, seq: int, result: int = P.ACK_STORED) -> None:
        """Queue an ack: call only once the batch or alarm is durably stored."""
        self._require_established()
        if 0 <= epoch <= _U64 and 0 <= seq <= _U64 and 0 <= result < 24:
            # the bytes P.write_ack would write: {0: 5, 10: epoch, 11: seq, 12: result}
            self._frame(b"\xa4\x00\x05\x0a%b\x0b%b\x0c%c" % (_uint(epoch), _uint(seq), result))
            return
        self._enc.reset()
        P.write_ack(self._enc, epoch, seq, result)
        self._send_encoded()

    def command(self, command_id: int, name: str, args: dict[str, Any]) -> None:
        """Queue a command relayed from the fleet manager."""
        self._require_established()
        self._frame(
            cbor2.dumps(
                {
                    P.K_TYPE: P.MSG_COMMAND,
                    P.K_COMMAND_ID: command_id,
                    P.K_COMMAND: name,
                    P.K_ARGS: args,
                },
                canonical=True,
            )
        )

    def send_message(self, message: bytes) -> None:
        """Queue an already encoded edge-to-node message (e.g. an OTA chunk)."""
        self._require_established()
        self._frame(message)

    def data_to_send(self) -> bytes:
        """Take every frame queued for the node."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def close(self) -> None:
        """Refuse anything further; safe to call twice."""
        self.closed = True


_U64 = 0xFFFFFFFFFFFFFFFF


def _uint(n: int) -> bytes:
    """A CBOR unsigned integer in its shortest form (as the node's Encoder writes it)."""
    if n < 24:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x18, n))
    if n < 0x10000:
        return b"\x19" + n.to_bytes(2, "big")
    if n < 0x100000000:
        return b"\x1a" + n.to_bytes(4, "big")
    return b"\x1b" + n.to_bytes(8, "big")


def _uint_at(data: memoryview, i: int) -> tuple[int, int]:
    """(value, offset after it) of the CBOR unsigned integer at ``i``; (-1, -1) if none."""
    head = data[i]
    if head < 24:
        return head, i + 1
    if head < 28:
        end = i + 1 + (1 << (head - 24))
        return int.from_bytes(data[i + 1 : end], "big"), end
    return -1, -1


def _fast_pack_check(pack: object, raw: bytes) -> int:
    """The record count when ``pack`` surely passes ``check_pack``, else 0 (do the full check).

    No float can hide in a pack whose bytes hold no float head (0xf9-0xfb never
    occur in UTF-8 text); when one occurs (inside an integer, say) the values
    are checked one by one.
    """
    if type(pack) is not list or not 0 < len(pack) <= MAX_RECORDS:
        return 0
    if set(map(type, pack)) != _DICT_ONLY or not _LABEL_SET.issuperset(chain.from_iterable(pack)):
        return 0
    if b"\xf9" in raw or b"\xfa" in raw or b"\xfb" in raw:
        for rec in pack:
            for value in rec.values():
                if type(value) is float:
                    return 0
    return len(pack)


def _uint_len(n: int) -> int:
    """Encoded size of a CBOR head with argument n (shortest form)."""
    if n < 24:
        return 1
    if n < 0x100:
        return 2
    if n < 0x10000:
        return 3
    return 5 if n < 0x100000000 else 9


def _pack_bytes(payload: memoryview, msg: dict[Any, Any]) -> bytes:
    """Slice the raw SenML pack out of a batch or alarm message.

    K_PACK is the largest one-byte key, so in the node's deterministic encoding
    the pack is the message's last item. The fast path computes where it starts
    from the decoded fields before it (each key is one byte); when that does not
    land on ``key 23, array head`` (a peer that encodes non-canonically), the
    message head is walked item by item instead.
    """
    offset = 1 if len(msg) < 24 else 0
    for key, value in msg.items():
        if key == P.K_PACK or not offset:
            continue
        if type(value) is int and value >= 0:
            offset += 1 + _uint_len(value)
        elif type(value) is str:
            size = len(value.encode())
            offset += 1 + _uint_len(size) + size
        else:
            offset = 0
    if offset and payload[offset] == P.K_PACK and payload[offset + 1] >> 5 == 4:
        return bytes(payload[offset + 1 :])
    return _pack_bytes_walk(payload)


def _pack_bytes_walk(payload: memoryview) -> bytes:
    """The slow path of :func:`_pack_bytes`: skip the other pairs one by one."""
    dec = Decoder(payload)
    head = payload[0]
    pairs = head & 0x1F
    if head >> 5 != 5 or pairs >= 24:
        raise EdgeProtocolError("protocol", "shape", "message map head is not canonical")
    dec.pos = 1
    for index in range(pairs):
        key = dec.item(1)
        if key == P.K_PACK:
            if index != pairs - 1:
                raise EdgeProtocolError("protocol", "shape", "the pack is not the last field")
            return bytes(payload[dec.pos :])
        dec.item(1)
    raise EdgeProtocolError("protocol", "field", "message has no pack")
