"""``citynerve demo``: virtual nodes talk to an edge endpoint over real TCP.

Each virtual node runs the node firmware's own modules in-process (recorder,
power-loss-safe flash queue in a temporary directory, link supervisor).

The endpoint runs the edge agent's protocol session (:class:`EdgeSession`):
it authenticates every frame, drops duplicates by the idempotency key
(node, epoch, seq), keeps each accepted batch and only then acknowledges it.
Storage here is in memory; the durable journal and the MQTT uplink are the
edge agent's (``edge-agent run``) once that lands.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field

import cbor2

from edge_agent.protocol import Alarm, Batch, EdgeSession, Hello, Refused
from hardware.virtual_node import NodeStats, demo_key, run_firmware_node


@dataclass(slots=True)
class DemoEdge:
    """An in-memory edge endpoint for the demo."""

    edge_id: str = "demo-edge"
    batches: dict[tuple[str, int, int], bytes] = field(default_factory=dict)
    hellos: list[Hello] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one node connection until it closes or misbehaves."""
        peer = "%s:%d" % writer.get_extra_info("peername")[:2]
        session = EdgeSession(keys=demo_key, edge_id=self.edge_id, peer=peer)
        try:
            while data := await reader.read(65536):
                for event in session.feed(data):
                    if isinstance(event, Refused):
                        self.refused[event.error.reason()] += 1
                        return
                    if isinstance(event, Hello):
                        self.hellos.append(event)
                    elif isinstance(event, Batch | Alarm):
                        key = (event.node_id, event.epoch, event.seq)
                        if key in self.batches:
                            self.duplicates += 1
                        self.batches[key] = event.pack
                        session.ack(event.epoch, event.seq)
                out = session.data_to_send()
                if out:
                    writer.write(out)
                    await writer.drain()
        finally:
            session.close()
            writer.close()


async def run_demo(*, nodes: int, batches: int, readings: int) -> dict[str, object]:
    """Start the endpoint on a free loopback port, run the nodes, summarise."""
    edge = DemoEdge()
    server = await asyncio.start_server(edge.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="citynerve-demo-") as workdir:
            results: list[NodeStats] = await asyncio.gather(
                *(
                    run_firmware_node(
                        f"ja-hyd-{i:06d}",
                        "127.0.0.1",
                        port,
                        workdir=workdir,
                        batches=batches,
                        readings=readings,
                        seed=i,
                    )
                    for i in range(nodes)
                )
            )
    finally:
        server.close()
        await server.wait_closed()
    elapsed = time.perf_counter() - started
    acked = sum(r.batches_acked for r in results)
    sample = cbor2.loads(next(iter(edge.batches.values()))) if edge.batches else []
    return {
        "port": port,
        "nodes": nodes,
        "hellos": len(edge.hellos),
        "batches_sent": sum(r.batches_sent for r in results),
        "batches_acked": acked,
        "batches_stored": len(edge.batches),
        "readings_acked": sum(r.readings_acked for r in results),
        "duplicates": edge.duplicates,
        "refused": dict(edge.refused),
        "node_errors": [e for r in results for e in r.errors],
        "seconds": round(elapsed, 3),
        "batches_per_s": round(acked / elapsed, 1) if elapsed else 0.0,
        "sample_record": {str(k): str(v) for k, v in sample[0].items()} if sample else {},
    }
