"""`edge-agent run` as a real process: kill -9 mid-stream, SIGTERM, SIGHUP, 2,000 connections."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

from edge_helpers import (
    AgentProcess,
    Broker,
    Node,
    batch_message,
    config_dict,
    free_port,
    write_keys,
    write_toml,
)

from firmware.wire import protocol as P


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.split(" ")[0] == name:
                return float(line.split(" ")[1])
    raise KeyError(name)


class QueueNode:
    """A node with a flash queue: queues a batch every ``interval`` s, sends it, deletes it
    on its ack, and resends every unacked batch after each reconnect."""

    def __init__(self, node_id: str, port: int, batches: int, interval: float) -> None:
        self.node_id = node_id
        self.port = port
        self.total = batches
        self.interval = interval
        self.produced = 0
        self.unacked: list[int] = []
        self.results: dict[int, int] = {}
        self.reconnects = 0

    def done(self) -> bool:
        return self.produced == self.total and not self.unacked

    async def run(self, deadline: float) -> None:
        next_at = time.monotonic()
        while not self.done() and time.monotonic() < deadline:
            node = Node(self.node_id, self.port)
            try:
                await node.connect()
                sent: set[int] = set()
                while not self.done():
                    now = time.monotonic()
                    while self.produced < self.total and now >= next_at:
                        self.unacked.append(self.produced)
                        self.produced += 1
                        next_at += self.interval
                    for seq in self.unacked:
                        if seq not in sent:
                            node.send(batch_message(self.node_id, 1, seq))
                            sent.add(seq)
                    await node.pump(0.02)
                    for (_, seq), result in node.acks.items():
                        if seq in self.unacked:
                            self.unacked.remove(seq)
                            self.results[seq] = result
                    if node.eof:
                        raise ConnectionError
            except (ConnectionError, OSError, TimeoutError):
                self.reconnects += 1
                await asyncio.sleep(0.05)
            finally:
                await node.close()


async def test_kill_9_mid_stream_many_times_loses_and_duplicates_nothing(
    tmp_path: Path, live_broker: Broker, subscriber_factory: Any
) -> None:
    """12 kill -9 at random instants while 10 nodes stream: every acked batch arrives, by key."""
    nodes = [f"ja-hyd-{i:06d}" for i in range(10)]
    keys = write_keys(tmp_path / "keys.json", nodes)
    port = free_port()
    config = config_dict(tmp_path, broker=live_broker, keys=keys, tcp_port=port)
    path = write_toml(tmp_path / "edge.toml", config)
    sub = subscriber_factory(f"{config['mqtt']['prefix']}/+/+/+/readings", client_id="sub-kill9")
    agent = AgentProcess(path, tmp_path / "agent.log")
    agent.start()
    queue_nodes = [QueueNode(n, port, 200, 0.03) for n in nodes]
    deadline = time.monotonic() + 90
    runners = [asyncio.create_task(q.run(deadline)) for q in queue_nodes]
    kills = 0
    for _ in range(12):
        await asyncio.sleep(random.uniform(0.1, 0.5))
        agent.kill()
        kills += 1
        await asyncio.sleep(random.uniform(0.0, 0.2))
        await asyncio.to_thread(agent.start)
    await asyncio.gather(*runners)
    assert all(q.done() for q in queue_nodes), [(q.produced, len(q.unacked)) for q in queue_nodes]
    expected = {f"{q.node_id}/1/{s}" for q in queue_nodes for s in range(200)}
    got = await sub.wait(lambda m: True, len(expected), 60)
    await asyncio.sleep(0.5)
    keys_seen = [m.records()[0]["ik"] for m in sub.where(lambda m: True)]
    assert set(keys_seen) == expected  # none lost, nothing that was never sent
    duplicates = len(keys_seen) - len(expected)
    assert duplicates < len(expected)  # resends after a kill are dropped by key upstream
    assert kills == 12 and sum(q.reconnects for q in queue_nodes) >= 12
    results = [r for q in queue_nodes for r in q.results.values()]
    assert set(results) <= {P.ACK_STORED, P.ACK_DUPLICATE}
    assert agent.terminate() == 0
    del got


async def test_sigterm_flushes_and_the_next_start_resumes_the_journal(
    tmp_path: Path, live_broker: Broker, subscriber_factory: Any
) -> None:
    """SIGTERM: exit 0 after acking what arrived; the next run publishes the journal."""
    keys = write_keys(tmp_path / "keys.json", ["ja-hyd-000001"])
    port = free_port()
    dead = Broker.__new__(Broker)
    dead.port = free_port()  # the platform is away during the first run
    config = config_dict(tmp_path, broker=dead, keys=keys, tcp_port=port)
    path = write_toml(tmp_path / "edge.toml", config)
    agent = AgentProcess(path, tmp_path / "agent.log")
    agent.start()
    node = await Node("ja-hyd-000001", port).connect()
    for seq in range(25):
        await node.batch(seq, wait=False)
    await node.until(lambda: len(node.acks) == 25)
    started = time.monotonic()
    assert await asyncio.to_thread(agent.terminate) == 0
    assert time.monotonic() - started < 10
    await node.until(lambda: node.eof, 5) if not node.eof else None
    log = [json.loads(line) for line in (tmp_path / "agent.log").read_text().splitlines()]
    assert any(r["msg"].startswith("edge agent edge-p stopped") for r in log)
    assert all(set(r) >= {"ts", "level", "logger", "msg"} for r in log)  # JSON lines
    sub = subscriber_factory(f"{config['mqtt']['prefix']}/#")
    config["mqtt"]["port"] = live_broker.port
    write_toml(path, config)
    agent.start()
    got = await sub.wait(lambda m: m.topic.endswith("/readings"), 25, 20)
    assert {m.records()[0]["ik"] for m in got} == {f"ja-hyd-000001/1/{s}" for s in range(25)}
    assert agent.terminate() == 0


async def test_sighup_reloads_the_keys_file(tmp_path: Path) -> None:
    """With polling effectively off, SIGHUP brings in a new node."""
    keys = write_keys(tmp_path / "keys.json", ["ja-hyd-000001"])
    port = free_port()
    config = config_dict(tmp_path, broker=None, keys=keys, tcp_port=port)
    config["keys"]["poll_s"] = 3600
    agent = AgentProcess(write_toml(tmp_path / "edge.toml", config), tmp_path / "agent.log")
    agent.start()
    write_keys(keys, ["ja-hyd-000001", "ja-hyd-000002"])
    assert agent.proc is not None
    agent.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "keys reloaded" not in (tmp_path / "agent.log").read_text():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    node = await Node("ja-hyd-000002", port).connect()
    assert await node.batch(1) == P.ACK_STORED
    await node.close()
    assert agent.terminate() == 0


async def test_two_thousand_concurrent_connections(tmp_path: Path) -> None:
    """2,000 nodes connected at once, each acked; RSS stays modest."""
    count = 2000
    names = [f"ja-hyd-{i:06d}" for i in range(count)]
    keys = write_keys(tmp_path / "keys.json", names)
    port, metrics_port = free_port(), free_port()
    config = config_dict(tmp_path, broker=None, keys=keys, tcp_port=port, metrics_port=metrics_port)
    agent = AgentProcess(write_toml(tmp_path / "edge.toml", config), tmp_path / "agent.log")
    agent.start()
    sem = asyncio.Semaphore(200)
    connected: list[Node] = []

    async def one(name: str) -> None:
        async with sem:
            node = await Node(name, port).connect()
            connected.append(node)
            node.send(batch_message(name, 1, 0, readings=5))

    await asyncio.gather(*(one(n) for n in names))
    for node in connected:
        await node.until(lambda n=node: (1, 0) in n.acks, 20)
    assert await asyncio.to_thread(_metric, metrics_port, "citynerve_edge_connections") == count
    assert agent.proc is not None
    rss = _rss_mb(agent.proc.pid)
    assert rss < 400, rss
    assert all(n.acks[(1, 0)] == P.ACK_STORED for n in connected)
    for node in connected:
        await node.close()
    assert agent.terminate() == 0
    assert os.path.getsize(tmp_path / "state" / "journal.sqlite") > 0  # noqa: ASYNC240
