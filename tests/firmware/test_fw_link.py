"""The node's link (firmware/app/link.py) under the real MicroPython on the virtual board,
against the real edge agent: over TCP (the agent in-process, and as a process killed
with SIGKILL mid-stream) and over a serial line (a HAL UART on a pty, a noisy bridge, the
agent's serial ingest on the other pty). The node is tests/firmware/mp/link_node.py: the
firmware's FlashQueue on littlefs and Link, logging every connect, send and ack."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import random
import select
import threading
import tty
from pathlib import Path
from typing import Any

import pytest
from edge_helpers import AgentProcess, config_dict, free_port, make_config, write_keys, write_toml
from fw_helpers import NodeProcess, board_config, journal_keys, until

from edge_agent.agent import EdgeAgent
from hardware.virtual_node import demo_key

pytestmark = pytest.mark.micropython

NODE = "ja-hyd-000042"
BACKOFF_MIN_MS = 100
BACKOFF_MAX_MS = 800


def start_node(tmp_path: Path, uart: dict[str, Any] | None = None, **params: Any) -> NodeProcess:
    cfg = {
        "node": NODE,
        "key": demo_key(NODE).hex(),
        "backoff_min_ms": BACKOFF_MIN_MS,
        "backoff_max_ms": BACKOFF_MAX_MS,
        **params,
    }
    (tmp_path / "link.json").write_text(json.dumps(cfg))
    config = board_config(
        tmp_path / "node.board.json",
        entry="link_node",
        image=tmp_path / "node.img",
        blocks=256,
        uart=uart,
    )
    return NodeProcess(config, env={"FWTEST_LINK": str(tmp_path / "link.json")})


def check_backoff(node: NodeProcess) -> list[int]:
    """The waits before reconnecting: each within [step/2, step] (plus scheduling slack),
    the step starting at the minimum after a session that was up and doubling at each
    failed attempt up to the cap; the waits are jittered."""
    gaps: list[int] = []
    step = BACKOFF_MIN_MS
    ended = None
    for e in node.events():
        if e["ev"] == "connect" and ended is not None:
            gap = e["t"] - ended
            assert step // 2 - 5 <= gap <= step + 250, (gaps, gap, step)
            gaps.append(gap)
            step = min(step * 2, BACKOFF_MAX_MS)
            ended = None
        elif e["ev"] in ("connect_failed", "session_end"):
            ended = e["t"]
        elif e["ev"] == "welcome":
            step = BACKOFF_MIN_MS  # an established session resets the backoff
    return gaps


def first_sends(node: NodeProcess) -> list[str]:
    seen: list[str] = []
    for e in node.events("send"):
        if e["name"] not in seen:
            seen.append(e["name"])
    return seen


def expected_keys(node: NodeProcess) -> set[tuple[str, int, int]]:
    filled = node.events("filled")[0]
    return {(NODE, int(n[1:9], 16), int(n[9:17], 16)) for n in filled["head"]}


def test_the_edge_address_is_resolved_once_not_while_the_edge_is_down(fw_mp: Any) -> None:
    """No DNS look-ups while the edge is unreachable: the name is resolved at the first
    connect and again only after 5 failed connects in a row (under MicroPython a refused
    connect shows only at the first write, and still counts as a failure)."""
    out = fw_mp("resolve_case.py", {"closed": free_port(), "attempts": 11})
    assert all(e != 0 for e in out["errors"]), out
    assert out["lookups"] == 3  # attempts 1, 6 and 11
    assert out["address"] == "127.0.0.1" and out["failures_after_up"] == 0


async def test_a_backlog_goes_out_in_order_and_is_deleted_only_on_acks(tmp_path: Path) -> None:
    """40 batches and 2 alarms queued on flash while the edge is down: the node retries
    with a capped, jittered backoff and deletes nothing; once the edge is up the backlog
    goes out alarms first, then batches by seq, each deleted on its ack, each journaled
    once at the edge."""
    port = free_port()
    keys = write_keys(tmp_path / "keys.json", [NODE])
    node = start_node(tmp_path, tcp=["127.0.0.1", port], batches=40, alarms=2, deadline_s=60)
    agent = None
    try:
        await until(lambda: len(node.events("connect_failed")) >= 6, 20, "6 failed connects", node)
        assert node.events("ack") == [] and node.events("send") == []
        gaps = check_backoff(node)
        assert len(set(gaps)) > 1  # jittered
        config = make_config(tmp_path, broker=None, keys=keys, tcp={"port": port})
        agent = EdgeAgent(config=config)
        await agent.__aenter__()
        await asyncio.to_thread(node.wait, 60)
        out = node.result()
        assert out is not None, node.output()[-3000:]
        assert out["depth"] == 0 and out["files"] == []
        head = node.events("filled")[0]["head"]
        assert head[0][0] == head[1][0] == "a" and len(head) == 42
        assert first_sends(node) == head  # in order: alarms, then batches by seq
        acks = node.events("ack")
        assert len(acks) == 42 and all(a["deleted"] for a in acks)
        assert [a["depth"] for a in acks] == list(range(41, -1, -1))
        await agent.aclose()
        agent = None
        journal = journal_keys(tmp_path / "state")
        assert journal == dict.fromkeys(expected_keys(node), 1)
    finally:
        node.kill()
        if agent is not None:
            await agent.aclose()


async def test_edge_killed_mid_stream_everything_arrives_exactly_once(tmp_path: Path) -> None:
    """The edge agent (a real process) is killed with SIGKILL twice while 150 batches
    stream and restarted on the same port: the node reconnects with its capped, jittered
    backoff and resends what was not acked; every key is in the edge journal exactly
    once, and whatever the node had deleted when the edge died was already journaled."""
    port = free_port()
    keys = write_keys(tmp_path / "keys.json", [NODE])
    cfg = config_dict(tmp_path, broker=None, keys=keys, tcp_port=port)
    agent = AgentProcess(write_toml(tmp_path / "edge.toml", cfg), tmp_path / "agent.log")
    await asyncio.to_thread(agent.start)
    node = start_node(tmp_path, tcp=["127.0.0.1", port], batches=150, deadline_s=90)
    try:
        for acked in (25, 80):
            await until(lambda n=acked: len(node.events("ack")) >= n, 30, f"{acked} acks", node)
            agent.kill()
            await asyncio.sleep(0.3)
            deleted = {(NODE, a["epoch"], a["seq"]) for a in node.events("ack") if a["deleted"]}
            assert deleted <= set(journal_keys(tmp_path / "state"))  # journaled before acked
            await until(
                lambda: len(node.events("connect_failed")) >= 3, 10, "failed connects", node
            )
            await asyncio.to_thread(agent.start)
        assert await asyncio.to_thread(node.wait, 90) == 0, node.output()[-3000:]
        out = node.result()
        assert out["depth"] == 0 and out["files"] == []
        assert out["connects"] >= 3
        assert await asyncio.to_thread(agent.terminate) == 0
        journal = journal_keys(tmp_path / "state")
        assert journal == dict.fromkeys(expected_keys(node), 1)  # exactly once by key
        check_backoff(node)
    finally:
        node.kill()
        agent.kill()


class NoisyLine:
    """Two pty pairs and a thread copying bytes between their masters; every few chunks
    it inserts garbage, drops a byte or flips a bit (node to edge), or flips a bit of an
    edge frame (edge to node)."""

    def __init__(self, seed: int, every: int = 4, limit: int = 12) -> None:
        self.node_master, self.node_slave = pty.openpty()
        self.edge_master, self.edge_slave = pty.openpty()
        for fd in (self.node_slave, self.edge_slave):
            tty.setraw(fd)
        self.node_path = os.ttyname(self.node_slave)
        self.edge_path = os.ttyname(self.edge_slave)
        self.rng = random.Random(seed)
        self.every = every
        self.limit = limit
        self.chunks = 0
        self.injected: dict[str, int] = {"garbage": 0, "drop": 0, "flip": 0, "flip_down": 0}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _noise(self, data: bytes, up: bool) -> bytes:
        self.chunks += 1
        if self.chunks % self.every or sum(self.injected.values()) >= self.limit or not data:
            return data
        at = self.rng.randrange(len(data))
        if not up:
            self.injected["flip_down"] += 1
            return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :]
        kind = min(("garbage", "drop", "flip"), key=lambda k: self.injected[k])
        self.injected[kind] += 1
        if kind == "garbage":
            return bytes(self.rng.randrange(256) for _ in range(7)) + data
        if kind == "drop":
            return data[:at] + data[at + 1 :]
        return data[:at] + bytes([data[at] ^ (1 << self.rng.randrange(8))]) + data[at + 1 :]

    def _run(self) -> None:
        pairs = {self.node_master: self.edge_master, self.edge_master: self.node_master}
        while not self.stop.is_set():
            ready, _, _ = select.select(list(pairs), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                os.write(pairs[fd], self._noise(data, fd == self.node_master))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for fd in (self.node_master, self.node_slave, self.edge_master, self.edge_slave):
            os.close(fd)


async def test_serial_line_with_noise_resynchronises_and_loses_nothing(tmp_path: Path) -> None:
    """The firmware's SerialTransport on a HAL UART (a pty) and the edge's serial ingest on
    another pty, joined by a bridge that inserts garbage, drops bytes and flips bits both
    ways: frames are refused and counted at the edge, the node times out on lost acks and
    says hello again, and every batch reaches the journal exactly once."""
    line = NoisyLine(seed=7)
    keys = write_keys(tmp_path / "keys.json", [NODE])
    config = make_config(tmp_path, broker=None, keys=keys, serial=[{"device": line.edge_path}])
    agent = EdgeAgent(config=config)
    await agent.__aenter__()
    node = None
    try:
        await asyncio.wait_for(agent.serial[0].opened.wait(), 5)
        node = start_node(
            tmp_path,
            uart={"1": {"path": line.node_path}},
            uart_id=1,
            batches=30,
            alarms=1,
            ack_timeout_s=1,
            deadline_s=100,
        )
        assert await asyncio.to_thread(node.wait, 110) == 0, node.output()[-3000:]
        out = node.result()
        assert out["depth"] == 0 and out["files"] == [], out
        assert sum(line.injected.values()) >= 8, line.injected
        assert line.injected["drop"] and line.injected["flip"] and line.injected["garbage"]
        refused = agent.ingest.refused
        assert sum(refused.values()) >= 3, refused
        assert out["failures"] >= 1  # lost frames ended sessions; the node came back
        await agent.aclose()
        agent = None
        journal = journal_keys(tmp_path / "state")
        assert journal == dict.fromkeys(expected_keys(node), 1)
    finally:
        if node is not None:
            node.kill()
        if agent is not None:
            await agent.aclose()
        line.close()
