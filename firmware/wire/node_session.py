# The node's side of a connection, without any I/O: bytes in through feed(),
# frames out as memoryviews into a preallocated buffer (valid until the next
# call that makes a frame). The link layer (TCP or UART) moves the bytes.
#
#   node                         edge
#   hello (counter 0)  ------->
#                      <-------  welcome (counter 0): edge nonce, time, config
#   batch / alarm      ------->
#                      <-------  ack (epoch, seq, result)
#   keepalive          <------>  keepalive
#                      <-------  command        command_result ------->
#
# feed() returns events as (name, value) tuples: ("welcome", msg),
# ("ack", msg), ("command", msg), ("keepalive", msg), ("ota", msg) and
# ("error", WireError) for a frame that was refused; one bad frame never hides
# the good frames after it. Only frames whose MAC verifies and whose counter is
# above every counter seen before produce message events.

from firmware.wire import protocol as P
from firmware.wire.cbor import Decoder, Encoder
from firmware.wire.errors import AuthError, ProtocolError, WireError
from firmware.wire.frame import (
    COUNTER_LEN,
    HEADER_LEN,
    MAC_LEN,
    NODE_MAX_BODY,
    OVERHEAD,
    FrameReader,
    write_header,
    write_trailer,
)
from firmware.wire.mac import (
    DIR_EDGE_TO_NODE,
    DIR_NODE_TO_EDGE,
    ZERO_NONCE,
    MacKey,
    equal,
    frame_mac,
)

STATE_IDLE = 0
STATE_HELLO_SENT = 1
STATE_ESTABLISHED = 2
STATE_CLOSED = 3

_COUNTER_MAX = 0xFFFFFFFF


