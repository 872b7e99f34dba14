"""The durable journal: SQLite in WAL mode with synchronous=FULL and group commit.

Batches and alarms from every connection are handed to :meth:`Journal.submit`
on the event loop; one writer thread takes whatever has accumulated (up to
``group_max``), inserts it with one multi-row statement (its own transaction:
one fsync) and calls ``on_committed`` on the loop with the whole group: only
then are the nodes acknowledged. While a commit is in flight the next group
accumulates, so the commit rate adapts to the load.

Published rows are deleted by :meth:`Journal.checkpoint` only after their
PUBACK and only once the dedup state covering them is committed: a checkpoint
first saves the dedup blobs, then deletes the rows, in slices committed
between the groups (a group never waits for a whole checkpoint). So after
``kill -9`` at any instant every acknowledged key is either still in the
journal (and will be published) or in the saved dedup state (and a resend is
a duplicate).

The disk budget counts payload plus a fixed per-row overhead. Past it,
periodic readings are refused (``refuse_new``: not acknowledged, the node
keeps them) or the oldest unpublished periodic rows are dropped
(``drop_oldest_periodic``); alarms may use ``alarm_reserve`` above the budget
and are never dropped. Every drop and refusal is counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
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
_SELECT = f"SELECT {_COLUMNS} FROM journal"  # noqa: S608
# How often a thread of its own copies the WAL into the database file (a
# passive checkpoint, beside the writer). The writer's connection keeps
# SQLite's automatic checkpoint, which then finds almost every frame copied:
# it finishes the copy in a millisecond or two, where it would otherwise hold
# up a commit (and its acks) for a whole WAL's worth of copying and an fsync,
# and it lets the next commit start the WAL over, so the WAL stays small.
_WAL_CHECKPOINT_S = 0.1
# most rows in one multi-row statement (fewer if SQLite allows fewer variables)
_STATEMENT_ROWS = 2048
# A checkpoint is committed in slices of at most this many dedup blobs or
# trimmed rows, one statement each, between the groups: a group waits for one
# slice (a millisecond or two), never for a whole checkpoint.
_SLICE_BLOBS = 256
_SLICE_TRIMS = 1024
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
        return _ROW(self)


# an Entry's row, in _COLUMNS order, built in C
_ROW = attrgetter(
    "id",
    "cls",
    "node",
    "epoch",
    "seq",
    "kit",
    "kind",
    "severity",
    "received_ms",
    "records",
    "pack",
)


@dataclass(frozen=True, slots=True)
class Checkpointed:
    """What one :meth:`Journal.checkpoint` did."""

    saved: bool  # the dedup state is stored
    untrimmed: list[tuple[int, int]]  # published rows still in the journal: retry them

    @property
    def ok(self) -> bool:
        """Everything was saved and trimmed."""
        return self.saved and not self.untrimmed


@dataclass(slots=True)
class _Checkpoint:
    trims: list[tuple[int, int]]
    blobs: dict[str, bytes]
    future: asyncio.Future[Checkpointed]
    saved: bool = True
    untrimmed: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Slice:
    """A piece of a checkpoint, committed on its own between groups."""

    checkpoint: _Checkpoint
    blobs: list[tuple[str, bytes]]
    trims: list[tuple[int, int]]
    last: bool = False


@dataclass(slots=True)
class Dropped:
    """Rows removed by the drop-oldest policy in one transaction."""

    batches: int = 0
    readings: int = 0
    bytes: int = 0


def _slices(cp: _Checkpoint) -> list[_Slice]:
    """A checkpoint's slices: every dedup blob first, then the trims they cover."""
    blobs = list(cp.blobs.items())
    pieces = [
        _Slice(cp, blobs[i : i + _SLICE_BLOBS], []) for i in range(0, len(blobs), _SLICE_BLOBS)
    ]
    trims = sorted(cp.trims)
    pieces += [
        _Slice(cp, [], trims[i : i + _SLICE_TRIMS]) for i in range(0, len(trims), _SLICE_TRIMS)
    ]
    pieces[-1].last = True
    return pieces


