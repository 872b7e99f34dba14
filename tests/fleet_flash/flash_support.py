"""Test support for ``fleet flash``: a blank virtual board, the fleet manager, an
edge agent with a private Mosquitto, and devices that misbehave.

Nothing here is a mock object: the board is the real ``micropython`` on a pty
console (:class:`hardware.hal.supervisor.Supervisor`), the fleet side is the real
fleet manager (registry on SQLite, HTTP API, MQTT status ingester, ``fleet
edge-sync``) and the edge agent is :class:`edge_agent.agent.EdgeAgent`, with a
real Mosquitto between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import secrets
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import serial

from edge_agent.agent import EdgeAgent
from edge_agent.config import parse_config
from hardware.hal.supervisor import Supervisor
from hardware.loopback import PrivateBroker as Broker
from hardware.loopback import free_port

HERE = Path(__file__).resolve().parent
MP_DIR = HERE / "mp"
PREFIX = "citynerve-flash-test"
DISTRICT = "testdistrict"


# -- the blank virtual board -------------------------------------------------------------


class VirtualBoard:
    """MicroPython with an empty littlefs (no firmware): it sits at the REPL.

    ``start()`` powers it on with a fresh console port (``port``); ``power_cut()``
    kills the board process (the port stays, silent); ``unplug()`` also closes the
    console ptys (the tool's port goes away, as when a USB cable is pulled).
    """

    def __init__(
        self, work: Path, *, blocks: int = 512, board: str = "esp32c3-devkitm-1", name: str = "b"
    ) -> None:
        self.work = work
        self.image = work / f"{name}.img"
        self.config_path = work / f"{name}.board.json"
        config: dict[str, Any] = {
            "entry": "blank_entry",
            "paths": [str(MP_DIR)],
            "setup": "blank_setup:setup",
            "board": board,
            "flash": {"image": str(self.image), "blocks": blocks, "format": "if_blank"},
        }
        self.config_path.write_text(json.dumps(config))
        self.sup: Supervisor | None = None
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> str:
        assert self.sup is not None and self.sup.console_port is not None
        return self.sup.console_port

    def start(self, *, wait_repl: bool = True) -> VirtualBoard:
        self.sup = Supervisor(self.config_path, console=True)
        sup = self.sup
        self.thread = threading.Thread(
            target=lambda: _quietly(sup.run, max_boots=100, timeout=900), daemon=True
        )
        self.thread.start()
        if wait_repl:
            self.wait_for(b">>> ")
        return self

    def wait_for(self, marker: bytes, timeout: float = 20.0) -> bytes:
        """Read the console until ``marker`` (then let go of the port)."""
        data = b""
        with serial.Serial(self.port, 115200, timeout=0.1) as s:
            deadline = time.monotonic() + timeout
            while marker not in data:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {marker!r} from the board: {data[-300:]!r}")
                data += s.read(s.in_waiting or 1)
        return data

    def power_cut(self) -> None:
        if self.sup is not None:
            self.sup.stop()
        if self.thread is not None:
            self.thread.join(10)

    def unplug(self) -> None:
        self.power_cut()
        if self.sup is not None:
            self.sup.close()

    def restart(self) -> VirtualBoard:
        """Power cycle (a new console port, as after re-plugging the cable)."""
        self.unplug()
        return self.start()

    def boots(self) -> int:
        return len(self.sup.boots) if self.sup is not None else 0

    def close(self) -> None:
        self.unplug()


def _quietly(fn: Any, **kwargs: Any) -> None:
    with contextlib.suppress(Exception):
        fn(**kwargs)


# -- a device that answers garbage ---------------------------------------------------------


class GarbageDevice:
    """A pty whose far end answers every write with noise (a wrong device or baud)."""

    def __init__(self, *, silent: bool = False) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.silent = silent
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                os.read(self.master, 1024)
                if not self.silent:
                    os.write(self.master, b"\xf0\x0f\xaa\x55 $GPGGA,noise*47\r\n\x00\xff")
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


# -- the edge agent, in its own thread ------------------------------------------------------


class EdgeThread:
    """:class:`EdgeAgent` on loopback in a background event loop."""

    def __init__(
        self,
        work: Path,
        keys_file: Path,
        *,
        mqtt_port: int | None,
        discovery: bool = False,
        edge_id: str = "edge-test-1",
        port: int = 0,
    ) -> None:
        if not keys_file.exists():
            keys_file.write_text(json.dumps({"nodes": {}}))
            keys_file.chmod(0o600)
        cfg = {
            "edge": {
                "id": edge_id,
                "district": DISTRICT,
                "state_dir": str(work / "edge-state"),
                "keepalive_s": 30,
            },
            "keys": {"file": str(keys_file), "poll_s": 0.1},
            "tcp": {"host": "127.0.0.1", "port": port},
            "mqtt": {
                "enabled": mqtt_port is not None,
                "port": mqtt_port or 1883,
                "prefix": PREFIX,
                "format": "json",
            },
            "metrics": {"enabled": False},
            "discovery": {"enabled": discovery, "interfaces": ["127.0.0.1"]},
            "log": {"level": "warning"},
        }
        self.config = parse_config(cfg)
        self.loop = asyncio.new_event_loop()
        self.agent: EdgeAgent | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._ready.wait(20) or self.agent is None:
            raise RuntimeError(f"the edge agent did not start: {self.error!r}")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as e:
            self.error = e
            self._ready.set()
        finally:
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for t in pending:
                t.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with EdgeAgent(config=self.config) as agent:
            self.agent = agent
            if agent.advertiser is not None:
                await asyncio.wait_for(agent.advertiser.registered.wait(), 10)
            self._ready.set()
            await self._stop.wait()

    @property
    def port(self) -> int:
        assert self.agent is not None and self.agent.tcp is not None
        return int(self.agent.tcp.port)

    def hellos(self) -> int:
        assert self.agent is not None
        return int(self.agent.ingest.frames["hello"])

    def stop(self) -> None:
        if self._stop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(15)


# -- a link without raw-paste ---------------------------------------------------------------


class NoRawPasteProxy:
    """A pty between the tool and a board that answers raw-paste requests with
    ``R\\x00`` itself (as a board without raw-paste does) and forwards the rest, so the
    tool must fall back to the plain raw REPL."""

    REQUEST = b"\x05A\x01"

    def __init__(self, board_port: str) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.board = os.open(board_port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.board)
        self.refused = 0
        self._stop = threading.Event()
        self._held = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import select

        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master, self.board], [], [], 0.1)
                for fd in ready:
                    data = os.read(fd, 4096)
                    if fd == self.board:
                        os.write(self.master, data)
                        continue
                    data = self._held + data
                    self._held = b""
                    while self.REQUEST in data:
                        i = data.index(self.REQUEST)
                        os.write(self.board, data[:i])
                        os.write(self.master, b"R\x00")
                        self.refused += 1
                        data = data[i + len(self.REQUEST) :]
                    keep = next(
                        (k for k in (2, 1) if data.endswith(self.REQUEST[:k])), 0
                    )  # a request split across reads
                    if keep:
                        self._held, data = data[-keep:], data[:-keep]
                    os.write(self.board, data)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for fd in (self.master, self.slave, self.board):
            with contextlib.suppress(OSError):
                os.close(fd)


# -- the real fleet manager -----------------------------------------------------------------


class RealFleet:
    """The fleet manager as deployed, on loopback: the registry (SQLite) behind the
    HTTP API (uvicorn), the MQTT status ingester, key notices, and ``fleet edge-sync``
    keeping the edge agent's keys file; a technician with a work order."""

    def __init__(self, work: Path, broker: Broker, *, kit: str = "elevator") -> None:
        import uvicorn

        from fleet.api.app import create_app
        from fleet.db import migrate
        from fleet.db.engine import make_engine
        from fleet.edge_sync import EdgeSync
        from fleet.ingest import StatusIngester
        from fleet.notify import MqttNotifier
        from fleet.registry import Principal, Registry
        from fleet.secrets import KeyBox

        url = f"sqlite:///{work / 'fleet.sqlite'}"
        migrate.upgrade(url)
        self.reg = Registry(make_engine(url), KeyBox(secrets.token_bytes(32)))
        admin = Principal(token_id=0, name="test", role="admin")
        self.notifier = MqttNotifier(host="127.0.0.1", port=broker.port, prefix=PREFIX)
        self.reg.notifier = self.notifier
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(self.reg),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.server_thread = threading.Thread(target=self.server.run, daemon=True)
        self.server_thread.start()
        self.ingester = StatusIngester(
            self.reg, host="127.0.0.1", port=broker.port, prefix=PREFIX, flush_s=0.05
        )
        self.ingester.start()
        if not self.ingester.wait_connected(10):
            raise RuntimeError("the status ingester did not connect")
        tech = self.reg.create_technician(admin, name="Li Wei", contact=None, remote=None)["id"]
        self.work_orders = [
            str(
                self.reg.create_work_order(
                    admin,
                    technician_id=tech,
                    district=DISTRICT,
                    kit=kit,
                    site="Yanping Rd 12",
                    quantity=2,
                    note=None,
                    remote=None,
                )["id"]
            )
            for _ in range(2)
        ]
        _, self.tech_token = self.reg.create_token(name="li", role="technician", technician_id=tech)
        _, edge_token = self.reg.create_token(name="edge", role="edge", district=DISTRICT)
        self.keys_file = work / "edge-keys.json"
        self.sync = EdgeSync(api=self.url, token=edge_token, keys_file=self.keys_file)
        deadline = time.monotonic() + 10
        while True:  # the server is up when the first pull answers
            try:
                self.sync.pull()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sync_thread = threading.Thread(
            target=self.sync.run,
            kwargs={
                "interval_s": 1.0,
                "mqtt_host": "127.0.0.1",
                "mqtt_port": broker.port,
                "prefix": PREFIX,
                "district": DISTRICT,
            },
            daemon=True,
        )
        self.sync_thread.start()
        self._admin = admin

    def register_edge(self, edge_id: str, endpoint: str) -> None:
        self.reg.upsert_edge(
            self._admin,
            edge_id=edge_id,
            district=DISTRICT,
            name=None,
            endpoints=[endpoint],
            remote=None,
        )

    def node(self, node_id: str) -> dict[str, Any]:
        return dict(self.reg.get_node(self._admin, node_id))

    def audited(self, action: str) -> list[str]:
        """Targets of the audit entries of ``action`` (``node.provision``...), oldest first."""
        items = self.reg.list_audit(action=action, limit=1000).items
        return [str(a["target_id"]) for a in reversed(items)]

    def key(self, node_id: str) -> str:
        """The node's key as the edge got it (hex)."""
        doc = json.loads(self.keys_file.read_text())
        return str(doc["nodes"][node_id]["key"])

    def close(self) -> None:
        self.sync.stop()
        self.sync_thread.join(10)
        self.ingester.stop()
        self.server.should_exit = True
        self.server_thread.join(10)
        self.notifier.close()
        self.reg.close()


class Stack:
    """Mosquitto, the fleet manager and an edge agent of its district."""

    def __init__(self, broker: Broker, fleet: RealFleet, edge: EdgeThread) -> None:
        self.broker = broker
        self.fleet = fleet
        self.edge = edge
        self.url = fleet.url
        self.token = fleet.tech_token
        self.wo1, self.wo2 = fleet.work_orders

    def provisioned(self) -> list[str]:
        return self.fleet.audited("node.provision")

    def installed(self) -> list[str]:
        return self.fleet.audited("node.installed")

    def state(self, node_id: str) -> str:
        return str(self.fleet.node(node_id)["state"])


@contextlib.contextmanager
def fleet_stack(work: Path, *, kit: str = "elevator") -> Iterator[Stack]:
    """The whole fleet side on loopback, torn down afterwards."""
    broker = Broker(work)
    fleet = stack = None
    try:
        fleet = RealFleet(work, broker, kit=kit)
        edge = EdgeThread(work, fleet.keys_file, mqtt_port=broker.port)
        stack = Stack(broker, fleet, edge)
        fleet.register_edge("edge-test-1", f"127.0.0.1:{edge.port}")
        yield stack
    finally:
        if stack is not None:
            stack.edge.stop()  # a test may have replaced it
        if fleet is not None:
            fleet.close()
        broker.stop()
