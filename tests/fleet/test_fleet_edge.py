"""Node keys reach a real edge agent through an edge token, and the node's hello comes back
through a real Mosquitto: provision -> notice -> fleet edge-sync pull -> the edge accepts the
node -> status -> ingester -> first hello -> installed; revoke -> the edge drops the node."""

from __future__ import annotations

import asyncio
import os
import random
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import BACKENDS
from fleet_helpers import ADMIN, Broker, LiveServer, make_registry, wait_for

from edge_agent.agent import EdgeAgent
from edge_agent.config import parse_config
from edge_agent.keys import read_keys
from firmware.wire.node_session import NodeSession
from fleet.edge_sync import EdgeSync, SyncError, read_token
from fleet.flash.registry_client import HttpRegistry, RegistryError
from fleet.ingest import StatusIngester
from fleet.notify import MqttNotifier
from fleet.registry import Registry


class Fleet:
    def __init__(self, reg: Registry, broker: Broker, prefix: str) -> None:
        self.reg = reg
        self.notifier = MqttNotifier(host="127.0.0.1", port=broker.port, prefix=prefix)
        reg.notifier = self.notifier
        self.server = LiveServer(reg)
        self.ingester = StatusIngester(
            reg, host="127.0.0.1", port=broker.port, prefix=prefix, flush_s=0.05
        )
        self.ingester.start()
        assert self.ingester.wait_connected(10)
        tech = reg.create_technician(ADMIN, name="Li", contact=None, remote=None)["id"]
        self.wo = reg.create_work_order(
            ADMIN,
            technician_id=tech,
            district="jingan",
            kit="hydrant",
            site="Yanping Rd",
            quantity=10,
            note=None,
            remote=None,
        )["id"]
        _, self.tech_token = reg.create_token(name="li", role="technician", technician_id=tech)
        _, self.edge_token = reg.create_token(name="edge-ja-1", role="edge", district="jingan")
        _, self.op_token = reg.create_token(name="op", role="operator")

    def close(self) -> None:
        self.ingester.stop()
        self.server.stop()
        self.notifier.close()


@pytest.fixture(params=BACKENDS)
def fleet(
    request: pytest.FixtureRequest, db_url_factory: Any, broker: Broker
) -> Iterator[tuple[Fleet, str]]:
    prefix = f"e2e{random.getrandbits(24)}"
    f = Fleet(make_registry(db_url_factory(str(request.param), "edge")), broker, prefix)
    yield f, prefix
    f.close()
    f.reg.close()


def edge_config(tmp: Path, keys: Path, broker: Broker, prefix: str) -> Any:
    return parse_config(
        {
            "edge": {
                "id": "edge-ja-1",
                "district": "jingan",
                "state_dir": str(tmp / "state"),
                "keepalive_s": 5,
            },
            "keys": {"file": str(keys), "poll_s": 0.05},
            "tcp": {"host": "127.0.0.1", "port": 0, "hello_timeout_s": 2.0},
            "mqtt": {
                "enabled": True,
                "port": broker.port,
                "prefix": prefix,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.5,
            },
            "metrics": {"port": 0},
            "discovery": {"enabled": False},
        }
    )


