"""Helpers for the edge agent tests: a private Mosquitto, an MQTT subscriber, nodes, configs."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
import paho.mqtt.client as mqtt

from edge_agent.config import Config, parse_config
from firmware.wire import protocol as P
from firmware.wire.node_session import NodeSession
from firmware.wire.senml import PackWriter
from hardware.loopback import PrivateBroker, free_port, wait_port
from hardware.virtual_node import build_batch, demo_key

ROOT = Path(__file__).resolve().parents[2]


# what the tests import from here (the loopback helpers live in hardware.loopback)
REEXPORTED = (free_port, wait_port)


class Broker(PrivateBroker):
    """A private Mosquitto on a free loopback port, persistent, no queue limit."""

    def __init__(self, work: Path) -> None:
        super().__init__(work, persistent=True)


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool

    def records(self) -> list[dict[Any, Any]]:
        if self.payload[:1] == b"[":
            return json.loads(self.payload)  # type: ignore[no-any-return]
        return cbor2.loads(self.payload)  # type: ignore[no-any-return]

    def doc(self) -> dict[str, Any]:
        if self.payload[:1] == b"{":
            return json.loads(self.payload)  # type: ignore[no-any-return]
        return cbor2.loads(self.payload)  # type: ignore[no-any-return]


class Subscriber:
    """A real MQTT client at QoS 1 with a persistent session (clean_session false)."""

    def __init__(self, port: int, topic: str, *, client_id: str = "", delay_s: float = 0.0) -> None:
        self.port = port
        self.topic = topic
        self.delay_s = delay_s
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"sub-{random.randrange(1 << 30)}",
            clean_session=False,
        )
        self.client.max_inflight_messages_set(100)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.connected = threading.Event()
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise TimeoutError("subscriber did not connect")

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe(self.topic, qos=1)
        self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self.lock:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def matching(self, suffix: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def where(self, pred: Callable[[Message], bool]) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if pred(m)]

    async def wait(
        self, pred: Callable[[Message], bool], count: int = 1, within: float = 15.0
    ) -> list[Message]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            got = self.where(pred)
            if len(got) >= count:
                return got
            await asyncio.sleep(0.02)
        got = self.where(pred)
        raise AssertionError(
            f"expected {count} messages, got {len(got)}: {[m.topic for m in got][:10]}"
        )

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def write_keys(path: Path, nodes: dict[str, dict[str, Any]] | list[str], mode: int = 0o600) -> Path:
    if isinstance(nodes, list):
        nodes = {n: {} for n in nodes}
    doc = {"nodes": {n: {"key": demo_key(n).hex(), **extra} for n, extra in nodes.items()}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.chmod(mode)
    tmp.replace(path)
    return path


def make_config(
    tmp: Path, *, broker: Broker | None, keys: Path, **sections: dict[str, Any]
) -> Config:
    data: dict[str, Any] = {
        "edge": {
            "id": "edge-t",
            "district": "jingan",
            "state_dir": str(tmp / "state"),
            "keepalive_s": 5,
        },
        "keys": {"file": str(keys), "poll_s": 0.1},
        "tcp": {"host": "127.0.0.1", "port": 0, "hello_timeout_s": 1.0},
        "mqtt": {
            "enabled": broker is not None,
            "port": broker.port if broker else 1883,
            "prefix": f"t{random.randrange(1 << 30)}",
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.5,
            "status_interval_s": 1.0,
        },
        "metrics": {"port": 0},
        "discovery": {"enabled": False},
        "journal": {"checkpoint_s": 0.1},
        "log": {"refused_interval_s": 0.0},
    }
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **values}
        else:
            data[name] = values
    return parse_config(data)


def alarm_message(node_id: str, epoch: int, seq: int, kind: str = "tamper") -> bytes:
    buf = bytearray(512)
    pack = PackWriter(buf, P.BATCH_HEAD_MAX)
    pack.add_bool("valve_open", True, 0, node_id + ":", 1_790_000_100)
    start, end = pack.finish()
    head = P.write_batch_head(buf, start, bytearray(P.BATCH_HEAD_MAX), epoch, seq, kind, 2)
    return bytes(buf[head:end])


def batch_message(node_id: str, epoch: int, seq: int, readings: int = 20) -> bytes:
    return build_batch(
        node_id,
        epoch,
        seq,
        base_time=1_790_000_000 + seq,
        readings=readings,
        rng=random.Random(seq),
    )


@dataclass
class Node:
    """A node over real TCP using the firmware's NodeSession."""

    node_id: str
    port: int
    key: bytes | None = None
    epoch: int = 1
    kit: str = "hydrant"
    acks: dict[tuple[int, int], int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    events: list[tuple[str, Any]] = field(default_factory=list)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    session: NodeSession | None = None
    eof: bool = False

    async def connect(self, *, hello: bool = True) -> Node:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.session = NodeSession(self.node_id, self.key or demo_key(self.node_id), os.urandom(16))
        self.eof = False
        if hello:
            self.writer.write(bytes(self.session.hello("fw-1.0", "a", 3, self.kit, ["ota"])))
            await self.until(lambda: any(n == "welcome" for n, _ in self.events), 10)
        return self

    async def pump(self, within: float) -> None:
        assert self.reader is not None and self.session is not None
        try:
            data = await asyncio.wait_for(self.reader.read(65536), within)
        except TimeoutError:
            return
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return
        for name, value in self.session.feed(data):
            self.events.append((name, value))
            if name == "ack":
                self.acks[(value[P.K_EPOCH], value[P.K_SEQ])] = value[P.K_RESULT]
            elif name == "error":
                self.errors.append(str(value))

    async def until(self, pred: Callable[[], bool], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not pred():
            if self.eof:
                raise ConnectionError(f"{self.node_id}: the edge closed the connection")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.node_id}: condition not met in {within} s")
            await self.pump(min(left, 0.2))

    def send(self, message: bytes) -> None:
        assert self.writer is not None and self.session is not None
        self.writer.write(bytes(self.session.send(message)))

    async def batch(self, seq: int, *, wait: bool = True, readings: int = 20) -> int | None:
        self.send(batch_message(self.node_id, self.epoch, seq, readings))
        if not wait:
            return None
        await self.until(lambda: (self.epoch, seq) in self.acks)
        return self.acks[(self.epoch, seq)]

    async def alarm(self, seq: int, kind: str = "tamper") -> int:
        self.send(alarm_message(self.node_id, self.epoch, seq, kind))
        await self.until(lambda: (self.epoch, seq) in self.acks)
        return self.acks[(self.epoch, seq)]

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self.writer = None


class AgentProcess:
    """``edge-agent run`` as a real process (for kill -9, SIGTERM, SIGHUP)."""

    running: list[AgentProcess] = []  # killed by the conftest after each test

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        AgentProcess.running.append(self)

    def start(self, timeout: float = 20.0) -> dict[str, Any]:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(self.config_path)],
            stderr=log,
            stdout=log,
            cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_bytes()[offset:].splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("msg", "").startswith("edge agent") and "started" in rec.get("msg", ""):
                    return rec  # type: ignore[no-any-return]
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.02)
        raise TimeoutError(f"agent did not start: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.terminate()
        code = self.proc.wait(timeout)
        self.proc = None
        return code


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    lines: list[str] = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def config_dict(
    tmp: Path, *, broker: Broker | None, keys: Path, tcp_port: int, metrics_port: int = 0
) -> dict[str, Any]:
    return {
        "edge": {
            "id": "edge-p",
            "district": "jingan",
            "state_dir": str(tmp / "state"),
            "keepalive_s": 5,
        },
        "keys": {"file": str(keys), "poll_s": 0.1},
        "tcp": {
            "host": "127.0.0.1",
            "port": tcp_port,
            "hello_timeout_s": 2.0,
            "max_connections": 5000,
        },
        "mqtt": {
            "enabled": broker is not None,
            "port": broker.port if broker else 1883,
            "prefix": f"p{random.randrange(1 << 30)}",
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.5,
        },
        "metrics": {"port": metrics_port},
        "discovery": {"enabled": False},
        "journal": {"checkpoint_s": 0.1},
    }
