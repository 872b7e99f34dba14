# Node <-> edge messages: type codes, field keys and the shape of each message.
# This module is the one home of these constants; docs/protocol.md explains them.
#
# A message is a CBOR map with small integer keys. Key 0 is the message type.
# Each other key has one meaning in every message that uses it. Unknown keys are
# ignored (a newer peer may add fields); known keys must have the listed type.
# K_PACK is the largest one-byte key, so in the deterministic encoding the pack
# is always the last item of a message and can be sliced out without re-encoding.

try:
    from micropython import const
except ImportError:

    def const(x: int) -> int:  # type: ignore[misc]
        return x


from firmware.wire.cbor import Encoder
from firmware.wire.errors import ProtocolError
from firmware.wire.senml import check_pack

PROTOCOL_VERSION = const(1)

# Message types.
MSG_HELLO = const(1)  # node -> edge, first frame of a connection
MSG_WELCOME = const(2)  # edge -> node, answer to hello
MSG_BATCH = const(3)  # node -> edge, periodic readings
MSG_ALARM = const(4)  # node -> edge, an event that needs attention now
MSG_ACK = const(5)  # edge -> node, a batch or alarm is stored durably
MSG_COMMAND = const(6)  # edge -> node, relayed from the fleet manager
MSG_COMMAND_RESULT = const(7)  # node -> edge, outcome of a command
MSG_STATUS = const(8)  # node -> edge, health report
MSG_KEEPALIVE = const(9)  # both ways, keeps the link and presence alive
# Reserved for over-the-air updates; their shapes belong to the OTA work.
MSG_OTA_OFFER = const(16)
MSG_OTA_CHUNK_REQUEST = const(17)
MSG_OTA_CHUNK = const(18)
MSG_OTA_RESULT = const(19)

MESSAGE_NAMES = {
    MSG_HELLO: "hello",
    MSG_WELCOME: "welcome",
    MSG_BATCH: "batch",
    MSG_ALARM: "alarm",
    MSG_ACK: "ack",
    MSG_COMMAND: "command",
    MSG_COMMAND_RESULT: "command_result",
    MSG_STATUS: "status",
    MSG_KEEPALIVE: "keepalive",
    MSG_OTA_OFFER: "ota_offer",
    MSG_OTA_CHUNK_REQUEST: "ota_chunk_request",
    MSG_OTA_CHUNK: "ota_chunk",
    MSG_OTA_RESULT: "ota_result",
}

NODE_TO_EDGE = (
    MSG_HELLO,
    MSG_BATCH,
    MSG_ALARM,
    MSG_COMMAND_RESULT,
    MSG_STATUS,
    MSG_KEEPALIVE,
    MSG_OTA_CHUNK_REQUEST,
    MSG_OTA_RESULT,
)
EDGE_TO_NODE = (MSG_WELCOME, MSG_ACK, MSG_COMMAND, MSG_KEEPALIVE, MSG_OTA_OFFER, MSG_OTA_CHUNK)

# Field keys.
K_TYPE = const(0)
K_NODE = const(1)  # text: node id
K_NONCE = const(2)  # bytes[16]: the sender's connection nonce (hello, welcome)
K_FIRMWARE = const(3)  # text: firmware version
K_SLOT = const(4)  # text: running app slot, "a" or "b"
K_BOOT = const(5)  # uint: boot count
K_KIT = const(6)  # text: sensor kit, e.g. "hydrant"
K_CAPS = const(7)  # array of text: capabilities
K_TIME = const(8)  # uint: edge clock, whole seconds since 1970-01-01 UTC
K_CONFIG = const(9)  # uint: config version the edge holds for the node
K_EPOCH = const(10)  # uint: idempotency epoch (the node's queue epoch)
K_SEQ = const(11)  # uint: idempotency sequence within the epoch
K_RESULT = const(12)  # uint: ACK_* or CMD_* result code
K_COMMAND_ID = const(13)  # uint: command id chosen by the fleet manager
K_COMMAND = const(14)  # text: command name
K_ARGS = const(15)  # map: command arguments
K_ALARM = const(16)  # text: alarm kind, e.g. "entrapment"
K_SEVERITY = const(17)  # uint: SEVERITY_*
K_HEALTH = const(18)  # map: health report (text keys)
K_KEEPALIVE = const(19)  # uint: keepalive interval in seconds (welcome)
K_EDGE = const(20)  # text: edge agent id (welcome)
K_PROTOCOL = const(21)  # uint: protocol version (hello)
K_DETAIL = const(22)  # text: human-readable detail (command result)
K_PACK = const(23)  # array: SenML pack (batch, alarm, status)

NONCE_LEN = const(16)
MAX_TEXT = const(64)  # node ids, versions, kits, command names
MAX_DETAIL = const(256)

# Ack results: the node deletes the item for STORED and DUPLICATE; REJECTED
# means the edge will never accept it (it is counted and deleted by the node).
ACK_STORED = const(0)
ACK_DUPLICATE = const(1)
ACK_REJECTED = const(2)