class Node:
    """A node over TCP with the firmware's NodeSession."""

    def __init__(self, node_id: str, key: bytes, port: int) -> None:
        self.node_id, self.key, self.port = node_id, key, port
        self.events: list[str] = []
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def hello(self, within: float = 5.0) -> bool:
        """Connect and say hello; whether the edge welcomed us."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        session = NodeSession(self.node_id, self.key, os.urandom(16))
        self.writer.write(bytes(session.hello("0.5.0", "a", 1, "hydrant", ["ota"])))
        self.session = session
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), 0.2)
            except TimeoutError:
                continue
            if not data:
                return False
            for name, _ in session.feed(data):
                self.events.append(name)
                if name == "welcome":
                    return True
        return False

    async def closed_by_edge(self, within: float) -> bool:
        assert self.reader is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), 0.2)
            except TimeoutError:
                continue
            except ConnectionError:
                return True
            if not data:
                return True
        return False

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def test_keys_to_edge_and_first_hello(
    fleet: tuple[Fleet, str], broker: Broker, tmp_path: Path
) -> None:
    f, prefix = fleet
    keys = tmp_path / "edge-keys.json"
    token_file = tmp_path / "edge.token"
    token_file.write_text(f.edge_token + "\n")
    token_file.chmod(0o600)
    sync = EdgeSync.from_token_file(api=f.server.url, token_file=token_file, keys_file=keys)
    first = await asyncio.to_thread(sync.pull)
    assert first.changed and first.nodes == 0
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert not (await asyncio.to_thread(sync.pull)).changed  # 304: nothing new
    agent = EdgeAgent(config=edge_config(tmp_path, keys, broker, prefix))
    await agent.__aenter__()
    runner = threading.Thread(
        target=sync.run,
        kwargs={
            "interval_s": 60.0,
            "mqtt_host": "127.0.0.1",
            "mqtt_port": broker.port,
            "prefix": prefix,
            "district": "jingan",
        },
        daemon=True,
    )
    runner.start()
    node: Node | None = None
    try:
        assert agent.tcp is not None
        port = agent.tcp.port
        f.reg.upsert_edge(
            ADMIN,
            edge_id="edge-ja-1",
            district="jingan",
            name=None,
            endpoints=[f"127.0.0.1:{port}"],
            remote=None,
        )
        client = HttpRegistry(f.server.url, f.tech_token)
        got = await asyncio.to_thread(client.provision, str(f.wo), {"board": "esp32c3"})
        node_id = got.node_id
        assert got.config["edge"]["tcp"] == [f"127.0.0.1:{port}"]
        key = got.key
        with pytest.raises(RegistryError, match="no hello"):
            await asyncio.to_thread(client.mark_installed, node_id, {})
        # the notice makes edge-sync pull at once; the edge reloads the keys file
        await asyncio.to_thread(
            wait_for, lambda: node_id in read_keys(keys)[0] and agent.keys.lookup(node_id), 10
        )
        assert read_keys(keys)[0][node_id].key == key
        assert read_keys(keys)[0][node_id].sleep_s == 900
        node = Node(node_id, key, port)
        assert await node.hello(), node.events
        seen = await asyncio.to_thread(
            lambda: client.wait_first_hello(node_id, previous=None, timeout=15, poll=0.1)
        )
        assert seen["firmware"] == "0.5.0" and seen["edge"] == "edge-ja-1"
        await asyncio.to_thread(client.mark_installed, node_id, {})
        assert client.node(node_id)["state"] == "installed"
        # revocation: the notice, a pull, the edge closes the node's connection
        async with httpx.AsyncClient(
            base_url=f.server.url, headers={"Authorization": f"Bearer {f.op_token}"}
        ) as op:
            assert (await op.post(f"/api/v1/nodes/{node_id}/revoke")).status_code == 200
        assert await node.closed_by_edge(10)
        assert read_keys(keys)[0][node_id].revoked
        again = Node(node_id, key, port)
        assert not await again.hello(2.0)
        await again.close()
        # an edge token of another district sees none of this
        _, xh = f.reg.create_token(name="edge-xh", role="edge", district="xuhui")
        other = EdgeSync(api=f.server.url, token=xh, keys_file=tmp_path / "xh.json")
        assert (await asyncio.to_thread(other.pull)).nodes == 0
        other.close()
        # edge-sync refuses tokens it cannot use, and leaves the file alone
        viewer = EdgeSync(api=f.server.url, token="cnf_wrong", keys_file=keys)
        before = keys.read_bytes()
        with pytest.raises(SyncError, match="HTTP 401"):
            await asyncio.to_thread(viewer.pull)
        assert keys.read_bytes() == before
        viewer.close()
        audit = f.reg.list_audit(target="jingan", action="keys.pull", limit=100).items
        assert audit and all(a["role"] == "edge" for a in audit)
    finally:
        sync.stop()
        runner.join(10)
        if node is not None:
            await node.close()
        await agent.aclose()


def test_token_file_must_be_private(tmp_path: Path) -> None:
    p = tmp_path / "t"
    p.write_text("cnf_x")
    p.chmod(0o644)
    with pytest.raises(SyncError, match="0600"):
        read_token(p)
    p.chmod(0o600)
    assert read_token(p) == "cnf_x"
