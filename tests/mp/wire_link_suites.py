# Frame, MAC and API-edge suites of the vector runner (see wire_runner.py).
# Runs under MicroPython and CPython.

from wire_json import error_json, tohex, unhex
from wire_node import build_message, edge_frame, event_json
from wire_runner import vectors

from firmware.wire import cbor

# --- frames -------------------------------------------------------------------


def read_frames(data, chunk, max_body):
    from firmware.wire.frame import FrameReader

    r = FrameReader(max_body, "test")
    events = []
    limit = 10 * len(data) + 100  # a reader that never makes progress ends the run
    pos = 0
    chunk = chunk or len(data) or 1
    while True:
        if pos < len(data):
            pos += r.feed(data[pos : pos + chunk])
        while True:
            if len(events) > limit:
                events.append(["stuck"])
                return {"events": events, "pending": r.pending(), "discarded": r.discarded}
            try:
                body = r.next_frame()
            except Exception as e:
                err = error_json(e)
                events.append(["error", err.get("code", err["type"]), err.get("offset", -1)])
                continue
            if body is None:
                break
            events.append(["frame", r.address, tohex(body), tohex(r.header)])
        if pos >= len(data):
            return {"events": events, "pending": r.pending(), "discarded": r.discarded}


def suite_frames(req, out):
    from firmware.wire.frame import MAX_BODY

    for sc in req["scenarios"]:
        out.append(
            "results",
            read_frames(unhex(sc["stream"]), sc.get("chunk", 0), sc.get("max_body", MAX_BODY)),
        )


# --- MAC --------------------------------------------------------------------


def suite_mac(req, out):
    from firmware.wire import mac as MAC

    for v in vectors(req["path"], "cases"):
        key = unhex(v["key"])
        data = unhex(v["data"])
        r = {}
        if len(key) < MAC.KEY_MIN:
            # MacKey refuses keys below KEY_MIN; HMAC pads every key shorter than
            # the block with zeros, so the same key zero-padded to KEY_MIN has
            # the same HMAC and still runs the case through MacKey
            try:
                MAC.MacKey(key)
                r["short_key"] = "accepted"
            except Exception as e:
                r["short_key"] = error_json(e)
            key = key + bytes(MAC.KEY_MIN - len(key))
        try:
            k = MAC.MacKey(key)
            whole = k.digest((data,))
            third = len(data) // 3
            parts = k.digest(
                (data[:third], bytearray(data[third : 2 * third]), memoryview(data)[2 * third :])
            )
            r["digest"] = tohex(whole)
            r["parts_agree"] = parts == whole
        except Exception as e:
            r["error"] = error_json(e)
        out.append("cases", r)
    out.put(
        "checks",
        {
            "equal_same": MAC.equal(b"abc", bytearray(b"abc")),
            "equal_diff": MAC.equal(b"abc", b"abd"),
            "equal_len": MAC.equal(b"abc", b"abcd"),
            "equal_empty": MAC.equal(b"", b""),
        },
    )


# --- API edges: errors the encoder, pack writer, frames and session raise ----


def _try(fn):
    try:
        r = fn()
        return {"ok": tohex(r) if isinstance(r, (bytes, bytearray, memoryview)) else r}
    except Exception as e:
        return {"error": error_json(e)}