# Command results.
CMD_OK = const(0)
CMD_FAILED = const(1)
CMD_UNKNOWN = const(2)

SEVERITY_INFO = const(0)
SEVERITY_WARNING = const(1)
SEVERITY_CRITICAL = const(2)

_T_UINT = const(1)
_T_TEXT = const(2)
_T_NONCE = const(3)
_T_TEXTS = const(4)
_T_MAP = const(5)
_T_PACK = const(6)
_T_DETAIL = const(7)

# type -> ((key, value type, required), ...)
SHAPES = {
    MSG_HELLO: (
        (K_NODE, _T_TEXT, True),
        (K_NONCE, _T_NONCE, True),
        (K_FIRMWARE, _T_TEXT, True),
        (K_SLOT, _T_TEXT, True),
        (K_BOOT, _T_UINT, True),
        (K_KIT, _T_TEXT, True),
        (K_CAPS, _T_TEXTS, True),
        (K_PROTOCOL, _T_UINT, True),
    ),
    MSG_WELCOME: (
        (K_NONCE, _T_NONCE, True),
        (K_TIME, _T_UINT, True),
        (K_CONFIG, _T_UINT, True),
        (K_KEEPALIVE, _T_UINT, True),
        (K_EDGE, _T_TEXT, True),
    ),
    MSG_BATCH: ((K_EPOCH, _T_UINT, True), (K_SEQ, _T_UINT, True), (K_PACK, _T_PACK, True)),
    MSG_ALARM: (
        (K_EPOCH, _T_UINT, True),
        (K_SEQ, _T_UINT, True),
        (K_ALARM, _T_TEXT, True),
        (K_SEVERITY, _T_UINT, True),
        (K_PACK, _T_PACK, True),
    ),
    MSG_ACK: ((K_EPOCH, _T_UINT, True), (K_SEQ, _T_UINT, True), (K_RESULT, _T_UINT, True)),
    MSG_COMMAND: (
        (K_COMMAND_ID, _T_UINT, True),
        (K_COMMAND, _T_TEXT, True),
        (K_ARGS, _T_MAP, True),
    ),
    MSG_COMMAND_RESULT: (
        (K_COMMAND_ID, _T_UINT, True),
        (K_RESULT, _T_UINT, True),
        (K_DETAIL, _T_DETAIL, False),
    ),
    MSG_STATUS: ((K_HEALTH, _T_MAP, True), (K_PACK, _T_PACK, False)),
    MSG_KEEPALIVE: ((K_TIME, _T_UINT, False),),
}


def _bad(msg_type: int, key: int, what: str) -> ProtocolError:
    return ProtocolError(
        "field",
        "%s field %d %s" % (MESSAGE_NAMES.get(msg_type, "message"), key, what),
    )


def _check_value(msg_type: int, key: int, kind: int, value: object) -> None:
    if kind == _T_UINT:
        if type(value) is not int or value < 0:
            raise _bad(msg_type, key, "must be an unsigned integer")
        if value >= 0x10000000000000000:
            raise _bad(msg_type, key, "does not fit in 64 bits")
    elif kind in (_T_TEXT, _T_DETAIL):
        limit = MAX_TEXT if kind == _T_TEXT else MAX_DETAIL
        if not isinstance(value, str):
            raise _bad(msg_type, key, "must be text")
        if len(value) == 0 and kind == _T_TEXT:
            raise _bad(msg_type, key, "must not be empty")
        if len(value) > limit:
            raise _bad(msg_type, key, "is longer than %d characters" % limit)
    elif kind == _T_NONCE:
        if not isinstance(value, bytes) or len(value) != NONCE_LEN:
            raise _bad(msg_type, key, "must be %d bytes" % NONCE_LEN)
    elif kind == _T_TEXTS:
        if not isinstance(value, list) or len(value) > 32:
            raise _bad(msg_type, key, "must be an array of at most 32 texts")
        for item in value:
            if not isinstance(item, str) or len(item) > MAX_TEXT:
                raise _bad(msg_type, key, "must hold texts of at most %d characters" % MAX_TEXT)
    elif kind == _T_MAP:
        if not isinstance(value, dict):
            raise _bad(msg_type, key, "must be a map")
    elif kind == _T_PACK:
        check_pack(value, "%s pack" % MESSAGE_NAMES.get(msg_type, "message"))


