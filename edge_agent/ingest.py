"""The transport-independent ingest path: sessions in, journal submissions, acks out.

Every connection (a TCP socket, a serial line) is a :class:`NodeLink` around
an :class:`EdgeSession`. :class:`Ingest` turns session events into journal
submissions, drops duplicates by the idempotency key (node, epoch, seq) —
those already committed are acknowledged at once as duplicates, those still
waiting for their commit are acknowledged with it — and sends each ack only
after the journal's group commit. Refused frames are counted by reason and
logged at most once per peer and reason per interval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from edge_agent.dedup import DedupIndex
from edge_agent.journal import ALARM, PERIODIC, SUBMIT_OK, Entry, Journal
from edge_agent.logs import RateLimiter
from edge_agent.presence import Presence
from edge_agent.protocol import (
    Alarm,
    Batch,
    CommandResult,
    EdgeSession,
    Hello,
    Keepalive,
    OtaMessage,
    Refused,
    Status,
)
from firmware.wire import protocol as P

log = logging.getLogger("edge_agent.ingest")


class NodeLink:
    """One node connection: a session plus the transport's write/close/pause hooks."""

    __slots__ = (
        "_close",
        "_pause",
        "_resume",
        "closed",
        "ingest",
        "kind",
        "kit",
        "last_rx",
        "last_rx_wall",
        "node_id",
        "paused",
        "peer",
        "pending",
        "session",
        "write",
    )

    def __init__(
        self,
        *,
        ingest: Ingest,
        peer: str,
        kind: str,
        write: Callable[[bytes], None],
        close: Callable[[], None],
        pause: Callable[[], None] | None = None,
        resume: Callable[[], None] | None = None,
    ) -> None:
        self.ingest = ingest
        self.peer = peer
        self.kind = kind  # "tcp" or "serial"
        self.write = write
        self._close = close
        self._pause = pause
        self._resume = resume
        self.session = ingest.new_session(peer)
        self.node_id = ""
        self.kit = ""
        self.pending = 0
        self.paused = False
        self.closed = False
        self.last_rx = time.monotonic()
        self.last_rx_wall = time.time()

    def feed(self, data: bytes) -> None:
        """Bytes from the transport."""
        self.ingest.feed(self, data)

    def close(self, reason: str = "") -> None:
        """Close the connection (a serial line: start a fresh session on it instead)."""
        if self.closed:
            return
        if reason:
            log.info(
                "closing %s: %s",
                self.node_id or self.peer,
                reason,
                extra={"peer": self.peer, "node": self.node_id, "reason": reason},
            )
        if self.kind == "serial":
            self.reset()
            return
        self.closed = True
        self._close()

    def reset(self) -> None:
        """Start a fresh session on the same line (serial: the node will say hello again)."""
        self.ingest.unbind(self)
        self.session = self.ingest.new_session(self.peer)

    def pause(self) -> None:
        """Stop reading until the pending batches are committed."""
        if not self.paused and self._pause is not None:
            self.paused = True
            self._pause()

    def resume(self) -> None:
        """Read again."""
        if self.paused and self._resume is not None:
            self.paused = False
            self._resume()


