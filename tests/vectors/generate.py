"""Writes tests/vectors/protocol.json and tests/vectors/malformed.json (run under CPython).

    python tests/vectors/generate.py            # write both files
    python tests/vectors/generate.py --check    # exit 1 if either file would change

The tests never run this: they compare both runtimes against the checked-in
files. A change in protocol.json is a change of the wire protocol and must be
deliberate (and the edge agent must follow it).

protocol.json is made with the firmware's own encoders (through
tests/mp/wire_runner.py, the code both runtimes run), but every message is
also written out here by hand as the value it must decode to, and the
generator refuses to write a file unless the firmware's bytes equal the
from-scratch reference encoding of that value (tests/cbor_reference.py) and
cbor2 decodes them to it. So the file pins bytes that were checked twice, not
just whatever the encoder produced.

malformed.json is a table of bytes that are not well-formed CBOR, or outside
the wire subset, with the CborError code (and byte offset) the decoder must
report, and of values the encoder must refuse.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for p in (ROOT, HERE.parent, HERE.parent / "mp"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import cbor2  # noqa: E402
import cbor_reference as ref  # noqa: E402
import wire_node as W  # noqa: E402

from firmware.wire import protocol as P  # noqa: E402

# --- JSON-convention constructors ---------------------------------------------


def B(hexstr: str) -> dict[str, str]:
    return {"$bytes": hexstr}


def Tg(n: int, v: Any) -> dict[str, Any]:
    return {"$tag": [n, v]}


def M(*pairs: tuple[Any, Any]) -> dict[str, Any]:
    """A map; pairs are stored in RFC 8949 key order (the order a decoder prints)."""
    return {"$map": sorted(([k, v] for k, v in pairs), key=lambda kv: ref.encode(kv[0]))}


def DEC(mantissa: int, exponent: int) -> dict[str, Any]:
    return Tg(4, [exponent, mantissa])


def time_json(offset_ms: int) -> Any:
    return offset_ms // 1000 if offset_ms % 1000 == 0 else DEC(offset_ms, -3)


# --- fixed identities -------------------------------------------------------------

NODE_ID = "hydrant-0001"
KEY = bytes(range(0x40, 0x60)).hex()  # 32 bytes
NODE_NONCE = bytes(range(0x00, 0x10)).hex()
EDGE_NONCE = bytes(range(0xF0, 0x100)).hex()
BASE_NAME = "urn:dev:cn:hydrant-0001:"
BASE_TIME = 1790000000  # > 2**30: a heap-allocated big int on ESP32/RP2 boards
CAPS = ["pressure", "tilt", "valve_open"]
HEALTH = M(
    ("uptime", 86400),
    ("heap_free", 41234),
    ("queue", 3),
    ("faults", ""),
    ("ok", True),
    ("fw", "1.4.2"),
    ("last_error", None),
)

# --- readings and the SenML records they must become ----------------------------


def num(n: str, u: str, m: int, e: int, t_ms: int, *, first: bool = False) -> dict[str, Any]:
    r: dict[str, Any] = {"n": n, "u": u, "m": m, "e": e, "t_ms": t_ms}
    if first:
        r.update(bn=BASE_NAME, bt=BASE_TIME)
    return r


def record(r: dict[str, Any]) -> dict[str, Any]:
    pairs: list[tuple[Any, Any]] = [(0, r["n"]), (6, time_json(r["t_ms"]))]
    kind = r.get("kind", "num")
    if kind == "num":
        if r["u"]:
            pairs.append((1, r["u"]))
        pairs.append((2, r["m"] if r["e"] == 0 else DEC(r["m"], r["e"])))
    elif kind == "bool":
        pairs.append((4, r["vb"]))
    else:
        pairs.append((3, r["vs"]))
    if "bn" in r:
        pairs += [(-2, r["bn"]), (-3, r["bt"])]
    return M(*pairs)


BASIC_READINGS = [
    num("temp", "Cel", 2150, -2, 0, first=True),
    num("pressure", "Pa", 350000, 0, 250),
    num("level", "m", -1234, -3, 1000),
    {"kind": "bool", "n": "valve_open", "vb": True, "t_ms": 1500},
    {"kind": "str", "n": "fault", "vs": "i2c_nack", "t_ms": 2000},
    num("h2s", "/", 150, -8, 2001),
    num("rssi", "dBW", -87, 0, 2999),
]

# integers around the 31-bit small-int limit of the boards and the 64-bit edges
EDGE_INTS = [
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
    0,
    23,
    24,
    255,
    256,
    65535,
    65536,
    -24,
    -25,
    -256,
    -257,
]
EDGE_READINGS = [num("pressure", "Pa", 1, 0, 0, first=True)]
EDGE_READINGS += [num("pressure", "Pa", m, 0, 1000 * i) for i, m in enumerate(EDGE_INTS)]
EDGE_READINGS += [
    num("temp", "Cel", -(2**31), -2, -1500),  # negative decimal, negative ms offset
    num("tilt", "deg", 2**63, -2, -2000),  # negative whole-second offset
    num("level", "m", -(2**64), -3, 86_400_000),  # a day later
    num("accel_peak", "m/s2", 2**64 - 1, -3, 2**31 + 7),  # ms offset above int31
    num("current", "A", 0, -25, 1),  # an exponent that needs a 1-byte argument
    num("trips", "", 3, 0, 999),  # a count: no unit
]

MANY_READINGS = [num("accel_x", "m/s2", i * 37 - 400, -3, i * 40, first=i == 0) for i in range(24)]

ALARM_READINGS = [
    num("current", "A", 12345, -3, 0, first=True),
    {"kind": "bool", "n": "door_open", "vb": False, "t_ms": 125},
]


def batch_value(
    epoch: int,
    seq: int,
    readings: list[dict[str, Any]],
    alarm: str | None = None,
    severity: int = 2,
) -> dict[str, Any]:
    pairs: list[tuple[Any, Any]] = [(0, 3 if alarm is None else 4), (10, epoch), (11, seq)]
    if alarm is not None:
        pairs += [(16, alarm), (17, severity)]
    pairs.append((23, [record(r) for r in readings]))
    return M(*pairs)


def batch_recipe(epoch: int, seq: int, readings: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {"fn": "batch", "args": {"epoch": epoch, "seq": seq, "readings": readings, **kw}}


HELLO_ARGS = {
    "node": NODE_ID,
    "nonce": NODE_NONCE,
    "firmware": "1.4.2",
    "slot": "a",
    "boot": 17,
    "kit": "hydrant",
    "caps": CAPS,
}
WELCOME_ARGS = {
    "nonce": EDGE_NONCE,
    "time": BASE_TIME,
    "config": 3,
    "keepalive": 30,
    "edge": "edge-jingan-01",
}
COMMAND = M(
    (0, 6), (13, 42), (14, "set_interval"), (15, M(("seconds", 60), ("quantity", "pressure")))
)


def hello_value(a: dict[str, Any]) -> dict[str, Any]:
    return M(
        (0, 1),
        (1, a["node"]),
        (2, B(a["nonce"])),
        (3, a["firmware"]),
        (4, a["slot"]),
        (5, a["boot"]),
        (6, a["kit"]),
        (7, a["caps"]),
        (21, 1),
    )


LONG_ID = "n" * 64
HELLO2_ARGS = dict(HELLO_ARGS, node=LONG_ID, boot=2**32, caps=[], slot="b")

# name, from_node, recipe, expected decoded value
MESSAGES: list[tuple[str, bool, dict[str, Any], Any]] = [
    ("hello", True, {"fn": "hello", "args": HELLO_ARGS}, hello_value(HELLO_ARGS)),
    ("hello_edges", True, {"fn": "hello", "args": HELLO2_ARGS}, hello_value(HELLO2_ARGS)),
    ("batch", True, batch_recipe(7, 1, BASIC_READINGS), batch_value(7, 1, BASIC_READINGS)),
    (
        "batch_int_edges",
        True,
        batch_recipe(2**31, 2**32, EDGE_READINGS, buf_size=4096),
        batch_value(2**31, 2**32, EDGE_READINGS),
    ),
    ("batch_24_records", True, batch_recipe(7, 3, MANY_READINGS), batch_value(7, 3, MANY_READINGS)),
    (
        "alarm",
        True,
        batch_recipe(7, 2, ALARM_READINGS, alarm="entrapment", severity=2),
        batch_value(7, 2, ALARM_READINGS, alarm="entrapment", severity=2),
    ),
    ("keepalive", True, {"fn": "keepalive"}, M((0, 9))),
    ("status", True, {"fn": "status", "args": {"health": HEALTH}}, M((0, 8), (18, HEALTH))),
    (
        "command_result",
        True,
        {"fn": "command_result", "args": {"command_id": 42, "result": 0}},
        M((0, 7), (13, 42), (12, 0)),
    ),
    (
        "command_result_detail",
        True,
        {
            "fn": "command_result",
            "args": {"command_id": 2**40, "result": 2, "detail": "unknown command 'x' — ü"},
        },
        M((0, 7), (13, 2**40), (12, 2), (22, "unknown command 'x' — ü")),
    ),
    (
        "welcome",
        False,
        {"fn": "welcome", "args": WELCOME_ARGS},
        M((0, 2), (2, B(EDGE_NONCE)), (8, BASE_TIME), (9, 3), (19, 30), (20, "edge-jingan-01")),
    ),
    (
        "ack",
        False,
        {"fn": "ack", "args": {"epoch": 7, "seq": 1, "result": 0}},
        M((0, 5), (10, 7), (11, 1), (12, 0)),
    ),
    (
        "ack_duplicate",
        False,
        {"fn": "ack", "args": {"epoch": 2**31, "seq": 2**32 + 5, "result": 1}},
        M((0, 5), (10, 2**31), (11, 2**32 + 5), (12, 1)),
    ),
    (
        "keepalive_edge",
        False,
        {"fn": "keepalive", "args": {"time": BASE_TIME + 60}},
        M((0, 9), (8, BASE_TIME + 60)),
    ),
    ("command", False, {"fn": "dumps", "args": {"value": COMMAND}}, COMMAND),
]


def msg(name: str) -> tuple[str, bool, dict[str, Any], Any]:
    return next(m for m in MESSAGES if m[0] == name)


# --- mutations: decoded, then check_message must refuse them ---------------------


def replace(value: dict[str, Any], key: int, new: Any = None, drop: bool = False) -> dict[str, Any]:
    pairs = [(k, v) for k, v in value["$map"] if k != key]
    if not drop:
        pairs.append((key, new))
    return M(*pairs)


HELLO = hello_value(HELLO_ARGS)
BATCH = batch_value(7, 1, BASIC_READINGS)
ACK = M((0, 5), (10, 7), (11, 1), (12, 0))
WELCOME = msg("welcome")[3]


def rec(*pairs: tuple[Any, Any]) -> dict[str, Any]:
    return M(*pairs)


GOOD_REC = rec((0, "temp"), (2, 1))

# name, value (or raw hex), from_node, expected: {"code": c} or {"type": t} or
# {"decode_code": c} (refused by the decoder already); "bug": a firmware bug
# (see the report in the test module), kept apart so it does not hide others.
MUTATIONS: list[dict[str, Any]] = [
    {"name": "not a map", "value": [0, 1], "from_node": True, "code": "shape"},
    {
        "name": "type missing",
        "value": replace(HELLO, 0, drop=True),
        "from_node": True,
        "code": "type",
    },
    {"name": "unknown type 99", "value": replace(HELLO, 0, 99), "from_node": True, "code": "type"},
    {
        "name": "type is text",
        "value": replace(HELLO, 0, "hello"),
        "from_node": True,
        "code": "type",
    },
    {"name": "type is negative", "value": replace(HELLO, 0, -1), "from_node": True, "code": "type"},
    {
        "name": "type is true (CBOR true is not the integer 1)",
        "value": replace(HELLO, 0, True),
        "from_node": True,
        "code": "type",
        "bug": "bool-as-int",
    },
    {
        "name": "type under key false instead of 0",
        "value": M(*([(False, 5)] + [(k, v) for k, v in ACK["$map"] if k != 0])),
        "from_node": False,
        "code": "shape",
        "bug": "bool-as-int",
    },
    {
        "name": "OTA offer (16) from the node",
        "value": M((0, 16)),
        "from_node": True,
        "code": "direction",
    },
    {
        "name": "OTA chunk request (17) from the node",
        "value": M((0, 17)),
        "from_node": True,
        "code": "reserved",
    },
    {
        "name": "OTA offer (16) from the edge",
        "value": M((0, 16)),
        "from_node": False,
        "code": "reserved",
    },
    {"name": "welcome from the node", "value": WELCOME, "from_node": True, "code": "direction"},
    {"name": "hello from the edge", "value": HELLO, "from_node": False, "code": "direction"},
    {"name": "batch from the edge", "value": BATCH, "from_node": False, "code": "direction"},
    {"name": "ack from the node", "value": ACK, "from_node": True, "code": "direction"},
    {
        "name": "hello nonce missing",
        "value": replace(HELLO, 2, drop=True),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello nonce 15 bytes",
        "value": replace(HELLO, 2, B("00" * 15)),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello nonce as text",
        "value": replace(HELLO, 2, "0" * 16),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello node id empty",
        "value": replace(HELLO, 1, ""),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello node id 65 chars",
        "value": replace(HELLO, 1, "n" * 65),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello node id as bytes",
        "value": replace(HELLO, 1, B("6e31")),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello boot negative",
        "value": replace(HELLO, 5, -1),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello boot as text",
        "value": replace(HELLO, 5, "17"),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello boot true",
        "value": replace(HELLO, 5, True),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello boot bignum tag",
        "value": replace(HELLO, 5, Tg(2, B("010000000000000000"))),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello boot 2**64-1",
        "value": replace(HELLO, 5, 2**64 - 1),
        "from_node": True,
        "type": 1,
    },
    {
        "name": "hello caps not an array",
        "value": replace(HELLO, 7, "pressure"),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello caps hold an int",
        "value": replace(HELLO, 7, ["tilt", 3]),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello 33 caps",
        "value": replace(HELLO, 7, ["c"] * 33),
        "from_node": True,
        "code": "field",
    },
    {"name": "hello 32 caps", "value": replace(HELLO, 7, ["c"] * 32), "from_node": True, "type": 1},
    {
        "name": "hello protocol missing",
        "value": replace(HELLO, 21, drop=True),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "hello unknown key 24 ignored",
        "value": replace(HELLO, 24, "future"),
        "from_node": True,
        "type": 1,
    },
    {
        "name": "batch pack missing",
        "value": replace(BATCH, 23, drop=True),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "batch seq missing",
        "value": replace(BATCH, 11, drop=True),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "batch pack empty",
        "value": replace(BATCH, 23, []),
        "from_node": True,
        "code": "pack",
    },
    {
        "name": "batch pack is a map",
        "value": replace(BATCH, 23, GOOD_REC),
        "from_node": True,
        "code": "pack",
    },
    {
        "name": "batch record not a map",
        "value": replace(BATCH, 23, [GOOD_REC, [0, "temp"]]),
        "from_node": True,
        "code": "pack",
    },
    {
        "name": "batch record unknown label 99",
        "value": replace(BATCH, 23, [rec((0, "x"), (99, 1))]),
        "from_node": True,
        "code": "pack",
    },
    {
        "name": "batch record text label",
        "value": replace(BATCH, 23, [rec(("n", "temp"), (2, 1))]),
        "from_node": True,
        "code": "pack",
    },
    {
        "name": "batch 256 records",
        "value": replace(BATCH, 23, [GOOD_REC] * 256),
        "from_node": True,
        "type": 3,
    },
    {
        "name": "batch 257 records",
        "value": replace(BATCH, 23, [GOOD_REC] * 257),
        "from_node": True,
        "code": "pack",
    },
    {
        "name": "batch record with a float value",
        # {0: 3, 10: 7, 11: 1, 23: [{0: "temp", 2: 1.5}]}; the half float f93e00 = 1.5
        "hex": "a400030a070b011781a2006474656d7002f93e00",
        "from_node": True,
        "decode_code": "float",
        "cbor2_code": "pack",
    },
    {
        "name": "alarm severity as text",
        "value": replace(batch_value(7, 2, ALARM_READINGS, "entrapment"), 17, "high"),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "alarm kind missing",
        "value": replace(batch_value(7, 2, ALARM_READINGS, "entrapment"), 16, drop=True),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "ack result missing",
        "value": replace(ACK, 12, drop=True),
        "from_node": False,
        "code": "field",
    },
    {
        "name": "ack seq bignum tag",
        "value": replace(ACK, 11, Tg(2, B("010000000000000000"))),
        "from_node": False,
        "code": "field",
    },
    {
        "name": "welcome nonce missing",
        "value": replace(WELCOME, 2, drop=True),
        "from_node": False,
        "code": "field",
    },
    {
        "name": "welcome edge id empty",
        "value": replace(WELCOME, 20, ""),
        "from_node": False,
        "code": "field",
    },
    {
        "name": "command args not a map",
        "value": replace(COMMAND, 15, [1]),
        "from_node": False,
        "code": "field",
    },
    {
        "name": "command name empty",
        "value": replace(COMMAND, 14, ""),
        "from_node": False,
        "code": "field",
    },
    {
        "name": "command_result detail 256 chars",
        "value": M((0, 7), (13, 1), (12, 1), (22, "d" * 256)),
        "from_node": True,
        "type": 7,
    },
    {
        "name": "command_result detail 257 chars",
        "value": M((0, 7), (13, 1), (12, 1), (22, "d" * 257)),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "command_result detail empty",
        "value": M((0, 7), (13, 1), (12, 1), (22, "")),
        "from_node": True,
        "type": 7,
    },
    {"name": "status health missing", "value": M((0, 8)), "from_node": True, "code": "field"},
    {
        "name": "status health an array",
        "value": M((0, 8), (18, [])),
        "from_node": True,
        "code": "field",
    },
    {
        "name": "status with a pack",
        "value": M((0, 8), (18, M()), (23, [GOOD_REC])),
        "from_node": True,
        "type": 8,
    },
    {
        "name": "keepalive time negative",
        "value": M((0, 9), (8, -5)),
        "from_node": True,
        "code": "field",
    },
    {"name": "keepalive time absent", "value": M((0, 9)), "from_node": False, "type": 9},
]


# --- session: a NodeSession against frames an edge would send ----------------------


def build_session() -> dict[str, Any]:
    """The session vectors: "session" (identities), "session_steps" (an operation on the
    node and what it must answer), "session_final" (the node's state at the end)."""
    key = bytes.fromhex(KEY)
    nn = bytes.fromhex(NODE_NONCE)
    en = bytes.fromhex(EDGE_NONCE)

    def edge(counter: int, recipe: dict[str, Any]) -> str:
        frame: bytes = W.edge_frame(key, nn, en, counter, W.build_message(recipe))
        return frame.hex()

    ack1 = edge(1, {"fn": "ack", "args": {"epoch": 7, "seq": 1, "result": 0}})
    command = edge(2, {"fn": "dumps", "args": {"value": COMMAND}})
    keep = edge(3, {"fn": "keepalive", "args": {"time": BASE_TIME + 60}})
    ack5 = edge(5, {"fn": "ack", "args": {"epoch": 7, "seq": 2, "result": 1}})
    ack4 = edge(4, {"fn": "ack", "args": {"epoch": 7, "seq": 3, "result": 0}})
    ops: list[tuple[str, dict[str, Any]]] = [
        (
            "node says hello (counter 0, zero edge nonce in the MAC)",
            {
                "op": "hello",
                **{k: HELLO_ARGS[k] for k in ("firmware", "slot", "boot", "kit", "caps")},
            },
        ),
        (
            "edge welcome (counter 0)",
            {"op": "feed", "data": edge(0, {"fn": "welcome", "args": WELCOME_ARGS})},
        ),
        ("node sends a batch (counter 1)", {"op": "send", "message": msg("batch")[2]}),
        ("edge acks it, fed one byte at a time", {"op": "feed", "data": ack1, "chunk": 1}),
        ("node sends an alarm (counter 2)", {"op": "send", "message": msg("alarm")[2]}),
        ("node keepalive (counter 3)", {"op": "keepalive"}),
        ("node status (counter 4)", {"op": "status", "health": HEALTH}),
        ("edge relays a command", {"op": "feed", "data": command}),
        ("node answers it (counter 5)", {"op": "command_result", "command_id": 42, "result": 0}),
        ("edge keepalive", {"op": "feed", "data": keep}),
        ("the same keepalive again: replay", {"op": "feed", "data": keep}),
        ("the node's own keepalive reflected: MAC fails", {"op": "feed", "data": "REFLECT"}),
        ("ack 5 then ack 4 in one chunk: 4 is reordered", {"op": "feed", "data": ack5 + ack4}),
        (
            "a second welcome, authentic and fresh: refused",
            {"op": "feed", "data": edge(6, {"fn": "welcome", "args": WELCOME_ARGS})},
        ),
    ]
    spec: dict[str, Any] = {
        "node_id": NODE_ID,
        "key": KEY,
        "node_nonce": NODE_NONCE,
        "edge_nonce": EDGE_NONCE,
    }
    driver = W.NodeDriver()
    driver.handle(W.session_init(spec))
    node_keepalive = None
    steps = []
    for what, op in ops:
        if op.get("data") == "REFLECT":
            op = dict(op, data=node_keepalive)
        reply = driver.handle(op)
        if op["op"] == "keepalive":
            node_keepalive = reply["frame"]
        steps.append({"what": what, "op": op, "expect": reply})
    return {
        "session": spec,
        "session_steps": steps,
        "session_final": driver.handle({"op": "state"}),
    }


# --- malformed CBOR -----------------------------------------------------------------


def malformed() -> dict[str, Any]:
    cases: list[tuple[str, str, int, str]] = []

    def add(hexstr: str, code: str, offset: int, why: str) -> None:
        cases.append((hexstr, code, offset, why))

    for n in range(32):
        add("f8%02x" % n, "malformed", 0, "two-byte simple value %d (< 32) is not well-formed" % n)
    for major in range(8):
        for ai in (28, 29, 30):
            add(
                "%02x" % (major << 5 | ai),
                "malformed",
                0,
                "major %d, reserved additional information %d" % (major, ai),
            )
    add("1f", "malformed", 0, "unsigned integer with additional information 31")
    add("3f", "malformed", 0, "negative integer with additional information 31")
    add("df00", "malformed", 0, "tag with additional information 31")
    add("5f4101ff", "indefinite", 0, "indefinite-length byte string")
    add("7f6161ff", "indefinite", 0, "indefinite-length text string")
    add("9f01ff", "indefinite", 0, "indefinite-length array")
    add("bf0102ff", "indefinite", 0, "indefinite-length map")
    add("8201bf0102ff", "indefinite", 2, "indefinite map nested in an array")
    add("ff", "break", 0, "a break code alone")
    add("8201ff", "break", 2, "a break code inside a definite array")
    add("a1ff01", "break", 1, "a break code as a map key")
    # truncated heads: the offset is where the missing bytes should have been
    add("", "truncated", 0, "no bytes at all")
    add("18", "truncated", 1, "1-byte argument missing")
    add("1900", "truncated", 1, "2-byte argument cut short")
    add("1a000000", "truncated", 1, "4-byte argument cut short")
    add("1b00000000000000", "truncated", 1, "8-byte argument cut short")
    add("38", "truncated", 1, "negative integer argument missing")
    add("5900", "truncated", 1, "byte string length cut short")
    add("7a0000", "truncated", 1, "text string length cut short")
    add("9b00", "truncated", 1, "array length cut short")
    add("c1", "truncated", 1, "tag without content")
    add("d8", "truncated", 1, "tag number missing")
    add("f8", "truncated", 1, "simple value byte missing")
    add("f900", "truncated", 1, "half float cut short (truncation is found before the float)")
    add("fb0000", "truncated", 1, "double float cut short")
    # truncated contents
    add("41", "truncated", 1, "byte string of 1 with no content")
    add("4501020304", "truncated", 1, "byte string of 5 with 4 bytes")
    add("6261", "truncated", 1, "text string of 2 with 1 byte")
    add("780561616161", "truncated", 2, "text string of 5 (1-byte length) with 4 bytes")
    add("81", "truncated", 0, "array of 1 with no items")
    add("830102", "truncated", 0, "array of 3 with 2 bytes left")
    add("821805", "truncated", 3, "array of 2 whose second item is missing")
    add("a1", "truncated", 0, "map of 1 with no pairs")
    add("a101", "truncated", 0, "map of 1 with a key and no value")
    add("a2010203", "truncated", 0, "map of 2 with 3 bytes left")
    add("a10118", "truncated", 3, "map value head cut short")
    # huge declared lengths: refused before anything is allocated
    add("5bffffffffffffffff00", "truncated", 9, "byte string of 2**64-1 bytes")
    add("7bffffffffffffffff00", "truncated", 9, "text string of 2**64-1 bytes")
    add("5affffffff0000", "truncated", 5, "byte string of 2**32-1 bytes")
    add("9b00000000ffffffff0000", "truncated", 0, "array of 2**32-1 items")
    add("9bffffffffffffffff00", "truncated", 0, "array of 2**64-1 items")
    add("9affffffff01", "truncated", 0, "array of 2**32-1 items, 1 byte")
    add("bb00000000ffffffff0102", "truncated", 0, "map of 2**32-1 pairs")
    add("bbffffffffffffffff0102", "truncated", 0, "map of 2**64-1 pairs")
    add("ba7fffffff01020304", "truncated", 0, "map of 2**31-1 pairs")
    add("8181815b7fffffffffffffff00", "truncated", 12, "nested huge byte string")
    # nesting beyond MAX_DEPTH (16): the offset is the first item too deep
    add("81" * 17 + "00", "depth", 17, "17 nested arrays")
    add("81" * 1000 + "00", "depth", 17, "1000 nested arrays (no deep recursion)")
    add("c1" * 17 + "00", "depth", 17, "17 nested tags")
    add(
        "a101" * 17 + "00",
        "depth",
        33,
        "17 nested maps: the key of the 17th is the first item too deep",
    )
    # text that is not UTF-8
    add("61ff", "utf8", 0, "0xff is never UTF-8")
    add("6180", "utf8", 0, "lone continuation byte")
    add("62c328", "utf8", 0, "lead byte followed by ASCII")
    add("61c3", "utf8", 0, "sequence cut by the end of the string")
    add("61fe", "utf8", 0, "0xfe is never UTF-8")
    add("8261616180", "utf8", 3, "invalid text inside an array")
    # duplicates, keys, trailing bytes
    add("a201000100", "duplicate", 3, "integer key 1 twice")
    add("a2616100616101", "duplicate", 4, 'text key "a" twice')
    add("a2416100416101", "duplicate", 4, "byte string key h'61' twice")
    add("81a200000000", "duplicate", 4, "duplicate key inside a nested map")
    add("a18000", "key", 1, "array as map key")
    add("a1a000", "key", 1, "map as map key")
    add("0000", "trailing", 1, "two items where one is expected")
    add("80ff", "trailing", 1, "a break after a complete item")
    add("a000", "trailing", 1, "a byte after an empty map")
    add("616161", "trailing", 2, "a byte after a text string")
    # outside the subset but well-formed
    add("f7", "simple", 0, "undefined")
    add("e0", "simple", 0, "simple(0)")
    add("f820", "simple", 0, "simple(32), the first two-byte simple value")
    add("f8ff", "simple", 0, "simple(255)")
    add("81f7", "simple", 1, "undefined in an array")
    add("c1f93c00", "float", 1, "a half float inside a tag")
    add("a1f97e0000", "float", 1, "NaN as a map key")

    # invalid UTF-8 that CPython rejects; MicroPython's str() accepts it (see the tests)
    strict: list[tuple[str, str, int, str]] = [
        ("62c080", "utf8", 0, "overlong encoding of U+0000"),
        ("63e0808f", "utf8", 0, "overlong 3-byte encoding"),
        ("64f0808080", "utf8", 0, "overlong 4-byte encoding"),
        ("63eda080", "utf8", 0, "UTF-16 surrogate U+D800 encoded in UTF-8"),
        ("64f4908080", "utf8", 0, "code point above U+10FFFF"),
        ("65f888808080", "utf8", 0, "5-byte sequence"),
    ]
    # deepest nesting that is allowed: 16 arrays (encoder and decoder agree)
    ok = [("81" * 16 + "00", "16 nested arrays: the deepest allowed")]

    def nested(n: int) -> Any:
        v: Any = 0
        for _ in range(n):
            v = [v]
        return v

    encode = [
        {"value": 2**64, "code": "int_range", "why": "2**64 needs a bignum tag: not on the wire"},
        {"value": -(2**64) - 1, "code": "int_range", "why": "below -2**64"},
        {"value": [1, 2**64], "code": "int_range", "why": "nested out-of-range integer"},
        {"value": {"$float": "1.5"}, "code": "float", "why": "floats are never sent"},
        {
            "value": {"$tag": [4, [-2, {"$float": "0.5"}]]},
            "code": "float",
            "why": "a float inside a tag",
        },
        {
            "value": {"$map": [["v", {"$float": "2.0"}]]},
            "code": "float",
            "why": "a float map value",
        },
        {"value": nested(17), "code": "depth", "why": "17 nested arrays"},
        {
            "value": nested(16),
            "hex": "81" * 16 + "00",
            "why": "16 nested arrays: the deepest allowed",
        },
        {"value": 2**64 - 1, "hex": "1bffffffffffffffff", "why": "largest unsigned"},
        {"value": -(2**64), "hex": "3bffffffffffffffff", "why": "smallest negative"},
        {
            "value": {"$map": [[100, 1], [-1, 2], ["b", 3], ["aa", 4], [{"$bytes": "78"}, 5]]},
            "hex": "a5186401200241780561620362616104",
            "why": "RFC 8949 key order: bytewise on the encoded keys (cbor2 canonical differs)",
        },
    ]
    return {
        "about": "Bytes the decoder must refuse (CborError code, byte offset of the fault), "
        "values the encoder must refuse or encode exactly. 'decode_strict' is invalid UTF-8 "
        "that CPython's str() refuses and MicroPython's accepts. Generated by generate.py.",
        "decode": [{"hex": h, "code": c, "offset": o, "why": w} for h, c, o, w in cases],
        "decode_strict": [{"hex": h, "code": c, "offset": o, "why": w} for h, c, o, w in strict],
        "decode_ok": [{"hex": h, "why": w} for h, w in ok],
        "encode": encode,
    }


# --- assembly and checks ------------------------------------------------------------------


def protocol() -> dict[str, Any]:
    messages = []
    for name, from_node, recipe, value in MESSAGES:
        data = W.build_message(recipe)
        if data != ref.encode(value):
            raise SystemExit(
                f"{name}: firmware bytes {data.hex()} != reference {ref.encode(value).hex()}"
            )
        if cbor2.loads(data) != ref.as_decoded_by_cbor2(value):
            raise SystemExit(f"{name}: cbor2 decodes {cbor2.loads(data)!r}")
        msg_type = value["$map"][0][1]
        assert value["$map"][0][0] == 0
        messages.append(
            {
                "name": name,
                "from_node": from_node,
                "type": msg_type,
                "recipe": recipe,
                "hex": data.hex(),
                "value": value,
            }
        )
    mutations = []
    for m in MUTATIONS:
        m = dict(m)
        if "value" in m:
            m["hex"] = ref.encode(m.pop("value"))
            m["hex"] = m["hex"].hex()
        mutations.append(m)
    return {
        "about": "Wire protocol vectors: each message as the node (or edge) encodes it, with the "
        "value it decodes to (JSON convention of tests/mp/wire_json.py); mutations that "
        "check_message must refuse; a NodeSession run against edge frames with fixed keys "
        "and nonces. Generated by tests/vectors/generate.py: do not edit by hand.",
        "protocol_version": P.PROTOCOL_VERSION,
        "messages": messages,
        "mutations": mutations,
        **build_session(),
    }


def dump(doc: dict[str, Any]) -> str:
    """One vector per line, so a protocol change shows as a readable diff."""
    lines = ["{"]
    keys = list(doc)
    for i, k in enumerate(keys):
        v = doc[k]
        end = "," if i < len(keys) - 1 else ""
        if isinstance(v, list):
            lines.append(f" {json.dumps(k)}: [")
            for j, item in enumerate(v):
                lines.append(
                    "  " + json.dumps(item, ensure_ascii=False) + ("," if j < len(v) - 1 else "")
                )
            lines.append(" ]" + end)
        else:
            lines.append(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}{end}")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == doc
    return text


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = []
    for name, doc in (("protocol.json", protocol()), ("malformed.json", malformed())):
        path = HERE / name
        text = dump(doc)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            changed.append(name)
            if not check:
                path.write_text(text, encoding="utf-8")
    if check and changed:
        print("would change: " + ", ".join(changed))
        return 1
    print(("changed: " + ", ".join(changed)) if changed else "unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