class NodeSession:
    def __init__(
        self,
        node_id: str,
        key: bytes,
        nonce: bytes,
        address: int = 0,
        max_body: int = NODE_MAX_BODY,
    ) -> None:
        if len(nonce) != P.NONCE_LEN:
            raise ValueError("nonce must be %d random bytes" % P.NONCE_LEN)
        self.node_id = node_id
        self.key = MacKey(key)
        self.node_nonce = bytes(nonce)
        self.edge_nonce = ZERO_NONCE
        self.address = address
        self.state = STATE_IDLE
        self.tx_counter = 0
        self.rx_counter = -1
        self.tx = bytearray(OVERHEAD + max_body)
        self.tx_mv = memoryview(self.tx)
        # messages the node makes are encoded in place, behind header and counter
        self.enc = Encoder(self.tx, HEADER_LEN + COUNTER_LEN)
        self.max_message = max_body - COUNTER_LEN - MAC_LEN
        self.reader = FrameReader(max_body, "edge")
        self.edge_time = 0
        self.config_version = 0
        self.keepalive_s = 0
        self.edge_id = ""

    # --- outgoing ---------------------------------------------------------

    # Frames an encoded message (e.g. a batch read back from the flash queue).
    def frame(self, payload: bytes | bytearray | memoryview) -> memoryview:
        n = len(payload)
        if n > self.max_message:
            raise ProtocolError(
                "size", "message of %d bytes does not fit a frame" % n, -1, self.max_message, "edge"
            )
        p = HEADER_LEN + COUNTER_LEN
        self.tx[p : p + n] = payload
        return self._seal(n)

    # Adds header, counter, MAC and CRC around the n-byte message in tx.
    def _seal(self, n: int) -> memoryview:
        if self.state == STATE_CLOSED:
            raise ProtocolError("closed", "session is closed", -1, -1, "edge")
        if self.tx_counter > _COUNTER_MAX:
            raise ProtocolError("counter", "frame counter exhausted: reconnect", -1, -1, "edge")
        body_len = COUNTER_LEN + n + MAC_LEN
        tx = self.tx
        p = write_header(tx, self.address, body_len)
        c = self.tx_counter
        tx[p] = c >> 24
        tx[p + 1] = (c >> 16) & 0xFF
        tx[p + 2] = (c >> 8) & 0xFF
        tx[p + 3] = c & 0xFF
        mac_at = p + COUNTER_LEN + n
        tx[mac_at : mac_at + MAC_LEN] = frame_mac(
            self.key,
            DIR_NODE_TO_EDGE,
            self.node_nonce,
            self.edge_nonce,
            self.tx_mv[2:6],
            self.tx_mv[p:mac_at],
        )
        self.tx_counter = c + 1
        return self.tx_mv[: write_trailer(tx, body_len)]

    def _frame_encoded(self) -> memoryview:
        return self._seal(self.enc.pos - HEADER_LEN - COUNTER_LEN)

    def hello(
        self,
        firmware: str,
        slot: str,
        boot: int,
        kit: str,
        caps: list[str] | tuple[str, ...] = (),
    ) -> memoryview:
        if self.state != STATE_IDLE:
            raise ProtocolError("state", "hello was already sent on this session", -1, -1, "edge")
        self.enc.reset()
        P.write_hello(self.enc, self.node_id, self.node_nonce, firmware, slot, boot, kit, caps)
        out = self._frame_encoded()
        self.state = STATE_HELLO_SENT
        return out

    def _require_established(self) -> None:
        if self.state != STATE_ESTABLISHED:
            raise ProtocolError("state", "no welcome received yet", -1, -1, "edge")

    # Sends an already encoded batch or alarm message (see protocol.write_batch_head).
    def send(self, payload: bytes | bytearray | memoryview) -> memoryview:
        self._require_established()
        return self.frame(payload)

    def keepalive(self) -> memoryview:
        self._require_established()
        self.enc.reset()
        P.write_keepalive(self.enc)
        return self._frame_encoded()

    def status(self, health: dict[str, object]) -> memoryview:
        self._require_established()
        self.enc.reset()
        P.write_status(self.enc, health)
        return self._frame_encoded()

    def command_result(self, command_id: int, result: int, detail: str = "") -> memoryview:
        self._require_established()
        self.enc.reset()
        P.write_command_result(self.enc, command_id, result, detail)
        return self._frame_encoded()

    def close(self) -> None:
        self.state = STATE_CLOSED

    # --- incoming ---------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[str, object]]:
        events: list[tuple[str, object]] = []
        view = memoryview(data)
        while True:
            taken = self.reader.feed(view)
            view = view[taken:]
            while True:
                try:
                    body = self.reader.next_frame()
                except WireError as e:
                    events.append(("error", e))
                    continue
                if body is None:
                    break
                try:
                    event = self._receive(body)
                except WireError as e:
                    e.peer = "edge"
                    events.append(("error", e))
                    continue
                if event is not None:
                    events.append(event)
            if not len(view):
                return events

    def _receive(self, body: memoryview) -> tuple[str, object] | None:
        if self.state in (STATE_IDLE, STATE_CLOSED):
            raise ProtocolError("state", "frame received before hello was sent")
        counter = (body[0] << 24) | (body[1] << 16) | (body[2] << 8) | body[3]
        mac_at = len(body) - MAC_LEN
        msg = None
        edge_nonce = self.edge_nonce
        if self.state == STATE_HELLO_SENT:
            # the welcome brings the edge nonce its own MAC covers: read it first
            msg = _decode(body, mac_at)
            nonce = msg.get(P.K_NONCE) if isinstance(msg, dict) else None
            if not isinstance(nonce, bytes) or len(nonce) != P.NONCE_LEN:
                raise ProtocolError(
                    "field", "expected a welcome with a %d-byte nonce" % P.NONCE_LEN
                )
            edge_nonce = nonce
        expected = frame_mac(
            self.key,
            DIR_EDGE_TO_NODE,
            self.node_nonce,
            edge_nonce,
            self.reader.header,
            body[:mac_at],
        )
        if not equal(expected, body[mac_at:]):
            raise AuthError("mac", "frame MAC does not verify", mac_at)
        if counter <= self.rx_counter:
            raise AuthError(
                "replay",
                "frame counter %d is not above %d (replayed or reordered)"
                % (counter, self.rx_counter),
            )
        if msg is None:
            msg = _decode(body, mac_at)
        self.rx_counter = counter
        msg_type = P.check_message(msg, False)
        if self.state == STATE_HELLO_SENT:
            if msg_type != P.MSG_WELCOME:
                raise ProtocolError("state", "expected welcome, got %s" % P.MESSAGE_NAMES[msg_type])
            self.edge_nonce = edge_nonce
            self.edge_time = msg[P.K_TIME]  # type: ignore[index]
            self.config_version = msg[P.K_CONFIG]  # type: ignore[index]
            self.keepalive_s = msg[P.K_KEEPALIVE]  # type: ignore[index]
            self.edge_id = msg[P.K_EDGE]  # type: ignore[index]
            self.state = STATE_ESTABLISHED
            return ("welcome", msg)
        if msg_type == P.MSG_WELCOME:
            raise ProtocolError("state", "second welcome on an established session")
        if msg_type == P.MSG_ACK:
            return ("ack", msg)
        if msg_type == P.MSG_COMMAND:
            return ("command", msg)
        if msg_type == P.MSG_KEEPALIVE:
            return ("keepalive", msg)
        return ("ota", msg)


# Decodes the message between the counter and the MAC of a frame body.
def _decode(body: memoryview, mac_at: int) -> object:
    dec = Decoder(body[COUNTER_LEN:mac_at])
    msg = dec.item(0)
    if dec.pos != mac_at - COUNTER_LEN:
        raise ProtocolError(
            "trailing", "%d bytes follow the message" % (mac_at - COUNTER_LEN - dec.pos)
        )
    return msg