def suite_misc(req, out):
    from firmware.wire import frame as F
    from firmware.wire import mac as MAC
    from firmware.wire import protocol as P
    from firmware.wire.node_session import NodeSession
    from firmware.wire.senml import PackWriter

    key = b"k" * 32
    nonce = b"n" * 16

    def overflow():
        enc = cbor.Encoder(bytearray(4))
        enc.value("hello")

    out.put("encoder_overflow", _try(overflow))
    out.put("dumps_grows", _try(lambda: len(cbor.dumps(b"x" * 5000))))

    def full_pack():
        pw = PackWriter(bytearray(8192))
        for i in range(257):
            pw.add(b"trips", b"", i, 0, 0)

    out.put("pack_full", _try(full_pack))

    def pack_n(n):
        pw = PackWriter(bytearray(8192))
        for i in range(n):
            pw.add(b"trips", b"", i, 0, 0)
        start, end = pw.finish()
        data = bytes(pw.buf[start:end])
        return [start, tohex(data[:3]), len(cbor.loads(data))]

    out.put("pack_23", _try(lambda: pack_n(23)))
    out.put("pack_24", _try(lambda: pack_n(24)))
    out.put("pack_256", _try(lambda: pack_n(256)))

    def pack_reset():
        pw = PackWriter(bytearray(1024), 8)
        pw.add(b"temp", b"Cel", 2150, -2, 0, b"urn:dev:x:", 1790000000)
        pw.finish()
        pw.reset()
        pw.add(b"trips", b"", 3, 0, 1500)
        start, end = pw.finish()
        return tohex(bytes(pw.buf[start:end]))

    out.put("pack_reset", _try(pack_reset))
    out.put("pack_empty", _try(lambda: PackWriter(bytearray(64)).finish()))

    def pack_buffer_full():
        pw = PackWriter(bytearray(64))
        for i in range(10):
            pw.add(b"pressure", b"Pa", i, 0, 0)

    out.put("pack_buffer_full", _try(pack_buffer_full))
    out.put(
        "batch_head_no_room",
        _try(lambda: P.write_batch_head(bytearray(64), 5, bytearray(P.BATCH_HEAD_MAX), 1, 2)),
    )
    out.put("reader_max_body_low", _try(lambda: F.FrameReader(F.MIN_BODY - 1)))
    out.put("reader_max_body_high", _try(lambda: F.FrameReader(F.MAX_BODY + 1)))
    out.put("header_body_short", _try(lambda: F.write_header(bytearray(64), 0, F.MIN_BODY - 1)))
    out.put("header_body_long", _try(lambda: F.write_header(bytearray(64), 0, F.MAX_BODY + 1)))
    out.put("crc8_check", _try(lambda: F.crc8(b"123456789")))
    out.put("mac_short_key", _try(lambda: MAC.MacKey(b"k" * 15)))
    out.put("session_bad_nonce", _try(lambda: NodeSession("n-1", key, b"short")))

    def send_before_welcome():
        s = NodeSession("n-1", key, nonce)
        s.hello("1.0", "a", 1, "hydrant")
        s.send(b"\xa0")

    out.put("send_before_welcome", _try(send_before_welcome))

    def hello_twice():
        s = NodeSession("n-1", key, nonce)
        s.hello("1.0", "a", 1, "hydrant")
        s.hello("1.0", "a", 1, "hydrant")

    out.put("hello_twice", _try(hello_twice))

    def feed_before_hello():
        s = NodeSession("n-1", key, nonce)
        w = build_message(
            {
                "fn": "welcome",
                "args": {"nonce": "ee" * 16, "time": 1, "config": 0, "keepalive": 30, "edge": "e"},
            }
        )
        return [event_json(e) for e in s.feed(edge_frame(key, nonce, b"\xee" * 16, 0, w))]

    out.put("feed_before_hello", _try(feed_before_hello))

    def frame_after_close():
        s = NodeSession("n-1", key, nonce)
        s.close()
        s.frame(b"\xa0")

    out.put("frame_after_close", _try(frame_after_close))

    def oversized_message():
        s = NodeSession("n-1", key, nonce, 0, 64)
        s.frame(b"\x00" * 45)

    out.put("session_message_too_big", _try(oversized_message))

    def largest_message():
        s = NodeSession("n-1", key, nonce, 0, 64)
        return len(s.frame(b"\x00" * 44))

    out.put("session_message_largest", _try(largest_message))

    def counter_exhausted():
        s = NodeSession("n-1", key, nonce)
        s.tx_counter = 0xFFFFFFFF
        last = tohex(s.frame(b"\xa0")[7:11])
        try:
            s.frame(b"\xa0")
        except Exception as e:
            return [last, error_json(e)]
        return [last, None]

    out.put("counter_exhausted", _try(counter_exhausted))
