# The node's batch loop under a small heap (run by tests/test_wire_memory.py
# under `micropython -X heapsize=64k`; it also runs under CPython, without the
# gc numbers). Kept apart from wire_runner.py so that only the firmware and
# this loop share the heap.
#
# stdin: {"key", "node_nonce", "node_id", "hello": {...}, "welcome": frame hex,
#         "iterations", "readings", "max_body"}
# stdout: "@@RESULT@@ " + JSON with the heap figures (bytes, from gc.mem_alloc()).

import binascii
import gc
import json
import sys

from firmware.wire import protocol as P
from firmware.wire.node_session import NodeSession
from firmware.wire.senml import PackWriter

QUANTITIES = (
    (b"temp", b"Cel", -2),
    (b"pressure", b"Pa", 0),
    (b"level", b"m", -3),
    (b"accel_rms", b"m/s2", -3),
    (b"battery", b"V", -3),
)


def main():
    req = json.loads(sys.stdin.read())
    u = binascii.unhexlify
    sess = NodeSession(req["node_id"], u(req["key"]), u(req["node_nonce"]), 0, req["max_body"])
    h = req["hello"]
    sess.hello(h["firmware"], h["slot"], h["boot"], h["kit"], h["caps"])
    events = sess.feed(u(req["welcome"]))
    if len(events) != 1 or events[0][0] != "welcome":
        raise AssertionError("no welcome: %r" % (events,))
    iterations = req["iterations"]
    readings = req["readings"]
    req = h = events = None
    buf = bytearray(1024)
    scratch = bytearray(P.BATCH_HEAD_MAX)
    pw = PackWriter(buf, P.BATCH_HEAD_MAX)
    bn = b"urn:dev:cn:hydrant-0001:"
    nq = len(QUANTITIES)
    mv = memoryview(buf)

    def one_batch(it):
        pw.reset()
        for i in range(readings):
            q = QUANTITIES[i % nq]
            m = (it * 7919 + i * 104729) % 200001 - 100000
            if i == 0:
                pw.add(q[0], q[1], m, q[2], i * 250, bn, 1790000000 + it)
            else:
                pw.add(q[0], q[1], m, q[2], i * 250)
        start, end = pw.finish()
        head = P.write_batch_head(buf, start, scratch, 7, it)
        return len(sess.send(mv[head:end]))

    has_gc = hasattr(gc, "mem_alloc")
    gc.collect()
    base = gc.mem_alloc() if has_gc else 0
    # 1. the loop itself, the collector running whenever it must
    size = 0
    for it in range(iterations):
        size = one_batch(it)
    gc.collect()
    after = gc.mem_alloc() if has_gc else 0
    out = {"sent": iterations, "frame_bytes": size, "tx_counter": sess.tx_counter}
    if has_gc:
        # 2. what one batch allocates, and what the add() calls alone allocate
        gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        one_batch(iterations)
        a1 = gc.mem_alloc()
        pw.reset()
        a2 = gc.mem_alloc()
        for i in range(readings):
            q = QUANTITIES[i % nq]
            pw.add(q[0], q[1], i, q[2], i * 250)
        a3 = gc.mem_alloc()
        gc.enable()
        # 3. the peak: live data plus one batch's garbage, after each of 50
        # batches that start from a collected heap
        peak = 0
        for it in range(50):
            gc.collect()
            one_batch(it)
            used = gc.mem_alloc()
            peak = max(peak, used)
        gc.collect()
        out["heap"] = gc.mem_alloc() + gc.mem_free()
        out["base"] = base
        out["after"] = after
        out["per_batch_alloc"] = a1 - a0
        out["per_records_alloc"] = a3 - a2
        out["peak"] = peak
    out["impl"] = sys.implementation.name
    out["cbor"] = __import__("firmware.wire.cbor").wire.cbor.__file__
    sys.stdout.write("@@RESULT@@ " + json.dumps(out) + "\n")


main()
