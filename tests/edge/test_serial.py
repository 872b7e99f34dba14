"""Nodes on serial lines: the agent opens the slave of a real pty pair with pyserial."""

from __future__ import annotations

import asyncio
import os
import pty
import tty
from pathlib import Path
from typing import Any

from edge_helpers import batch_message, make_config

from edge_agent.agent import EdgeAgent
from firmware.wire import protocol as P
from firmware.wire.node_session import NodeSession
from hardware.virtual_node import demo_key

NODE = "ja-ele-000001"


class SerialNode:
    """The node end of the line: the pty master, driven by the firmware's NodeSession."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.session = NodeSession(NODE, demo_key(NODE), os.urandom(16))
        self.events: list[tuple[str, Any]] = []
        self.acks: dict[int, int] = {}
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        for name, value in self.session.feed(data):
            self.events.append((name, value))
            if name == "ack":
                self.acks[value[P.K_SEQ]] = value[P.K_RESULT]

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def reboot(self) -> None:
        self.session = NodeSession(NODE, demo_key(NODE), os.urandom(16))

    async def hello(self, within: float = 5.0) -> bool:
        before = sum(1 for n, _ in self.events if n == "welcome")
        self.write(bytes(self.session.hello("fw-2.0", "b", 9, "elevator", [])))
        return await self.until(
            lambda: sum(1 for n, _ in self.events if n == "welcome") > before, within
        )

    async def until(self, pred: Any, within: float = 5.0) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not pred():
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)


async def _line(tmp_path: Path, keys_path: Path) -> tuple[EdgeAgent, SerialNode, int]:
    master, slave = pty.openpty()
    tty.setraw(slave)
    from edge_helpers import write_keys

    write_keys(keys_path, [NODE])
    config = make_config(
        tmp_path, broker=None, keys=keys_path, serial=[{"device": os.ttyname(slave)}]
    )
    agent = EdgeAgent(config=config)
    await agent.__aenter__()
    await asyncio.wait_for(agent.serial[0].opened.wait(), 5)
    return agent, SerialNode(master), slave


async def test_batches_over_a_serial_line_survive_garbage_and_flipped_bits(tmp_path: Path) -> None:
    """Garbage between frames and a corrupted frame are counted; every batch is acked."""
    agent, node, slave = await _line(tmp_path, tmp_path / "keys.json")
    try:
        node.write(b"\x00\xffnoise\xc3")  # line noise before anything
        assert await node.hello()
        for seq in range(10):
            frame = bytearray(node.session.send(batch_message(NODE, 1, seq)))
            if seq == 4:
                frame[40] ^= 0x10  # a flipped bit: CRC error, no ack
            node.write(b"\x55" * (seq % 3) + bytes(frame))
        assert await node.until(lambda: len(node.acks) == 9)
        assert 4 not in node.acks
        node.write(bytes(node.session.send(batch_message(NODE, 1, 4))))  # the node resends
        assert await node.until(lambda: node.acks.get(4) == P.ACK_STORED)
        refused = agent.ingest.refused
        assert refused.get("frame.garbage", 0) >= 2
        assert refused.get("frame.crc") == 1
        assert agent.ingest.stored[0] == 10
        assert agent.presence.nodes[NODE].status["kit"] == "elevator"
    finally:
        node.close()
        await agent.aclose()
        os.close(node.master)
        os.close(slave)


async def test_a_node_that_reboots_says_hello_again_on_the_same_line(tmp_path: Path) -> None:
    """A fresh hello on an established line resets the session; the retry is welcomed."""
    agent, node, slave = await _line(tmp_path, tmp_path / "keys.json")
    try:
        assert await node.hello()
        node.write(bytes(node.session.send(batch_message(NODE, 1, 0))))
        assert await node.until(lambda: node.acks.get(0) == P.ACK_STORED)
        node.reboot()
        welcomed = await node.hello(within=1.0)
        assert not welcomed  # refused: it only reset the old session
        assert agent.ingest.refused.get("auth.mac") == 1
        node.reboot()  # the node's link layer retries with a fresh session
        assert await node.hello()
        node.write(bytes(node.session.send(batch_message(NODE, 1, 0))))  # resend after reboot
        assert await node.until(lambda: len(node.acks) == 1 and node.acks[0] == P.ACK_DUPLICATE)
        node.write(bytes(node.session.send(batch_message(NODE, 1, 1))))
        assert await node.until(lambda: node.acks.get(1) == P.ACK_STORED)
    finally:
        node.close()
        await agent.aclose()
        os.close(node.master)
        os.close(slave)


async def test_a_missing_serial_device_is_retried_without_stopping_the_agent(
    tmp_path: Path,
) -> None:
    """The port cannot be opened: counted and logged, TCP keeps working."""
    from edge_helpers import Node, write_keys

    keys = write_keys(tmp_path / "keys.json", ["ja-hyd-000001"])
    config = make_config(
        tmp_path, broker=None, keys=keys, serial=[{"device": str(tmp_path / "ttyNONE")}]
    )
    async with EdgeAgent(config=config) as agent:
        await asyncio.sleep(0.2)
        assert agent.serial[0].open_errors >= 1
        assert agent.tcp is not None
        tcp_node = await Node("ja-hyd-000001", agent.tcp.port).connect()
        assert await tcp_node.batch(1) == P.ACK_STORED
        await tcp_node.close()