class Ingest:
    """Sessions to journal to acks, for every link."""

    def __init__(
        self,
        *,
        keys: Callable[[str], bytes | None],
        sleep_s: Callable[[str], int],
        journal: Journal,
        dedup: DedupIndex,
        presence: Presence,
        forward: Callable[[list[Entry]], None],
        edge_id: str,
        keepalive_s: int,
        max_pending: int = 64,
        max_frame: int = 4096,
        refused_interval_s: float = 60.0,
    ) -> None:
        self.keys = keys
        self.sleep_s = sleep_s
        self.journal = journal
        self.dedup = dedup
        self.presence = presence
        self.forward = forward
        self.edge_id = edge_id
        self.keepalive_s = keepalive_s
        self.max_pending = max_pending
        self.max_frame = max_frame
        self.limiter = RateLimiter(interval_s=refused_interval_s)
        self.pending: dict[tuple[str, int, int], Entry] = {}
        self.links: set[NodeLink] = set()
        self.by_node: dict[str, NodeLink] = {}
        self.accepting = True
        # counters (read by the metrics gauges)
        self.frames = {"hello": 0, "batch": 0, "alarm": 0, "status": 0, "keepalive": 0}
        self.frames.update(command_result=0, ota=0)
        self.refused: dict[str, int] = {}
        self.readings = 0
        self.stored = {PERIODIC: 0, ALARM: 0}
        self.duplicates = 0
        self.refused_full = {PERIODIC: 0, ALARM: 0}
        self.commit_failed = 0
        self.replaced = 0
        self.closed_links: dict[str, int] = {}

    def new_session(self, peer: str) -> EdgeSession:
        """A fresh edge session for a new connection."""
        return EdgeSession(
            keys=self.keys,
            edge_id=self.edge_id,
            keepalive_s=self.keepalive_s,
            max_body=self.max_frame,
            peer=peer,
        )

    def opened(self, link: NodeLink) -> None:
        """A transport registered a new link."""
        self.links.add(link)

    def count_close(self, reason: str) -> None:
        """Count a connection closed by the edge, by reason."""
        self.closed_links[reason] = self.closed_links.get(reason, 0) + 1

    def unbind(self, link: NodeLink) -> None:
        """Forget the link's node (the link closed or starts a fresh session)."""
        node = link.node_id
        if node and self.by_node.get(node) is link:
            del self.by_node[node]
            self.presence.disconnected(node, link.last_rx_wall)
        link.node_id = ""

    def closed(self, link: NodeLink) -> None:
        """The transport closed."""
        link.closed = True
        link.session.close()
        self.links.discard(link)
        self.unbind(link)

    # --- the hot path ---------------------------------------------------------

    def feed(self, link: NodeLink, data: bytes) -> None:
        """Bytes from a link: handle every event, send what the session queued."""
        session = link.session
        events = session.feed(data)
        link.last_rx = time.monotonic()
        for event in events:
            if link.closed:
                return
            kind = type(event)
            if kind is Batch:
                self.frames["batch"] += 1
                self._store(link, event, PERIODIC)  # type: ignore[arg-type]
            elif kind is Alarm:
                self.frames["alarm"] += 1
                self._store(link, event, ALARM)  # type: ignore[arg-type]
            elif kind is Keepalive:
                self.frames["keepalive"] += 1
            elif kind is Refused:
                if self._refused(link, event):  # type: ignore[arg-type]
                    return
            elif kind is Hello:
                self.frames["hello"] += 1
                self._hello(link, event)  # type: ignore[arg-type]
            elif kind is Status:
                self.frames["status"] += 1
                self.presence.health(event.node_id, event.health)  # type: ignore[union-attr]
            elif kind is CommandResult:
                self.frames["command_result"] += 1
                log.info("command result from %s: %r", link.node_id, event)
            elif kind is OtaMessage:
                self.frames["ota"] += 1
        if link.session is session:
            out = session.data_to_send()
            if out:
                link.write(out)
        if link.pending >= self.max_pending:
            link.pause()

    def _hello(self, link: NodeLink, event: Hello) -> None:
        link.last_rx_wall = time.time()
        old = self.by_node.get(event.node_id)
        if old is not None and old is not link:
            self.replaced += 1
            self.unbind(old)
            self.count_close("replaced")
            old.close("a new connection of the same node replaces it")
        if link.node_id and link.node_id != event.node_id:
            self.unbind(link)
        link.node_id = event.node_id
        link.kit = event.kit
        self.by_node[event.node_id] = link
        self.presence.hello(event, self.sleep_s(event.node_id))

    def _store(self, link: NodeLink, event: Batch | Alarm, cls: int) -> None:
        node, epoch, seq = event.node_id, event.epoch, event.seq
        if self.dedup.seen(node, epoch, seq):
            self.duplicates += 1
            link.session.ack(epoch, seq, P.ACK_DUPLICATE)
            return
        key = (node, epoch, seq)
        waiting = self.pending.get(key)
        if waiting is not None:
            self.duplicates += 1
            if waiting.dups is None:
                waiting.dups = []
            waiting.dups.append(link)
            link.pending += 1
            return
        if cls == ALARM:
            entry = Entry(
                0,
                ALARM,
                node,
                epoch,
                seq,
                link.kit,
                event.kind,  # type: ignore[union-attr]
                event.severity,  # type: ignore[union-attr]
                int(time.time() * 1000),
                event.records,
                event.pack,
                link,
            )
        else:
            entry = Entry(
                0,
                PERIODIC,
                node,
                epoch,
                seq,
                link.kit,
                "",
                0,
                int(time.time() * 1000),
                event.records,
                event.pack,
                link,
            )
        if self.journal.submit(entry) != SUBMIT_OK:
            self.refused_full[cls] += 1
            if self.limiter.allow((node, "journal.full")):
                log.warning(
                    "journal full: %s from %s not accepted (the node keeps it)",
                    "alarm" if cls == ALARM else "batch",
                    node,
                    extra={"node": node, "reason": "journal.full"},
                )
            if link.kind == "tcp":
                self.count_close("journal_full")
                link.close()
            return
        self.pending[key] = entry
        link.pending += 1

    def _refused(self, link: NodeLink, event: Refused) -> bool:
        """Count and maybe log a refusal; return True when the link was closed."""
        error = event.error
        reason = error.reason()
        self.refused[reason] = self.refused.get(reason, 0) + 1
        who = error.peer or link.node_id or link.peer
        if self.limiter.allow((who, reason)):
            log.warning(
                "refused frame from %s: %s",
                who,
                error,
                extra={"peer": link.peer, "node": link.node_id, "reason": reason},
            )
        if link.kind == "tcp":
            self.count_close(reason)
            link.close()
            return True
        if event.fatal or error.kind in ("auth", "protocol"):
            link.reset()  # serial: a node that rebooted says hello again
            return True
        return False

    # --- journal callbacks ----------------------------------------------------

    def committed(self, group: list[Entry]) -> None:
        """A group is durable: acknowledge it and hand it to the uplink."""
        pending = self.pending
        add = self.dedup.add
        touched: set[NodeLink] = set()
        readings = 0
        for e in group:
            pending.pop((e.node, e.epoch, e.seq), None)
            add(e.node, e.epoch, e.seq)
            readings += e.records
            self.stored[e.cls] += 1
            link = e.link
            e.link = None
            if link is not None:
                link.pending -= 1
                if not link.closed and link.session.established and not link.session.closed:
                    link.session.ack(e.epoch, e.seq)
                    touched.add(link)
            if e.dups:
                for dup in e.dups:
                    dup.pending -= 1
                    if not dup.closed and dup.session.established and not dup.session.closed:
                        dup.session.ack(e.epoch, e.seq, P.ACK_DUPLICATE)
                        touched.add(dup)
                e.dups = None
        self.readings += readings
        self.forward(group)
        low = self.max_pending // 2
        for link in touched:
            out = link.session.data_to_send()
            if out and not link.closed:
                link.write(out)
            if link.paused and link.pending <= low:
                link.resume()

    def failed(self, group: list[Entry], error: str) -> None:
        """A group could not be committed: nothing is acknowledged; its nodes resend later."""
        self.commit_failed += len(group)
        for e in group:
            self.pending.pop((e.node, e.epoch, e.seq), None)
            for link in [e.link, *(e.dups or ())]:
                if link is not None and not link.closed:
                    link.pending -= 1
                    if link.kind == "tcp":
                        self.count_close("journal_error")
                        link.close(f"journal commit failed: {error}")
            e.link = None
            e.dups = None

    # --- control --------------------------------------------------------------

    def keys_changed(self, nodes: set[str]) -> None:
        """Close the connections of nodes whose key changed or was revoked."""
        for node in nodes:
            link = self.by_node.get(node)
            if link is not None:
                self.count_close("key_changed")
                link.close("its key changed or was revoked")

    def expire(self, window_s: float) -> None:
        """Close established links silent for longer than the keepalive window."""
        horizon = time.monotonic() - window_s
        for link in [x for x in self.links if x.last_rx < horizon and x.session.established]:
            self.count_close("keepalive_missed")
            link.close("no frame within the keepalive window")

    def close_all(self, reason: str) -> None:
        """Close every link (shutdown)."""
        for link in list(self.links):
            link.close(reason)

    def stats(self) -> dict[str, Any]:
        """Counters for the edge status document."""
        return {
            "connections": len(self.links),
            "nodes": len(self.by_node),
            "batches": self.stored[PERIODIC],
            "alarms": self.stored[ALARM],
            "readings": self.readings,
            "duplicates": self.duplicates,
            "refused": dict(self.refused),
            "refused_journal_full": {
                "periodic": self.refused_full[PERIODIC],
                "alarm": self.refused_full[ALARM],
            },
        }