class _RowsStatement:
    """One multi-row statement for any number of rows, padded to a power of two.

    ``INSERT ... SELECT * FROM (VALUES (?,..),(?,..)) WHERE column1 IS NOT NULL``
    with the unused rows bound to NULL: a group is one ``sqlite3_step``, so the
    writer thread releases and re-takes the GIL once per group. Each re-take
    waits while the event loop runs Python (up to the 5 ms switch interval), so
    one statement instead of one per chunk keeps that wait out of the acks.
    Powers of two keep the prepared statements few (the sqlite3 module caches
    them); at most ``max_rows`` rows go in one statement.
    """

    def __init__(self, head: str, width: int, max_rows: int) -> None:
        self.head = head
        self.width = width
        self.row = "(" + ",".join("?" * width) + ")"
        self.max_rows = 1 << (max_rows.bit_length() - 1)
        self._sql: dict[int, str] = {}
        self._nulls: list[None] = []

    def run(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Execute for ``rows`` (several statements only past ``max_rows``)."""
        for start in range(0, len(rows), self.max_rows):
            part = rows[start : start + self.max_rows]
            size = 1 << (len(part) - 1).bit_length()
            sql = self._sql.get(size)
            if sql is None:
                values = ",".join([self.row] * size)
                sql = self._sql[size] = (
                    f"{self.head} SELECT * FROM (VALUES {values}) WHERE column1 IS NOT NULL"  # noqa: S608
                )
            params = list(chain.from_iterable(part))
            pad = (size - len(part)) * self.width
            if pad:
                if len(self._nulls) < pad:
                    self._nulls = [None] * pad
                params += self._nulls[:pad]
            conn.execute(sql, params)


def _delete_ids(conn: sqlite3.Connection, ids: list[int]) -> None:
    """Delete rows by id in one statement (a range when the ids are contiguous)."""
    if not ids:
        return
    ids.sort()
    if ids[-1] - ids[0] + 1 == len(ids):
        conn.execute("DELETE FROM journal WHERE id BETWEEN ? AND ?", (ids[0], ids[-1]))
    else:
        conn.execute(
            "DELETE FROM journal WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
        )


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA synchronous=FULL")
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
        self._cconn: sqlite3.Connection | None = None
        self._wal_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._inserts = _RowsStatement("", 1, 1)  # set by open()
        self._upserts = _RowsStatement("", 1, 1)
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
        variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._inserts = _RowsStatement(
            f"INSERT INTO journal({_COLUMNS})", 11, min(_STATEMENT_ROWS, variables // 11)
        )
        self._upserts = _RowsStatement(
            "INSERT OR REPLACE INTO dedup(node, ranges)", 2, min(_STATEMENT_ROWS, variables // 2)
        )
        self._wconn = conn
        self._rconn = _connect(self.path)
        self._cconn = _connect(self.path)
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
        self._stop.clear()
        self._wal_thread = threading.Thread(
            target=self._wal_checkpointer, name="journal-wal", daemon=True
        )
        self._wal_thread.start()

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
        wal_thread, self._wal_thread = self._wal_thread, None
        if wal_thread is not None:
            self._stop.set()
            await asyncio.to_thread(wal_thread.join)
        for conn in (self._cconn, self._rconn, self._wconn):  # the last one checkpoints
            if conn is not None:
                conn.close()
        self._wconn = self._rconn = self._cconn = None

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
    ) -> asyncio.Future[Checkpointed]:
        """Save dedup blobs, then delete published rows (id, size) that they cover.

        The blobs are committed before any row goes, so after ``kill -9`` at any
        instant each acknowledged key is in the journal or in the saved dedup
        state. Both go in slices between the group commits (``_SLICE_*``).
        """
        future: asyncio.Future[Checkpointed] = asyncio.get_running_loop().create_future()
        if not trims and not blobs:
            future.set_result(Checkpointed(True, []))
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

    def _group_done(self, group: list[Entry], dropped: Dropped, freeing: int, error: str) -> None:
        self._freeing -= freeing
        # the rows made room for are gone even when the group then failed
        self.rows -= dropped.batches
        self.bytes -= dropped.bytes
        if dropped.batches and self.on_dropped:
            self.on_dropped(dropped)
        if error:
            self.commit_errors += 1
            self.last_commit_error = error
            self.bytes -= sum(e.size for e in group)
            if group:
                self.on_failed(group, error)
        else:
            self.commits += 1
            self.group_sizes += len(group)
            self.rows += len(group)
            if group:
                self.on_committed(group)
        self._settled()

    def _slice_done(self, piece: _Slice, error: str, skipped: list[tuple[int, int]]) -> None:
        cp = piece.checkpoint
        if error:
            self.commit_errors += 1
            self.last_commit_error = error
            if piece.blobs:
                cp.saved = False
            cp.untrimmed += piece.trims
            cp.untrimmed += skipped
        else:
            self.commits += 1
            self.rows -= len(piece.trims)
            self.bytes -= sum(size for _, size in piece.trims)
        if (piece.last or error) and not cp.future.done():
            cp.future.set_result(Checkpointed(cp.saved, cp.untrimmed))

    def _settled(self) -> None:
        if not self._pending and self._idle.is_set():
            waiters, self._flush_waiters = self._flush_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    # --- writer thread ---------------------------------------------------------

    def _writer(self) -> None:
        conn = self._wconn
        assert conn is not None
        slices: deque[_Slice] = deque()
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
                for cp in checkpoints:
                    slices.extend(_slices(cp))
                if not group and not slices and need <= 0:
                    break
                if group or need > 0:
                    # room is made before the group goes in; the group is one
                    # statement, its own transaction, acknowledged at once
                    dropped, error = self._make_room(conn, need) if need > 0 else (Dropped(), "")
                    if group and not error:
                        error = self._insert(conn, group)
                    if not self._pending:
                        self._idle.set()
                    if not self._tell(self._group_done, group, dropped, need, error):
                        return
                if slices:  # one slice, then the next group if one is waiting
                    piece = slices.popleft()
                    error = self._run_slice(conn, piece)
                    skipped: list[tuple[int, int]] = []
                    while error and slices and slices[0].checkpoint is piece.checkpoint:
                        skipped += slices.popleft().trims
                    if not self._tell(self._slice_done, piece, error, skipped):
                        return
            if not self._pending:
                self._idle.set()
                if not self._tell(self._settled):
                    return
            if self._closing and not self._pending:
                with self._lock:
                    if not self._checkpoints:
                        return

    def _tell(self, callback: Callable[..., None], *args: Any) -> bool:
        """Run ``callback(*args)`` on the loop; False when the loop is closed (the writer stops)."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nothing left to tell
            return False
        return True

    def _insert(self, conn: sqlite3.Connection, group: list[Entry]) -> str:
        """Commit a group; return the error text ("" when it is durable)."""
        rows = list(map(_ROW, group))
        try:
            if len(rows) <= self._inserts.max_rows:
                # one statement: autocommit makes it one transaction, one fsync
                self._inserts.run(conn, rows)
            else:
                conn.execute("BEGIN IMMEDIATE")
                self._inserts.run(conn, rows)
                conn.execute("COMMIT")
        except sqlite3.Error as e:
            return self._failed(conn, e)
        return ""

    def _make_room(self, conn: sqlite3.Connection, need: int) -> tuple[Dropped, str]:
        """Drop the oldest unsent periodic rows worth ``need`` bytes (drop_oldest_periodic)."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            dropped = self._drop_oldest(conn, need)
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            return Dropped(), self._failed(conn, e)
        return dropped, ""

    def _run_slice(self, conn: sqlite3.Connection, piece: _Slice) -> str:
        """Commit one slice of a checkpoint (one statement: its own transaction)."""
        try:
            if piece.blobs:
                self._upserts.run(conn, piece.blobs)
            if piece.trims:
                _delete_ids(conn, [row_id for row_id, _ in piece.trims])
        except sqlite3.Error as e:
            return self._failed(conn, e)
        return ""

    def _failed(self, conn: sqlite3.Connection, e: sqlite3.Error) -> str:
        error = f"{type(e).__name__}: {e}"
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        log.error("journal commit failed: %s", error, extra={"path": str(self.path)})
        time.sleep(0.05)  # do not spin on a failing disk
        return error

    def _drop_oldest(self, conn: sqlite3.Connection, need: int) -> Dropped:
        dropped = Dropped()
        victims: list[int] = []
        protected = self.is_protected
        for row_id, size, records in conn.execute(
            "SELECT id, length(pack), records FROM journal WHERE cls=0 ORDER BY id"
        ):
            if protected(row_id):
                continue
            victims.append(row_id)
            dropped.batches += 1
            dropped.readings += records
            dropped.bytes += size + ROW_OVERHEAD
            if dropped.bytes >= need:
                break
        _delete_ids(conn, victims)
        return dropped

    def _wal_checkpointer(self) -> None:
        """Copy the WAL into the database file now and then, beside the writer."""
        conn = self._cconn
        assert conn is not None
        while not self._stop.wait(_WAL_CHECKPOINT_S):
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as e:
                log.warning("journal WAL checkpoint failed: %s", e, extra={"path": str(self.path)})

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
