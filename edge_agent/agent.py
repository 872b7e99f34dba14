"""The edge agent: every service wired together, started and stopped in order.

Start: journal (recovering the previous run), keys, uplink and forwarder,
ingest, listeners, metrics, zeroconf, timers. Stop (SIGTERM, or leaving the
context): stop accepting, commit and acknowledge what is pending, close the
node connections, give in-flight publishes a moment, trim what was
acknowledged, publish the edge's offline presence and disconnect, close the
journal. The next start resumes from the journal.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_agent import __version__
from edge_agent.config import Config
from edge_agent.dedup import DedupIndex
from edge_agent.discovery import Advertiser
from edge_agent.ingest import Ingest
from edge_agent.ingest_serial import SerialIngest
from edge_agent.ingest_tcp import TcpIngest
from edge_agent.journal import ALARM, PERIODIC, Dropped, Entry, Journal
from edge_agent.keys import KeyStore
from edge_agent.metrics import MetricsServer, Registry
from edge_agent.presence import Presence
from edge_agent.topics import Topics
from edge_agent.uplink.forwarder import Forwarder
from edge_agent.uplink.mqtt import MqttUplink

log = logging.getLogger("edge_agent")

_MB = 1024 * 1024


class EdgeAgent:
    """One edge agent; ``async with EdgeAgent(config=...) as agent:`` runs it."""

    def __init__(self, *, config: Config) -> None:
        self.config = config
        self.edge_id = config.edge_id
        self.started = time.time()
        self.registry = Registry()
        self.dedup = DedupIndex(
            max_epochs=config.journal.dedup_epochs, max_ranges=config.journal.dedup_ranges
        )
        self.topics = Topics(
            prefix=config.mqtt.prefix,
            district=config.edge.district,
            edge_id=self.edge_id,
            fmt=config.mqtt.format,
        )
        self.dropped = Dropped()
        self.journal = Journal(
            path=config.journal_path,
            budget_bytes=int(config.journal.disk_budget_mb * _MB),
            alarm_reserve_bytes=int(config.journal.alarm_reserve_mb * _MB),
            when_full=config.journal.when_full,
            group_max=config.journal.group_max,
            dedup=self.dedup,
            on_committed=self._committed,
            on_failed=self._failed,
            is_protected=self._is_protected,
            on_dropped=self._on_dropped,
        )
        self.keys = KeyStore(
            path=Path(config.keys.file), poll_s=config.keys.poll_s, on_change=self._keys_changed
        )
        self.uplink: MqttUplink | None = None
        self.forwarder: Forwarder | None = None
        latency = self.registry.histogram(
            "publish_latency_seconds",
            "time from PUBLISH to PUBACK",
            (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        if config.mqtt.enabled:
            self.uplink = MqttUplink(
                host=config.mqtt.host,
                port=config.mqtt.port,
                client_id=config.client_id,
                keepalive_s=config.mqtt.keepalive_s,
                username=config.mqtt.username,
                password=_read_password(config.mqtt.password_file),
                ssl_context=_ssl_context(config),
                will=(self.topics.edge_presence(), self._edge_presence("offline")),
                birth=(self.topics.edge_presence(), self._edge_presence("online")),
                reconnect_min_s=config.mqtt.reconnect_min_s,
                reconnect_max_s=config.mqtt.reconnect_max_s,
                connect_timeout_s=config.mqtt.connect_timeout_s,
            )
            self.forwarder = Forwarder(
                uplink=self.uplink,
                journal=self.journal,
                topics=self.topics,
                window=config.mqtt.max_inflight,
                live_cap=config.mqtt.live_queue,
                backlog_rate=config.mqtt.backlog_rate,
                latency=latency,
            )
        self.presence = Presence(
            topics=self.topics,
            publish=self._publish_state,
            edge_id=self.edge_id,
            keepalive_s=config.edge.keepalive_s,
            grace=config.presence.grace,
            sleep_grace=config.presence.sleep_grace,
        )
        self.ingest = Ingest(
            keys=self.keys.lookup,
            sleep_s=self.keys.sleep_s,
            journal=self.journal,
            dedup=self.dedup,
            presence=self.presence,
            forward=self.forwarder.committed if self.forwarder else _discard,
            edge_id=self.edge_id,
            keepalive_s=config.edge.keepalive_s,
            max_pending=config.tcp.max_pending,
            max_frame=config.tcp.max_frame,
            refused_interval_s=config.log.refused_interval_s,
        )
        self.tcp: TcpIngest | None = None
        self.serial: list[SerialIngest] = []
        self.metrics: MetricsServer | None = None
        self.advertiser: Advertiser | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._closed = False
        self._register_metrics()

    # --- wiring callbacks -----------------------------------------------------

    def _committed(self, group: list[Entry]) -> None:
        self.ingest.committed(group)

    def _failed(self, group: list[Entry], error: str) -> None:
        self.ingest.failed(group, error)

    def _is_protected(self, row_id: int) -> bool:
        return self.forwarder.is_protected(row_id) if self.forwarder else False

    def _on_dropped(self, dropped: Dropped) -> None:
        self.dropped.batches += dropped.batches
        self.dropped.readings += dropped.readings
        self.dropped.bytes += dropped.bytes
        log.warning(
            "disk budget reached: dropped the %d oldest unsent batches (%d readings)",
            dropped.batches,
            dropped.readings,
            extra={"dropped_batches": dropped.batches, "dropped_readings": dropped.readings},
        )

    def _keys_changed(self, nodes: set[str]) -> None:
        self.ingest.keys_changed(nodes)

    def _publish_state(self, topic: bytes, payload: bytes) -> None:
        if self.forwarder is not None:
            self.forwarder.publish_state(topic, payload)

    def _edge_presence(self, state: str) -> bytes:
        return self.topics.document(
            {
                "edge": self.edge_id,
                "state": state,
                "district": self.config.edge.district,
                "version": __version__,
                "since": round(time.time(), 3),
            }
        )

    # --- status and health ----------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The edge status document (also published retained)."""
        j = self.journal
        fwd = self.forwarder
        return {
            "edge": self.edge_id,
            "district": self.config.edge.district,
            "version": __version__,
            "uptime_s": round(time.time() - self.started, 1),
            "tcp_port": self.tcp.port if self.tcp else None,
            **self.ingest.stats(),
            "journal": {
                "rows": j.rows,
                "bytes": j.bytes,
                "budget_bytes": j.budget,
                "dropped_batches": self.dropped.batches,
                "dropped_readings": self.dropped.readings,
                "commit_errors": j.commit_errors,
            },
            "uplink": {
                "connected": bool(self.uplink and self.uplink.connected),
                "published": sum(fwd.acks.values()) if fwd else 0,
            },
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        """/healthz: the journal must commit; the uplink state is reported."""
        j = self.journal
        ok = not self._closed and (j.commit_errors == 0 or j.commits > 0) and j.rows >= 0
        return ok, {
            "edge": self.edge_id,
            "journal_rows": j.rows,
            "journal_commit_errors": j.commit_errors,
            "uplink_connected": bool(self.uplink and self.uplink.connected),
            "connections": len(self.ingest.links),
        }

    def _register_metrics(self) -> None:
        r, ing, j = self.registry, self.ingest, self.journal
        r.gauge("connections", "open node connections", lambda: len(ing.links))
        r.gauge("nodes_connected", "nodes with an established session", lambda: len(ing.by_node))
        r.counter_fn(
            "frames",
            "frames accepted from nodes, by message type",
            lambda: {(k,): float(v) for k, v in ing.frames.items()},
            ("type",),
        )
        r.counter_fn(
            "frames_refused",
            "frames refused, by reason",
            lambda: {(k,): float(v) for k, v in ing.refused.items()},
            ("reason",),
        )
        r.counter_fn(
            "connections_closed",
            "connections closed by the edge, by reason",
            lambda: {(k,): float(v) for k, v in ing.closed_links.items()},
            ("reason",),
        )
        r.counter_fn(
            "stored",
            "batches and alarms journaled and acknowledged",
            lambda: {("periodic",): ing.stored[PERIODIC], ("alarm",): ing.stored[ALARM]},
            ("class",),
        )
        r.counter_fn("readings_stored", "readings journaled", lambda: ing.readings)
        r.counter_fn("duplicates", "batches acknowledged as duplicates", lambda: ing.duplicates)
        r.counter_fn(
            "journal_refused",
            "batches not accepted because the disk budget is reached",
            lambda: {
                ("periodic",): ing.refused_full[PERIODIC],
                ("alarm",): ing.refused_full[ALARM],
            },
            ("class",),
        )
        r.counter_fn(
            "journal_dropped_batches", "periodic batches dropped", lambda: self.dropped.batches
        )
        r.counter_fn(
            "journal_dropped_readings", "periodic readings dropped", lambda: self.dropped.readings
        )
        r.gauge("journal_rows", "rows in the journal (unpublished or untrimmed)", lambda: j.rows)
        r.gauge("journal_bytes", "bytes counted against the disk budget", lambda: j.bytes)
        r.gauge("journal_file_bytes", "journal file and WAL size", j.file_bytes)
        r.gauge("journal_pending", "batches awaiting their group commit", lambda: j.pending)
        r.gauge("journal_oldest_age_seconds", "age of the oldest journal row", self._oldest_age)
        r.counter_fn("journal_commits", "group commits", lambda: j.commits)
        r.counter_fn("journal_commit_errors", "failed commits", lambda: j.commit_errors)
        r.counter_fn("keys_reloads", "keys file reloads", lambda: self.keys.reloads)
        r.counter_fn(
            "keys_reload_errors", "keys file reloads refused", lambda: self.keys.reload_errors
        )
        r.gauge("keys_nodes", "nodes in the keys file", lambda: len(self.keys.nodes))
        r.gauge("presence_nodes", "nodes by presence state", self.presence.counts, ("state",))
        up, fwd = self.uplink, self.forwarder
        if up is not None and fwd is not None:
            r.gauge("mqtt_connected", "1 while the broker connection is up", lambda: up.connected)
            r.counter_fn("mqtt_connects", "broker connections made", lambda: up.connects)
            r.counter_fn(
                "mqtt_connect_failures",
                "broker connections failed or lost",
                lambda: up.connect_failures,
            )
            r.gauge("mqtt_inflight", "publishes awaiting PUBACK", lambda: len(fwd.inflight))
            r.counter_fn(
                "published",
                "messages acknowledged by the broker, by class",
                lambda: {
                    ("periodic",): fwd.acks[PERIODIC],
                    ("alarm",): fwd.acks[ALARM],
                    ("document",): fwd.acks[-1],
                },
                ("class",),
            )
            r.gauge(
                "forward_queue",
                "messages queued in memory, by queue",
                lambda: {
                    ("alarm",): len(fwd.alarms),
                    ("document",): len(fwd.states),
                    ("live",): len(fwd.live),
                    ("backlog",): len(fwd.backlog),
                },
                ("queue",),
            )

    def _oldest_age(self) -> float:
        oldest = self.journal.oldest_received_ms()
        return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)

    # --- lifecycle ------------------------------------------------------------

    async def __aenter__(self) -> EdgeAgent:
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _start(self) -> None:
        cfg = self.config
        alarms = self.journal.open()
        self.journal.start()
        await self.keys.__aenter__()
        if self.forwarder is not None and self.uplink is not None:
            self.forwarder.recover(alarms, self.journal.rows > len(alarms))
            await self.forwarder.__aenter__()
            await self.uplink.__aenter__()
        if cfg.tcp.enabled:
            self.tcp = TcpIngest(
                ingest=self.ingest,
                host=cfg.tcp.host,
                port=cfg.tcp.port,
                max_connections=cfg.tcp.max_connections,
                hello_timeout_s=cfg.tcp.hello_timeout_s,
            )
            await self.tcp.__aenter__()
            r = self.registry
            tcp = self.tcp
            r.counter_fn("tcp_accepted", "TCP connections accepted", lambda: tcp.accepted)
            r.counter_fn(
                "tcp_rejected", "TCP connections over max_connections", lambda: tcp.rejected
            )
        for port in cfg.serial:
            line = SerialIngest(ingest=self.ingest, device=port.device, baudrate=port.baudrate)
            self.serial.append(line)
            await line.__aenter__()
        if cfg.metrics.enabled:
            self.metrics = MetricsServer(
                registry=self.registry,
                health=self.health,
                host=cfg.metrics.host,
                port=cfg.metrics.port,
            )
            await self.metrics.__aenter__()
        if cfg.discovery.enabled and self.tcp is not None:
            self.advertiser = Advertiser(
                edge_id=self.edge_id,
                district=cfg.edge.district,
                port=self.tcp.port,
                interfaces=cfg.discovery.interfaces,
            )
            await self.advertiser.__aenter__()
        self._every(cfg.journal.checkpoint_s, self.checkpoint, "checkpoint")
        self._every(1.0, self._presence_tick, "presence")
        if self.forwarder is not None:
            self._every(cfg.mqtt.status_interval_s, self._publish_status, "edge-status")
        log.info(
            "edge agent %s started",
            self.edge_id,
            extra={
                "edge": self.edge_id,
                "version": __version__,
                "tcp_port": self.tcp.port if self.tcp else None,
                "metrics_port": self.metrics.port if self.metrics else None,
                "journal_rows": self.journal.rows,
            },
        )

    def _every(self, period: float, action: Callable[[], Any], name: str) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(period)
                try:
                    result = action()
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:
                    log.exception("%s failed", name)

        self._tasks.append(asyncio.create_task(loop(), name=name))

    async def checkpoint(self) -> None:
        """Trim acknowledged rows and save the dedup state (one transaction)."""
        fwd = self.forwarder
        trims = fwd.take_acked() if fwd else []
        dirty = set(self.dedup.dirty)
        blobs = self.dedup.take_dirty()
        done = await self.journal.checkpoint(trims, blobs)
        if fwd:
            fwd.trimmed(trims, done.untrimmed)
        if not done.saved:
            self.dedup.dirty |= dirty

    def _presence_tick(self) -> None:
        window = self.config.edge.keepalive_s * self.config.presence.grace
        self.ingest.expire(window)
        self.presence.sweep()

    def _publish_status(self) -> None:
        self._publish_state(self.topics.edge_status(), self.topics.document(self.status()))

    async def aclose(self) -> None:
        """Stop accepting, flush, close everything; safe to call twice."""
        if self._closing:
            return
        self._closing = True
        self.ingest.accepting = False
        if self.tcp is not None:
            self.tcp.stop_accepting()
        for line in self.serial:
            await line.aclose()
        if self.journal.running:
            await self.journal.flush()  # acks for everything received go out
        self.ingest.close_all("edge agent shutting down")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.forwarder is not None and self.uplink is not None:
            deadline = time.monotonic() + 1.0
            while (  # noqa: ASYNC110 - a bounded wait for the last PUBACKs
                self.forwarder.inflight and self.uplink.connected and time.monotonic() < deadline
            ):
                await asyncio.sleep(0.01)
            if self.journal.running:
                self._publish_status()
                await self.checkpoint()
            await self.uplink.aclose()
            await self.forwarder.aclose()
        if self.tcp is not None:
            await self.tcp.aclose()
        for service in (self.advertiser, self.metrics):
            if service is not None:
                await service.aclose()
        await self.keys.aclose()
        await self.journal.close()
        self._closed = True
        log.info("edge agent %s stopped", self.edge_id, extra={"journal_rows": self.journal.rows})

    async def run_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT; SIGHUP reloads the keys file."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.keys.reload)
        try:
            await stop.wait()
            log.info("signal received: shutting down")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)


def _discard(group: list[Entry]) -> None:
    """Forwarding disabled (mqtt.enabled = false): journal and acknowledge only."""


def _read_password(path: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text().strip()
    except OSError as e:
        raise ValueError(f"mqtt.password_file {path}: cannot read: {e.strerror or e}") from None


def _ssl_context(config: Config) -> ssl.SSLContext | None:
    m = config.mqtt
    if not m.tls:
        return None
    context = ssl.create_default_context(cafile=m.ca_file or None)
    if m.cert_file:
        context.load_cert_chain(m.cert_file, m.key_file or None)
    return context
