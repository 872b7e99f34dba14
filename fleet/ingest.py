"""The status ingester: the edge agents' MQTT status and presence topics into the registry.

It subscribes (QoS 1) to ``{prefix}/+/+/+/status`` and ``{prefix}/+/+/+/presence``
(docs/mqtt.md): a node's status document (hello facts: firmware, slot, boot
count; its health report) and presence (last seen), and the edges' own
documents under ``{prefix}/{district}/edges/{edge}/``. Documents are CBOR maps
or JSON objects (the edge's ``mqtt.format``). The newest report per node is
kept in memory and written in batches (every ``flush_s`` or ``max_batch``
nodes, one transaction). A failed write keeps the batch for the next one; the
memory is bounded by ``max_pending`` nodes (beyond that new reports are
dropped and counted).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cbor2

from fleet.mqtt_sub import MqttSubscriber
from fleet.registry import EdgeStatus, NodeStatus, Registry, health_of

log = logging.getLogger("fleet.ingest")


class BadDocument(ValueError):
    """A payload that is not a status or presence document."""


def decode_document(payload: bytes) -> dict[str, Any]:
    """A CBOR map or JSON object."""
    try:
        doc = json.loads(payload) if payload[:1] == b"{" else cbor2.loads(payload)
    except (ValueError, cbor2.CBORDecodeError, RecursionError) as e:
        raise BadDocument(f"not CBOR or JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadDocument("not a map")
    return doc


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 < value < 1e11:
        return None
    return datetime.fromtimestamp(float(value), UTC)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(value: Any, limit: int = 64) -> str | None:
    """Printable text of 1..limit characters, else None."""
    if not isinstance(value, str) or not 0 < len(value) <= limit or _CONTROL.search(value):
        return None
    return value


def clean(value: Any, depth: int = 4) -> Any:
    """A document made safe to store as JSON: plain types, printable text, finite numbers,
    bounded depth and size (an edge or node may send anything)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _CONTROL.sub("", value[:200])
    if depth <= 0:
        return None
    if isinstance(value, dict):
        return {
            _CONTROL.sub("", str(k)[:64]): clean(v, depth - 1) for k, v in list(value.items())[:64]
        }
    if isinstance(value, list | tuple):
        return [clean(v, depth - 1) for v in value[:64]]
    return None


def _latest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def node_report(kind: str, node: str, doc: Mapping[str, Any]) -> NodeStatus:
    """What a node's status or presence document says."""
    if kind == "presence":
        return NodeStatus(
            node=node, last_seen=_time(doc.get("last_seen")), edge=_text(doc.get("edge"))
        )
    hello_at = _time(doc.get("hello_at"))
    health_at = _time(doc.get("health_at"))
    at = _latest(hello_at, health_at)
    report = NodeStatus(
        node=node,
        last_seen=at,
        status_at=at,
        firmware=_text(doc.get("firmware")),
        slot=doc.get("slot") if doc.get("slot") in ("a", "b") else None,
        edge=_text(doc.get("edge")),
    )
    boot = doc.get("boot")
    if isinstance(boot, int) and not isinstance(boot, bool) and 0 <= boot < 2**31:
        report.boot = boot
    health = doc.get("health")
    if isinstance(health, dict) and health_at is not None:
        report.health = health_of(health)
        report.health_detail = {
            k: v
            for k, v in clean(health, 1).items()
            if isinstance(v, int | str | float | bool) and v is not None
        }
        report.health_at = health_at
    return report


@dataclass(slots=True)
class Counters:
    """What the ingester did (for logs, metrics and tests)."""

    received: int = 0
    bad: int = 0
    applied: int = 0
    unknown: int = 0
    dropped: int = 0
    flushes: int = 0
    flush_errors: int = 0
    rejected: int = 0
    edges: int = 0


