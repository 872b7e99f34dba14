"""Virtual nodes under CPython: the firmware's own wire code over real TCP.

Each virtual node runs :class:`firmware.wire.node_session.NodeSession` (the same
code the boards run), builds SenML packs with :class:`PackWriter` and counts a
batch as delivered only on an authenticated ack. Readings come from a small
deterministic model of a hydrant (pressure and temperature); the register-level
simulators arrive with the firmware work.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from dataclasses import dataclass, field

from firmware.wire import protocol as P
from firmware.wire.node_session import NodeSession
from firmware.wire.senml import QUANTITIES, PackWriter

DEMO_SECRET = b"citynerve-demo-secret"


def demo_key(node_id: str) -> bytes:
    """The demo's per-node key (derived; real keys come from provisioning)."""
    return hashlib.sha256(DEMO_SECRET + node_id.encode()).digest()


@dataclass(slots=True)
class NodeStats:
    """What one virtual node did."""

    batches_sent: int = 0
    batches_acked: int = 0
    readings_acked: int = 0
    errors: list[str] = field(default_factory=list)


def build_batch(
    node_id: str, epoch: int, seq: int, *, base_time: int, readings: int, rng: random.Random
) -> bytes:
    """Encode one batch message of hydrant readings, as the firmware queues it."""
    buf = bytearray(P.BATCH_HEAD_MAX + 64 + readings * 40)
    pack = PackWriter(buf, P.BATCH_HEAD_MAX)
    unit, exp = QUANTITIES["temp"]
    pack.add("temp", unit, 1200 + rng.randrange(-300, 300), exp, 0, node_id + ":", base_time)
    unit, exp = QUANTITIES["pressure"]
    for i in range(1, readings):
        pack.add("pressure", unit, 350_000 + rng.randrange(-20_000, 20_000), exp, i * 3000)
    start, end = pack.finish()
    head = P.write_batch_head(buf, start, bytearray(P.BATCH_HEAD_MAX), epoch, seq)
    return bytes(buf[head:end])


async def run_node(
    node_id: str,
    host: str,
    port: int,
    *,
    batches: int,
    readings: int = 20,
    epoch: int = 1,
    base_time: int = 1_790_000_000,
    key: bytes | None = None,
    seed: int = 0,
    wait_s: float = 10.0,
) -> NodeStats:
    """Connect, say hello, send `batches` batches, wait for every ack, disconnect."""
    stats = NodeStats()
    rng = random.Random(seed)
    session = NodeSession(node_id, key or demo_key(node_id), os.urandom(P.NONCE_LEN))
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), wait_s)
    try:
        writer.write(bytes(session.hello("demo-0.1.0", "a", 1, "hydrant", ["ota"])))
        welcome = False
        while not welcome:
            data = await asyncio.wait_for(reader.read(4096), wait_s)
            if not data:
                raise ConnectionError(f"{node_id}: edge closed the connection before welcome")
            for name, value in session.feed(data):
                if name == "welcome":
                    welcome = True
                elif name == "error":
                    stats.errors.append(str(value))
        pending: dict[int, int] = {}
        for seq in range(batches):
            message = build_batch(
                node_id, epoch, seq, base_time=base_time + seq * 60, readings=readings, rng=rng
            )
            writer.write(bytes(session.send(message)))
            pending[seq] = readings
            stats.batches_sent += 1
        await writer.drain()
        while pending:
            data = await asyncio.wait_for(reader.read(65536), wait_s)
            if not data:
                raise ConnectionError(f"{node_id}: edge closed with {len(pending)} batches unacked")
            for name, value in session.feed(data):
                if name == "ack" and isinstance(value, dict):
                    count = pending.pop(value[P.K_SEQ], None)
                    if count is not None and value[P.K_EPOCH] == epoch:
                        stats.batches_acked += 1
                        stats.readings_acked += count
                elif name == "error":
                    stats.errors.append(str(value))
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return stats


async def run_firmware_node(
    node_id: str,
    host: str,
    port: int,
    *,
    workdir: str,
    batches: int,
    readings: int = 20,
    key: bytes | None = None,
    seed: int = 0,
    wait_s: float = 30.0,
) -> NodeStats:
    """The node firmware's own queue, recorder and link, in-process under CPython.

    Readings go through :class:`firmware.app.recorder.Recorder` into a
    :class:`firmware.app.queue.FlashQueue` (files under ``workdir``), and the
    firmware's :class:`firmware.app.link.Link` drains the queue to the edge,
    deleting each batch only on its authenticated ack — the same code a board
    runs, for load generators with many nodes in one event loop.
    """
    from firmware.app import clock  # noqa: PLC0415 - firmware modules load on demand
    from firmware.app.link import Link, TcpTransport  # noqa: PLC0415
    from firmware.app.queue import FlashQueue  # noqa: PLC0415
    from firmware.app.recorder import Recorder  # noqa: PLC0415

    if not clock.wall_is_set():
        clock.set_wall(int(time.time()))
    rng = random.Random(seed)
    queue = FlashQueue(f"{workdir}/{node_id}/q", max_batches=max(256, batches))
    recorder = Recorder(queue, node_id, readings)
    for _ in range(batches):
        recorder.reading("temp", 1200 + rng.randrange(-300, 300))
        for _ in range(readings - 1):
            recorder.reading("pressure", 350_000 + rng.randrange(-20_000, 20_000))
    recorder.flush()
    hello = {"firmware": "cpython-node", "slot": "a", "boot": 1, "kit": "hydrant", "caps": []}
    link = Link(  # type: ignore[no-untyped-call]  # firmware code: unannotated
        TcpTransport(host, port), queue, node_id, key or demo_key(node_id), hello
    )
    link.window = 8
    drained = await link.drain(int(wait_s))
    stats = NodeStats()
    stats.batches_sent = recorder.batches
    stats.batches_acked = recorder.batches - queue.depth()
    stats.readings_acked = stats.batches_acked * readings
    stats.errors = [f"{reason} x{count}" for reason, count in link.stats.errors.items()]
    if not drained:
        stats.errors.append(f"{queue.depth()} batches not acknowledged")
    return stats
