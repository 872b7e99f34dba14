"""Moves journaled batches and alarms, and retained documents, to the uplink.

Order of every free slot of the in-flight window: alarms first, then retained
documents (presence, status: coalesced per topic, latest wins), then live
batches and the backlog in turns, the backlog limited to ``backlog_rate``
messages per second (token bucket). "Live" are batches committed while the
uplink is up and the live queue has room; everything else (batches committed
during an outage, after a restart, or beyond the live queue) stays only in
the journal and is read back in id order by the sweeper: memory stays bounded
however long the broker is away.

A PUBACK marks a row acknowledged; the agent's checkpoint trims acknowledged
rows from the journal. On a disconnect everything in flight is put back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from edge_agent.journal import ALARM, PERIODIC, Entry, Journal
from edge_agent.metrics import Histogram
from edge_agent.tasks import stop_task
from edge_agent.topics import Topics
from edge_agent.uplink import Uplink

log = logging.getLogger("edge_agent.forwarder")

_SWEEP_BATCH = 512
_SWEEP_LOW = 1024
_ALARMS_IN_MEMORY = 10_000


class Forwarder:
    """Schedules publishes over one :class:`Uplink`; an async context manager."""

    def __init__(
        self,
        *,
        uplink: Uplink,
        journal: Journal,
        topics: Topics,
        window: int = 1000,
        live_cap: int = 20000,
        backlog_rate: float = 5000.0,
        latency: Histogram | None = None,
    ) -> None:
        self.uplink = uplink
        self.journal = journal
        self.topics = topics
        self.window = window
        self.live_cap = live_cap
        self.backlog_rate = backlog_rate
        self.latency = latency
        self.inflight: dict[int, tuple[Any, float]] = {}
        self.inflight_ids: set[int] = set()
        self.acked: list[tuple[int, int]] = []
        self.acked_ids: set[int] = set()
        self.alarms: deque[Entry] = deque()
        self.live: deque[Entry] = deque()
        self.live_ids: set[int] = set()
        self.backlog: deque[Entry] = deque()
        self.backlog_ids: set[int] = set()
        self.states: dict[bytes, bytes] = {}
        self.sweep_from: dict[int, int | None] = {PERIODIC: None, ALARM: None}
        self.published = {PERIODIC: 0, ALARM: 0, -1: 0}
        self.acks = {PERIODIC: 0, ALARM: 0, -1: 0}
        self.requeued = 0
        self._tokens = 0.0
        self._tokens_at = time.monotonic()
        self._turn_backlog = False
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._sweep_wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        uplink.on_ack = self._on_ack
        uplink.on_connected = self._on_connected
        uplink.on_disconnected = self._on_disconnected

    # --- inputs ---------------------------------------------------------------

    def recover(self, alarms: list[Entry], have_rows: bool) -> None:
        """Start from the journal left by a previous run."""
        for e in alarms[:_ALARMS_IN_MEMORY]:
            self.alarms.append(e)
        if len(alarms) > _ALARMS_IN_MEMORY:
            self._spill(ALARM, alarms[_ALARMS_IN_MEMORY].id)
        if have_rows:
            self._spill(PERIODIC, 0)

    def committed(self, group: list[Entry]) -> None:
        """Newly committed entries (the journal's callback)."""
        connected = self.uplink.connected
        live = self.live
        for e in group:
            if e.cls == ALARM:
                if len(self.alarms) < _ALARMS_IN_MEMORY and self.sweep_from[ALARM] is None:
                    self.alarms.append(e)
                else:
                    self._spill(ALARM, e.id)
            elif connected and len(live) < self.live_cap:
                live.append(e)
                self.live_ids.add(e.id)
            else:
                self._spill(PERIODIC, e.id)
        self.kick()

    def publish_state(self, topic: bytes, payload: bytes) -> None:
        """Queue a retained document; a newer one for the same topic replaces it."""
        self.states.pop(topic, None)
        self.states[topic] = payload
        self.kick()

    def is_protected(self, row_id: int) -> bool:
        """Rows the drop-oldest policy must not delete (queued, in flight, acknowledged)."""
        return (
            row_id in self.inflight_ids
            or row_id in self.acked_ids
            or row_id in self.live_ids
            or row_id in self.backlog_ids
        )

    def take_acked(self) -> list[tuple[int, int]]:
        """Acknowledged (id, size) pairs for the next checkpoint."""
        acked, self.acked = self.acked, []
        return acked

    def trimmed(self, trims: list[tuple[int, int]], untrimmed: list[tuple[int, int]]) -> None:
        """A checkpoint finished; the rows it could not trim are retried next time."""
        self.acked_ids.difference_update(i for i, _ in trims)
        if untrimmed:
            self.acked_ids.update(i for i, _ in untrimmed)
            self.acked.extend(untrimmed)

    @property
    def depth(self) -> int:
        """Messages waiting in memory (alarms, documents, live, backlog buffer)."""
        return len(self.alarms) + len(self.states) + len(self.live) + len(self.backlog)

    # --- scheduling -----------------------------------------------------------

    def kick(self) -> None:
        """Run :meth:`pump` soon (once, however often it is called)."""
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self.pump)

    def _spill(self, cls: int, row_id: int) -> None:
        current = self.sweep_from[cls]
        self.sweep_from[cls] = row_id if current is None else min(current, row_id)
        self._sweep_wake.set()

    def pump(self) -> None:
        """Fill the in-flight window."""
        self._scheduled = False
        up = self.uplink
        if not up.connected:
            return
        inflight = self.inflight
        room = self.window - len(inflight)
        if room <= 0:
            return
        now = time.monotonic()
        rate = self.backlog_rate
        if rate > 0:
            self._tokens = min(max(rate * 0.1, 1.0), self._tokens + (now - self._tokens_at) * rate)
        else:
            self._tokens = 1.0
        self._tokens_at = now
        topics = self.topics
        alarms, live, backlog, states = self.alarms, self.live, self.backlog, self.states
        ids = self.inflight_ids
        publish = up.publish
        if live and not alarms and not states and not backlog:
            # the common case: only live batches to send, in a tight loop
            entry_topic, entry_payload = topics.entry_topic, topics.entry_payload
            live_ids, published = self.live_ids, self.published
            for _ in range(min(room, len(live))):
                e = live.popleft()
                live_ids.discard(e.id)
                inflight[publish(entry_topic(e), entry_payload(e))] = (e, now)
                ids.add(e.id)
                published[e.cls] += 1
                room -= 1
            self._turn_backlog = True
        while room > 0:
            if alarms:
                e = alarms.popleft()
            elif states:
                topic = next(iter(states))
                payload = states.pop(topic)
                inflight[publish(topic, payload, retain=True)] = ((topic, payload), now)
                self.published[-1] += 1
                room -= 1
                continue
            elif backlog and (self._turn_backlog or not live) and self._tokens >= 1.0:
                e = backlog.popleft()
                self.backlog_ids.discard(e.id)
                if rate > 0:
                    self._tokens -= 1.0
                self._turn_backlog = False
            elif live:
                e = live.popleft()
                self.live_ids.discard(e.id)
                self._turn_backlog = True
            else:
                break
            inflight[publish(topics.entry_topic(e), topics.entry_payload(e))] = (e, now)
            ids.add(e.id)
            self.published[e.cls] += 1
            room -= 1
        up.flush()
        if backlog and room > 0 and self._tokens < 1.0 and self._timer is None and self._loop:
            self._timer = self._loop.call_later((1.0 - self._tokens) / rate, self._tick)
        if len(backlog) < _SWEEP_LOW and self.sweep_from[PERIODIC] is not None:
            self._sweep_wake.set()

    def _tick(self) -> None:
        self._timer = None
        self.pump()

    # --- uplink callbacks -----------------------------------------------------

    def _on_ack(self, pid: int) -> None:
        got = self.inflight.pop(pid, None)
        if got is None:
            return
        item, sent = got
        if type(item) is Entry:
            self.inflight_ids.discard(item.id)
            self.acked.append((item.id, item.size))
            self.acked_ids.add(item.id)
            self.acks[item.cls] += 1
        else:
            self.acks[-1] += 1
        if self.latency is not None:
            self.latency.observe(time.monotonic() - sent)
        self.kick()

    def _on_connected(self) -> None:
        self._sweep_wake.set()
        self.kick()

    def _on_disconnected(self, reason: str) -> None:
        back_alarms: list[Entry] = []
        for item, _ in self.inflight.values():
            if type(item) is Entry:
                if item.cls == ALARM:
                    back_alarms.append(item)
                else:
                    self._spill(PERIODIC, item.id)
            else:
                topic, payload = item
                self.states.setdefault(topic, payload)
            self.requeued += 1
        back_alarms.sort(key=lambda e: e.id, reverse=True)
        self.alarms.extendleft(back_alarms)
        self.inflight.clear()
        self.inflight_ids.clear()
        for queue, queued_ids in ((self.live, self.live_ids), (self.backlog, self.backlog_ids)):
            if queue:
                self._spill(PERIODIC, min(e.id for e in queue))
            queue.clear()
            queued_ids.clear()
        if self.uplink.stopping:
            log.info("uplink closed; %d in-flight messages stay in the journal", self.requeued)
        else:
            log.warning("uplink down: %s; in-flight messages will be resent", reason)

    # --- the sweeper ----------------------------------------------------------

    async def _sweeper(self) -> None:
        while True:
            await self._sweep_wake.wait()
            self._sweep_wake.clear()
            for cls in (ALARM, PERIODIC):
                while self.uplink.connected and self.sweep_from[cls] is not None:
                    queue = self.alarms if cls == ALARM else self.backlog
                    if len(queue) >= _SWEEP_LOW:
                        break
                    start = self.sweep_from[cls]
                    assert start is not None
                    self.sweep_from[cls] = None
                    rows = await asyncio.to_thread(self.journal.read, cls, start, _SWEEP_BATCH)
                    if len(rows) == _SWEEP_BATCH:
                        self._spill(cls, rows[-1].id + 1)
                    protected = self.is_protected
                    queued = {a.id for a in queue} if cls == ALARM else self.backlog_ids
                    for e in rows:
                        if not protected(e.id) and e.id not in queued:
                            queue.append(e)
                            if cls == PERIODIC:
                                self.backlog_ids.add(e.id)
                    self.kick()

    async def __aenter__(self) -> Forwarder:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._sweeper(), name="forwarder-sweeper")
        self._sweep_wake.set()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop sweeping; safe to call twice (the journal keeps everything unacknowledged)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task, self._task = self._task, None
        await stop_task(task)
