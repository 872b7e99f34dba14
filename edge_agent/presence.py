"""Node presence and status, published as retained documents.

A node is ``online`` from its hello. It stays online while frames arrive; a
connected node silent for ``grace`` keepalive intervals is disconnected (the
ingest asks :meth:`Presence.expired_links`). After a disconnect a node stays
online for the rest of its keepalive window (a quick reconnect does not flap)
and then goes ``offline``. A battery node that sleeps by design (``sleep_s``
in the keys file) goes ``asleep`` when it disconnects, and ``offline`` only
after ``sleep_grace`` of its own reporting intervals without a hello.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_agent.protocol import Hello
from edge_agent.topics import Topics

ONLINE = "online"
ASLEEP = "asleep"
OFFLINE = "offline"


@dataclass(slots=True)
class NodePresence:
    """What the edge knows about one node."""

    node: str
    kit: str
    state: str = OFFLINE
    since: float = 0.0
    last_seen: float = 0.0
    firmware: str = ""
    sleep_s: int = 0
    connected: bool = False
    deadline: float = 0.0
    status: dict[str, Any] = field(default_factory=dict)


class Presence:
    """Tracks nodes and publishes presence and status documents (retained)."""

    def __init__(
        self,
        *,
        topics: Topics,
        publish: Callable[[bytes, bytes], None],
        edge_id: str,
        keepalive_s: float,
        grace: float = 2.5,
        sleep_grace: float = 1.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topics = topics
        self.publish = publish
        self.edge_id = edge_id
        self.window_s = keepalive_s * grace
        self.sleep_grace = sleep_grace
        self.clock = clock
        self.nodes: dict[str, NodePresence] = {}

    def counts(self) -> dict[tuple[str, ...], float]:
        """Nodes per state (for metrics)."""
        out: dict[tuple[str, ...], float] = {(s,): 0.0 for s in (ONLINE, ASLEEP, OFFLINE)}
        for n in self.nodes.values():
            out[(n.state,)] += 1
        return out

    def _set(self, n: NodePresence, state: str, now: float) -> None:
        if n.state != state:
            n.state = state
            n.since = now
        doc = {
            "node": n.node,
            "state": state,
            "since": round(n.since, 3),
            "last_seen": round(n.last_seen, 3),
            "firmware": n.firmware,
            "edge": self.edge_id,
        }
        self.publish(self.topics.node_presence(n.kit, n.node), self.topics.document(doc))

    def hello(self, event: Hello, sleep_s: int = 0) -> None:
        """A node said hello: online, and its status document updated."""
        now = self.clock()
        n = self.nodes.get(event.node_id)
        if n is None or n.kit != event.kit:
            n = self.nodes[event.node_id] = NodePresence(event.node_id, event.kit)
        n.firmware = event.firmware
        n.sleep_s = sleep_s
        n.connected = True
        n.last_seen = now
        n.status.update(
            node=event.node_id,
            kit=event.kit,
            firmware=event.firmware,
            slot=event.slot,
            boot=event.boot,
            caps=list(event.caps),
            protocol=event.protocol,
            edge=self.edge_id,
            hello_at=round(now, 3),
        )
        self._set(n, ONLINE, now)
        self._publish_status(n)

    def health(self, node: str, health: dict[str, Any]) -> None:
        """A node's health report, merged into its status document."""
        n = self.nodes.get(node)
        if n is None:
            return
        n.status["health"] = health
        n.status["health_at"] = round(self.clock(), 3)
        self._publish_status(n)

    def _publish_status(self, n: NodePresence) -> None:
        self.publish(self.topics.node_status(n.kit, n.node), self.topics.document(n.status))

    def disconnected(self, node: str, last_seen: float) -> None:
        """A node's connection closed; ``last_seen`` is when its last frame arrived."""
        n = self.nodes.get(node)
        if n is None:
            return
        n.connected = False
        n.last_seen = last_seen
        now = self.clock()
        if n.sleep_s:
            n.deadline = last_seen + n.sleep_s * self.sleep_grace
            self._set(n, ASLEEP, now)
        else:
            n.deadline = last_seen + self.window_s

    def sweep(self) -> None:
        """Mark disconnected nodes whose window has passed offline."""
        now = self.clock()
        for n in self.nodes.values():
            if not n.connected and n.state != OFFLINE and now >= n.deadline:
                self._set(n, OFFLINE, now)
