"""The durable journal: SQLite in WAL mode with synchronous=FULL and group commit.

Batches and alarms from every connection are handed to :meth:`Journal.submit`
on the event loop; one writer thread takes whatever has accumulated (up to
``group_max``), inserts it in one transaction and commits, then calls
``on_committed`` on the loop with the whole group: only then are the nodes
acknowledged. While a commit is in flight the next group accumulates, so the
commit rate adapts to the load (one fsync per group, not per batch).

Published rows are deleted by :meth:`Journal.checkpoint` only after their
PUBACK, in the same transaction that saves the dedup state covering them, so
after ``kill -9`` every acknowledged key is either still in the journal (and
will be published) or in the saved dedup state (and a resend is a duplicate).

The disk budget counts payload plus a fixed per-row overhead. Past it,
periodic readings are refused (``refuse_new``: not acknowledged, the node
keeps them) or the oldest unpublished periodic rows are dropped
(``drop_oldest_periodic``); alarms may use ``alarm_reserve`` above the budget
and are never dropped. Every drop and refusal is counted.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.dedup import DedupIndex

log = logging.getLogger("edge_agent.journal")

PERIODIC = 0
ALARM = 1
ROW_OVERHEAD = 64  # bytes counted per row besides the pack (keys, index entries)

SUBMIT_OK = 0
SUBMIT_FULL = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal(
    id INTEGER PRIMARY KEY,
    cls INTEGER NOT NULL,
    node TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    kit TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity INTEGER NOT NULL,
    received INTEGER NOT NULL,
    records INTEGER NOT NULL,
    pack BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS journal_alarms ON journal(id) WHERE cls = 1;
CREATE TABLE IF NOT EXISTS dedup(node TEXT PRIMARY KEY, ranges BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
_COLUMNS = "id, cls, node, epoch, seq, kit, kind, severity, received, records, pack"
_ROW = "(?,?,?,?,?,?,?,?,?,?,?)"
# Rows go in with multi-row statements of these sizes: one sqlite3_step (one
# release of the GIL) per chunk instead of per row, so the writer thread does
# not queue for the GIL behind a busy event loop once per row.
_CHUNKS = (256, 64, 16, 4, 1)
_INSERTS = {
    n: f"INSERT INTO journal({_COLUMNS}) VALUES " + ",".join([_ROW] * n)  # noqa: S608
    for n in _CHUNKS
}
_DELETES = {
    n: "DELETE FROM journal WHERE id IN (" + ",".join("?" * n) + ")"  # noqa: S608
    for n in _CHUNKS
}
_UPSERTS = {
    n: "INSERT OR REPLACE INTO dedup(node, ranges) VALUES " + ",".join(["(?,?)"] * n)  # noqa: S608
    for n in _CHUNKS
}
_SELECT = f"SELECT {_COLUMNS} FROM journal"  # noqa: S608
SCHEMA_VERSION = 1


class JournalError(Exception):
    """The journal file cannot be opened or is not a journal."""


@dataclass(slots=True, eq=False)
class Entry:
    """One journaled batch or alarm (``link`` and ``dups`` live only in memory)."""

    id: int
    cls: int
    node: str
    epoch: int
    seq: int
    kit: str
    kind: str
    severity: int
    received_ms: int
    records: int
    pack: bytes
    link: Any = None
    dups: list[Any] | None = field(default=None)

    @property
    def size(self) -> int:
        """Bytes this row counts against the disk budget."""
        return len(self.pack) + ROW_OVERHEAD

    def row(self) -> tuple[Any, ...]:
        """The row as inserted."""
        return (
            self.id,
            self.cls,
            self.node,
            self.epoch,
            self.seq,
            self.kit,
            self.kind,
            self.severity,
            self.received_ms,
            self.records,
            self.pack,
        )


@dataclass(slots=True)
class _Checkpoint:
    trims: list[tuple[int, int]]
    blobs: dict[str, bytes]
    future: asyncio.Future[bool]


@dataclass(slots=True)
class Dropped:
    """Rows removed by the drop-oldest policy in one transaction."""

    batches: int = 0
    readings: int = 0
    bytes: int = 0


def _chunked(
    conn: sqlite3.Connection, statements: dict[int, str], rows: list[tuple[Any, ...]]
) -> None:
    """Run a multi-row statement over ``rows`` in chunks of the prepared sizes."""
    i, n = 0, len(rows)
    for size in _CHUNKS:
        sql = statements[size]
        while n - i >= size:
            params: list[Any] = []
            for row in rows[i : i + size]:
                params.extend(row)
            conn.execute(sql, params)
            i += size


def _runs(trims: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Acknowledged ids as (first, last) runs: PUBACKs come mostly in id order."""
    ids = sorted(i for i, _ in trims)
    runs: list[tuple[int, int]] = []
    if not ids:
        return runs
    first = last = ids[0]
    for i in ids[1:]:
        if i != last + 1:
            runs.append((first, last))
            first = i
        last = i
    runs.append((first, last))
    return runs


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class Journal:
    """The durable store between the nodes' acks and the uplink's PUBACKs."""

    def __init__(
        self,
        *,
        path: Path,
        budget_bytes: int,
        alarm_reserve_bytes: int = 0,
        when_full: str = "drop_oldest_periodic",
        group_max: int = 2000,
        dedup: DedupIndex,
        on_committed: Callable[[list[Entry]], None],
        on_failed: Callable[[list[Entry], str], None],
        is_protected: Callable[[int], bool] = lambda _id: False,
        on_dropped: Callable[[Dropped], None] | None = None,
    ) -> None:
        self.path = path
        self.budget = budget_bytes
        self.reserve = alarm_reserve_bytes
        self.drop_oldest = when_full == "drop_oldest_periodic"
        self.group_max = group_max
        self.dedup = dedup
        self.on_committed = on_committed
        self.on_failed = on_failed
        self.is_protected = is_protected
        self.on_dropped = on_dropped
        self.rows = 0
        self.bytes = 0  # committed rows plus pending submissions
        self.next_id = 1
        self.commits = 0
        self.commit_errors = 0
        self.last_commit_error = ""
        self.group_sizes = 0
        self._freeing = 0
        self._need_free = 0
        self._pending: deque[Entry] = deque()
        self._checkpoints: list[_Checkpoint] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._closing = False
        self._wake_scheduled = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._rlock = threading.Lock()
        self._flush_waiters: list[asyncio.Future[None]] = []

    # --- lifecycle -------------------------------------------------------------

    def open(self) -> list[Entry]:
        """Open or create the file, load dedup state; return the unpublished alarms."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = _connect(self.path)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise JournalError(f"{self.path}: cannot switch to WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA journal_size_limit=67108864")
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise JournalError(
                    f"{self.path}: journal schema {row[0]}, this agent reads {SCHEMA_VERSION}"
                )
            for node, blob in conn.execute("SELECT node, ranges FROM dedup"):
                self.dedup.load_node(node, blob)
            count, total, top = conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(length(pack)), 0) + COUNT(*) * {ROW_OVERHEAD},"  # noqa: S608
                " COALESCE(MAX(id), 0) FROM journal"
            ).fetchone()
            for node, epoch, seq in conn.execute("SELECT node, epoch, seq FROM journal"):
                self.dedup.add(node, epoch, seq)
            alarms = [Entry(*r) for r in conn.execute(_SELECT + " WHERE cls=1 ORDER BY id")]
        except sqlite3.DatabaseError as e:
            raise JournalError(f"{self.path}: cannot open the journal: {e}") from None
        self.rows, self.bytes, self.next_id = count, total, top + 1
        self._wconn = conn
        self._rconn = _connect(self.path)
        log.info(
            "journal opened: %d rows, %d bytes, %d alarms unpublished",
            count,
            total,
            len(alarms),
            extra={"path": str(self.path), "rows": count, "bytes": total},
        )
        return alarms

    def start(self) -> None:
        """Start the writer thread (call on the event loop)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._writer, name="journal-writer", daemon=True)
        self._thread.start()

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed (or failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flush_waiters.append(future)
        self._wake.set()
        await future

    async def close(self) -> None:
        """Commit what is pending, stop the writer and close the file; safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._closing = True
            self._wake.set()
            await asyncio.to_thread(thread.join)
        for conn in (self._wconn, self._rconn):
            if conn is not None:
                conn.close()
        self._wconn = self._rconn = None

    # --- loop side -------------------------------------------------------------

    def submit(self, entry: Entry) -> int:
        """Queue an entry for the next group commit; SUBMIT_FULL when the budget refuses it."""
        size = entry.size
        after = self.bytes + size
        if entry.cls == ALARM:
            if after > self.budget + self.reserve:
                return SUBMIT_FULL
        elif after - self._freeing > self.budget:
            if not self.drop_oldest or after > self.budget + self.reserve // 2:
                return SUBMIT_FULL
            need = after - self._freeing - self.budget
            self._freeing += need
            with self._lock:
                self._need_free += need
        entry.id = self.next_id
        self.next_id += 1
        self.bytes = after
        self._pending.append(entry)
        if not self._wake_scheduled:
            self._wake_scheduled = True
            self._idle.clear()
            assert self._loop is not None
            self._loop.call_soon(self._wake_writer)
        return SUBMIT_OK

    def _wake_writer(self) -> None:
        # once per loop iteration, not per entry: the whole iteration's entries
        # go into one group and threading.Event costs microseconds per call
        self._wake_scheduled = False
        self._wake.set()

    def checkpoint(
        self, trims: list[tuple[int, int]], blobs: dict[str, bytes]
    ) -> asyncio.Future[bool]:
        """Delete published rows (id, size) and save dedup blobs in one transaction."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if not trims and not blobs:
            future.set_result(True)
            return future
        with self._lock:
            self._checkpoints.append(_Checkpoint(trims, blobs, future))
        self._idle.clear()
        self._wake.set()
        return future

    @property
    def running(self) -> bool:
        """Whether the writer thread runs."""
        return self._thread is not None

    @property
    def pending(self) -> int:
        """Entries submitted and not yet committed."""
        return len(self._pending)

    def _done(
        self,
        group: list[Entry],
        checkpoints: list[_Checkpoint],
        dropped: Dropped,
        freeing: int,
        error: str,
    ) -> None:
        self._freeing -= freeing
        if error:
            self.commit_errors += 1
            self.last_commit_error = error
            self.bytes -= sum(e.size for e in group)
            for cp in checkpoints:
                if not cp.future.done():
                    cp.future.set_result(False)
            if group:
                self.on_failed(group, error)
        else:
            self.commits += 1
            self.group_sizes += len(group)
            trimmed = sum(len(cp.trims) for cp in checkpoints)
            self.rows += len(group) - trimmed - dropped.batches
            self.bytes -= sum(s for cp in checkpoints for _, s in cp.trims) + dropped.bytes
            if dropped.batches and self.on_dropped:
                self.on_dropped(dropped)
            for cp in checkpoints:
                if not cp.future.done():
                    cp.future.set_result(True)
            if group:
                self.on_committed(group)
        if not self._pending and self._idle.is_set():
            waiters, self._flush_waiters = self._flush_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    # --- writer thread ---------------------------------------------------------

    def _writer(self) -> None:
        conn = self._wconn
        loop = self._loop
        assert conn is not None and loop is not None
        while True:
            self._wake.wait()
            self._wake.clear()
            while True:
                group: list[Entry] = []
                pending = self._pending
                while pending and len(group) < self.group_max:
                    group.append(pending.popleft())
                with self._lock:
                    checkpoints, self._checkpoints = self._checkpoints, []
                    need, self._need_free = self._need_free, 0
                if not group and not checkpoints and need <= 0:
                    break
                dropped = Dropped()
                error = ""
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    if need > 0:
                        dropped = self._drop_oldest(conn, need)
                    for cp in checkpoints:
                        conn.executemany(
                            "DELETE FROM journal WHERE id BETWEEN ? AND ?", _runs(cp.trims)
                        )
                        _chunked(conn, _UPSERTS, list(cp.blobs.items()))
                    if group:
                        _chunked(conn, _INSERTS, [e.row() for e in group])
                    conn.execute("COMMIT")
                except sqlite3.Error as e:
                    error = f"{type(e).__name__}: {e}"
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                    log.error("journal commit failed: %s", error, extra={"path": str(self.path)})
                    time.sleep(0.05)  # do not spin on a failing disk
                if not self._pending:
                    self._idle.set()
                try:
                    loop.call_soon_threadsafe(self._done, group, checkpoints, dropped, need, error)
                except RuntimeError:  # the loop is closed: nothing left to tell
                    return
            if not self._pending:
                self._idle.set()
                try:
                    loop.call_soon_threadsafe(self._done, [], [], Dropped(), 0, "")
                except RuntimeError:
                    return
            if self._closing and not self._pending:
                with self._lock:
                    if not self._checkpoints:
                        return

    def _drop_oldest(self, conn: sqlite3.Connection, need: int) -> Dropped:
        dropped = Dropped()
        victims: list[tuple[int]] = []
        protected = self.is_protected
        for row_id, size, records in conn.execute(
            "SELECT id, length(pack), records FROM journal WHERE cls=0 ORDER BY id"
        ):
            if protected(row_id):
                continue
            victims.append((row_id,))
            dropped.batches += 1
            dropped.readings += records
            dropped.bytes += size + ROW_OVERHEAD
            if dropped.bytes >= need:
                break
        _chunked(conn, _DELETES, victims)
        return dropped

    # --- reads (any thread, serialised) ----------------------------------------

    def read(self, cls: int, from_id: int, limit: int) -> list[Entry]:
        """Committed rows of a class with id >= from_id, oldest first."""
        assert self._rconn is not None
        with self._rlock:
            rows = self._rconn.execute(
                _SELECT + " WHERE cls=? AND id>=? ORDER BY id LIMIT ?",
                (cls, from_id, limit),
            ).fetchall()
        return [Entry(*r) for r in rows]

    def oldest_received_ms(self) -> int | None:
        """Receive time of the oldest row (None when empty)."""
        if self._rconn is None:
            return None
        with self._rlock:
            row = self._rconn.execute("SELECT received FROM journal ORDER BY id LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    def file_bytes(self) -> int:
        """Size of the database file and its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += Path(str(self.path) + suffix).stat().st_size
            except OSError:
                pass
        return total
