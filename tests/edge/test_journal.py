"""The journal's group statements, sliced checkpoints and WAL upkeep."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

import edge_agent.journal as journal_module
from edge_agent.dedup import DedupIndex
from edge_agent.journal import PERIODIC, ROW_OVERHEAD, Entry, Journal

PACK = bytes(range(256)) * 2


def _journal(path: Path, committed: list[Entry], failed: list[Entry], **kw: object) -> Journal:
    journal = Journal(
        path=path,
        dedup=DedupIndex(),
        on_committed=committed.extend,
        on_failed=lambda group, _error: failed.extend(group),
        **{"budget_bytes": 10**10, **kw},  # type: ignore[arg-type]
    )
    journal.open()
    journal.start()
    return journal


async def _filled(path: Path, committed: list[Entry], failed: list[Entry], **kw: object) -> Journal:
    """A journal holding 10 committed rows of node n-1."""
    journal = _journal(path, committed, failed, **kw)
    for seq in range(10):
        journal.submit(_entry(1, seq))
    await journal.flush()
    return journal


def _disk_error(*_args: object) -> None:
    raise sqlite3.OperationalError("disk I/O error")


def _entry(node: int, seq: int) -> Entry:
    return Entry(0, PERIODIC, f"n-{node}", 1, seq, "hydrant", "", 0, 0, 20, PACK)


def _rows(path: Path) -> list[tuple[int, str, int]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id, node, seq FROM journal ORDER BY id").fetchall()


async def test_groups_of_every_size_go_in_whole(tmp_path: Path) -> None:
    """Groups of 1 to past a statement's rows (padded statements, the multi-statement path)."""
    committed: list[Entry] = []
    journal = _journal(tmp_path / "j.sqlite", committed, [], group_max=5000)
    expected = []
    for size in (1, 2, 3, 5, 17, 1000, journal_module._STATEMENT_ROWS + 3):
        for seq in range(size):
            entry = _entry(size, seq)
            journal.submit(entry)
            expected.append((entry.id, f"n-{size}", seq))
        await journal.flush()
    assert _rows(tmp_path / "j.sqlite") == expected
    assert journal.rows == len(expected) == len(committed)
    await journal.close()


async def test_a_checkpoint_saves_every_blob_then_trims_in_slices(tmp_path: Path) -> None:
    """More blobs and trims than one slice holds: all saved, all trimmed, counts right."""
    path = tmp_path / "j.sqlite"
    committed: list[Entry] = []
    journal = _journal(path, committed, [])
    for seq in range(3000):
        journal.submit(_entry(seq % 700, seq))
    await journal.flush()
    trims = [(e.id, e.size) for e in committed[:2500]]
    blobs = {f"n-{i}": i.to_bytes(24, "big") for i in range(700)}
    done = await journal.checkpoint(trims, blobs)
    assert done.ok and done.saved and done.untrimmed == []
    assert journal.rows == 500 and journal.bytes == 500 * (len(PACK) + ROW_OVERHEAD)
    assert [r[0] for r in _rows(path)] == [e.id for e in committed[2500:]]
    with sqlite3.connect(path) as conn:
        assert dict(conn.execute("SELECT node, ranges FROM dedup")) == blobs
    await journal.close()


async def test_a_failed_trim_slice_reports_what_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blobs first; a trim slice that fails leaves it and the later ones untrimmed, and
    the counts follow what was really deleted; retrying the rest finishes the job."""
    path = tmp_path / "j.sqlite"
    committed: list[Entry] = []
    journal = _journal(path, committed, [])
    for seq in range(3 * journal_module._SLICE_TRIMS):
        journal.submit(_entry(1, seq))
    await journal.flush()
    calls = []
    real = journal_module._delete_ids

    def flaky(conn: sqlite3.Connection, ids: list[int]) -> None:
        calls.append(len(ids))
        if len(calls) == 2:
            raise sqlite3.OperationalError("disk I/O error")
        real(conn, ids)

    monkeypatch.setattr(journal_module, "_delete_ids", flaky)
    trims = [(e.id, e.size) for e in committed]
    done = await journal.checkpoint(trims, {"n-1": b"x" * 24})
    assert done.saved and not done.ok
    assert sorted(done.untrimmed) == trims[journal_module._SLICE_TRIMS :]
    assert journal.rows == len(_rows(path)) == 2 * journal_module._SLICE_TRIMS
    assert journal.commit_errors == 1
    again = await journal.checkpoint(done.untrimmed, {})
    assert again.ok and journal.rows == 0 == len(_rows(path))
    await journal.close()


async def test_a_failed_blob_slice_trims_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No row goes before the dedup state that covers it is stored."""
    path = tmp_path / "j.sqlite"
    committed: list[Entry] = []
    journal = await _filled(path, committed, [])
    monkeypatch.setattr(journal._upserts, "run", _disk_error)
    trims = [(e.id, e.size) for e in committed]
    done = await journal.checkpoint(trims, {"n-1": b"x" * 24})
    assert not done.saved and sorted(done.untrimmed) == trims
    assert journal.rows == 10 == len(_rows(path))
    await journal.close()


async def test_the_wal_stays_small_under_a_steady_stream(tmp_path: Path) -> None:
    """Commits keep coming; the WAL is copied and started over instead of growing."""
    path = tmp_path / "j.sqlite"
    committed: list[Entry] = []
    journal = _journal(path, committed, [])
    for round_ in range(80):  # 80 groups of 200 rows of 512 bytes: about 9 MB of rows
        for seq in range(200):
            journal.submit(_entry(1, round_ * 200 + seq))
        await journal.flush()
        done = await journal.checkpoint([(e.id, e.size) for e in committed], {})
        assert done.ok
        committed.clear()
    wal = await asyncio.to_thread(os.path.getsize, str(path) + "-wal")
    assert wal < 8 * 1024 * 1024, wal
    await journal.close()


async def test_room_made_for_a_group_that_then_fails_is_still_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """drop_oldest_periodic: the oldest rows go in their own transaction; if the group
    then fails, the counts still follow the file (and the group is not acknowledged)."""
    path = tmp_path / "j.sqlite"
    size = len(PACK) + ROW_OVERHEAD
    committed: list[Entry] = []
    failed: list[Entry] = []
    journal = await _filled(
        path,
        committed,
        failed,
        budget_bytes=10 * size,
        alarm_reserve_bytes=10 * size,
        when_full="drop_oldest_periodic",
    )
    monkeypatch.setattr(journal._inserts, "run", _disk_error)
    for seq in range(10, 13):
        journal.submit(_entry(1, seq))
    await journal.flush()
    assert [e.seq for e in failed] == [10, 11, 12] and len(committed) == 10
    assert [seq for _, _, seq in _rows(path)] == list(range(3, 10))
    assert journal.rows == 7 and journal.bytes == 7 * size
    await journal.close()