# Checks a decoded message against its shape and the direction it travelled.
# Returns the message type. Raises ProtocolError naming the field at fault.
def check_message(msg: object, from_node: bool) -> int:
    if not isinstance(msg, dict):
        raise ProtocolError("shape", "message is not a map")
    for key in msg:
        if type(key) is not int:
            raise ProtocolError("shape", "message key %r is not an integer" % (key,))
    msg_type = msg.get(K_TYPE)
    if type(msg_type) is not int or msg_type not in MESSAGE_NAMES:
        raise ProtocolError("type", "unknown message type %r" % (msg_type,))
    allowed = NODE_TO_EDGE if from_node else EDGE_TO_NODE
    if msg_type not in allowed:
        raise ProtocolError(
            "direction",
            "%s is not sent by the %s" % (MESSAGE_NAMES[msg_type], "node" if from_node else "edge"),
        )
    shape = SHAPES.get(msg_type)
    if shape is None:
        raise ProtocolError(
            "reserved", "%s is reserved for a later protocol version" % MESSAGE_NAMES[msg_type]
        )
    for key, kind, required in shape:
        if key in msg:
            _check_value(msg_type, key, kind, msg[key])
        elif required:
            raise _bad(msg_type, key, "is missing")
    return msg_type


# --- encoders used by the node (and by tests and load generators) ----------


def _fields(enc: Encoder, msg_type: int, count: int) -> None:
    enc.map(count + 1)
    enc.integer(K_TYPE)
    enc.integer(msg_type)


def write_hello(
    enc: Encoder,
    node_id: str,
    nonce: bytes,
    firmware: str,
    slot: str,
    boot: int,
    kit: str,
    caps: list[str] | tuple[str, ...],
) -> None:
    _fields(enc, MSG_HELLO, 8)
    enc.integer(K_NODE)
    enc.tstr(node_id)
    enc.integer(K_NONCE)
    enc.bstr(nonce)
    enc.integer(K_FIRMWARE)
    enc.tstr(firmware)
    enc.integer(K_SLOT)
    enc.tstr(slot)
    enc.integer(K_BOOT)
    enc.integer(boot)
    enc.integer(K_KIT)
    enc.tstr(kit)
    enc.integer(K_CAPS)
    enc.array(len(caps))
    for cap in caps:
        enc.tstr(cap)
    enc.integer(K_PROTOCOL)
    enc.integer(PROTOCOL_VERSION)


def write_welcome(
    enc: Encoder, nonce: bytes, time: int, config: int, keepalive: int, edge_id: str
) -> None:
    _fields(enc, MSG_WELCOME, 5)
    enc.integer(K_NONCE)
    enc.bstr(nonce)
    enc.integer(K_TIME)
    enc.integer(time)
    enc.integer(K_CONFIG)
    enc.integer(config)
    enc.integer(K_KEEPALIVE)
    enc.integer(keepalive)
    enc.integer(K_EDGE)
    enc.tstr(edge_id)


def write_ack(enc: Encoder, epoch: int, seq: int, result: int) -> None:
    _fields(enc, MSG_ACK, 3)
    enc.integer(K_EPOCH)
    enc.integer(epoch)
    enc.integer(K_SEQ)
    enc.integer(seq)
    enc.integer(K_RESULT)
    enc.integer(result)


def write_keepalive(enc: Encoder, time: int = -1) -> None:
    _fields(enc, MSG_KEEPALIVE, 0 if time < 0 else 1)
    if time >= 0:
        enc.integer(K_TIME)
        enc.integer(time)


def write_command_result(enc: Encoder, command_id: int, result: int, detail: str = "") -> None:
    _fields(enc, MSG_COMMAND_RESULT, 3 if detail else 2)
    enc.integer(K_RESULT)
    enc.integer(result)
    enc.integer(K_COMMAND_ID)
    enc.integer(command_id)
    if detail:
        enc.integer(K_DETAIL)
        enc.tstr(detail)


# A health report: a map with text keys and integer, text or boolean values
# (free heap, uptime, queue depth, faults...).
def write_status(enc: Encoder, health: dict[str, object]) -> None:
    _fields(enc, MSG_STATUS, 1)
    enc.integer(K_HEALTH)
    enc.value(health)


# Writes the head of a batch (or, with an alarm kind, an alarm) so that it ends
# exactly at `end` in buf, in front of a pack that starts there. `scratch` is a
# caller-owned bytearray of at least BATCH_HEAD_MAX bytes. Returns the start.
BATCH_HEAD_MAX = const(112)


def write_batch_head(
    buf: bytearray,
    end: int,
    scratch: bytearray,
    epoch: int,
    seq: int,
    alarm: str | None = None,
    severity: int = SEVERITY_CRITICAL,
) -> int:
    enc = Encoder(scratch)
    if alarm is None:
        _fields(enc, MSG_BATCH, 3)
    else:
        _fields(enc, MSG_ALARM, 5)
    enc.integer(K_EPOCH)
    enc.integer(epoch)
    enc.integer(K_SEQ)
    enc.integer(seq)
    if alarm is not None:
        enc.integer(K_ALARM)
        enc.tstr(alarm)
        enc.integer(K_SEVERITY)
        enc.integer(severity)
    enc.integer(K_PACK)
    n = enc.pos
    if n > end:
        raise ProtocolError("reserve", "no room for the message head before the pack", end, n)
    buf[end - n : end] = memoryview(scratch)[:n]
    return end - n