class StatusIngester:
    """Subscribes to the status topics and writes node status in batches."""

    def __init__(
        self,
        registry: Registry,
        *,
        host: str,
        port: int = 1883,
        prefix: str = "citynerve",
        flush_s: float = 0.5,
        max_batch: int = 2000,
        max_pending: int = 200_000,
        client_id: str = "",
    ) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self.prefix = prefix.rstrip("/")
        self.flush_s = flush_s
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.counters = Counters()
        self._lock = threading.Lock()
        self._pending: dict[str, NodeStatus] = {}
        self._edges: dict[str, EdgeStatus] = {}
        self._writing = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._sub = MqttSubscriber(
            host=host,
            port=port,
            topics=[(f"{self.prefix}/+/+/+/status", 1), (f"{self.prefix}/+/+/+/presence", 1)],
            on_messages=self.handle_many,
            client_id=client_id or f"citynerve-fleet-ingest-{os.getpid()}-{id(self):x}",
        )
        self.connected = self._sub.connected

    # --- MQTT side -------------------------------------------------------------------

    def handle_many(self, messages: list[tuple[str, bytes]]) -> None:
        """Messages of the status and presence topics (one received chunk)."""
        for topic, payload in messages:
            self.handle(topic, payload)

    def handle(self, topic: str, payload: bytes) -> None:
        """One message of the status or presence topics."""
        self.counters.received += 1
        levels = topic[len(self.prefix) + 1 :].split("/")
        if len(levels) != 4 or levels[3] not in ("status", "presence"):
            self.counters.bad += 1
            return
        district, kit, name, kind = levels
        if _text(district, 32) is None or _text(name) is None:
            self.counters.bad += 1
            return
        try:
            doc = decode_document(payload)
        except BadDocument as e:
            self.counters.bad += 1
            log.debug("bad document on %s: %s", topic, e)
            return
        if kit == "edges":
            seen = _time(doc.get("since")) if kind == "presence" else None
            edge = EdgeStatus(
                edge=name,
                district=district,
                seen=seen or datetime.now(UTC),
                state=_text(doc.get("state"), 16) if kind == "presence" else None,
                version=_text(doc.get("version")),
                status=clean(doc) if kind == "status" else None,
            )
            with self._lock:
                self._edges[name] = edge
            return
        node = _text(doc.get("node")) or name
        report = node_report(kind, node, doc)
        with self._lock:
            old = self._pending.get(node)
            if old is not None:
                old.merge(report)
            elif len(self._pending) >= self.max_pending:
                self.counters.dropped += 1
                return
            else:
                self._pending[node] = report
            full = len(self._pending) >= self.max_batch
        if full:
            self._wake.set()

    # --- database side ----------------------------------------------------------------

    def flush(self) -> int:
        """Write what is pending now; return the nodes written."""
        with self._lock:
            batch, self._pending = self._pending, {}
            edges, self._edges = self._edges, {}
            self._writing = len(batch) + len(edges)
        if not batch and not edges:
            return 0
        try:
            if edges:
                self.registry.apply_edge_status(edges.values())
                self.counters.edges += len(edges)
            matched = self.registry.apply_status(batch.values()) if batch else 0
        except Exception:
            self.counters.flush_errors += 1
            if self._database_answers():
                # the database works: something in this batch cannot be stored; write the
                # reports one by one and drop (and count) only those that fail
                return self._isolate(batch, edges)
            log.exception("status batch of %d nodes not written; kept for the next", len(batch))
            with self._lock:
                for node, report in batch.items():
                    newer = self._pending.get(node)
                    if newer is not None:
                        report.merge(newer)
                    self._pending[node] = report
                for name, e in edges.items():
                    self._edges.setdefault(name, e)
            return 0
        finally:
            self._writing = 0
        self.counters.flushes += 1
        self.counters.applied += matched
        self.counters.unknown += len(batch) - matched
        return matched

    def _database_answers(self) -> bool:
        try:
            with self.registry.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def _isolate(self, batch: dict[str, NodeStatus], edges: dict[str, EdgeStatus]) -> int:
        matched = 0
        for e in edges.values():
            try:
                self.registry.apply_edge_status([e])
                self.counters.edges += 1
            except Exception as exc:
                self.counters.rejected += 1
                log.error("status of edge %r refused by the database: %s", e.edge, exc)
        for report in batch.values():
            try:
                n = self.registry.apply_status([report])
            except Exception as exc:
                self.counters.rejected += 1
                log.error("status of node %r refused by the database: %s", report.node, exc)
                continue
            matched += n
            self.counters.applied += n
            self.counters.unknown += 1 - n
        return matched

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()
        self.flush()

    def pending(self) -> int:
        """Reports not written yet (waiting, or in the batch being written)."""
        with self._lock:
            return len(self._pending) + len(self._edges) + self._writing

    # --- life cycle ---------------------------------------------------------------------

    def start(self, *, mqtt_client: bool = True) -> None:
        """Connect (in the background) and start the batch writer."""
        self._flusher = threading.Thread(target=self._flush_loop, name="fleet-ingest", daemon=True)
        self._flusher.start()
        if mqtt_client:
            self._sub.start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Whether the subscription is in place within ``timeout``."""
        return self.connected.wait(timeout)

    def stop(self) -> None:
        """Disconnect, write what is pending and stop."""
        self._stop.set()
        self._sub.stop()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join(30)
        log.info(
            "status ingester stopped: %s", self.counters, extra={"counters": vars_of(self.counters)}
        )


def vars_of(c: Counters) -> dict[str, int]:
    """The counters as a dict."""
    return {name: getattr(c, name) for name in c.__slots__}


def wait_until(pred: Any, timeout: float, step: float = 0.02) -> bool:
    """Poll ``pred`` until true or ``timeout`` (a helper for tests and tools)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())
