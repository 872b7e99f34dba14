"""The flash queue (firmware/app/queue.py, store.py) on littlefs over the simulated NOR
chip, under the real MicroPython: order, acks, reboots, epochs, drop policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cbor2
import pytest

from firmware.wire import protocol as P

pytestmark = pytest.mark.micropython


def key(name: str) -> tuple[str, int, int]:
    return name[0], int(name[1:9], 16), int(name[9:17], 16)


def test_send_order_is_alarms_then_batches_each_by_seq(fw_mp: Any, tmp_path: Path) -> None:
    """Items come out alarms first, then batches, each by sequence; every stored file is
    the complete message, and cbor2 reads in it the key its file name carries."""
    out = fw_mp("queue_cases.py", {"case": "order", "dir": str(tmp_path)})
    names = out["head"]
    assert [key(n)[0] for n in names] == ["a", "a", "b", "b", "b"]
    assert [key(n)[2] for n in names] == [2, 4, 0, 1, 3]
    assert out["head2"] == names[:2]
    assert out["depth"] == 5 and out["contents_ok"] and out["bad_writes"] == 0
    for name, hexed in out["messages"].items():
        kind, epoch, seq = key(name)
        msg = cbor2.loads(bytes.fromhex(hexed))
        assert msg[P.K_TYPE] == (P.MSG_ALARM if kind == "a" else P.MSG_BATCH)
        assert (msg[P.K_EPOCH], msg[P.K_SEQ]) == (epoch, seq) == (out["epoch"], seq)
        assert msg[P.K_PACK][0][-2] == "ja-hyd-000001:"
        assert len(msg[P.K_PACK]) == 8


def test_an_ack_deletes_exactly_its_item(fw_mp: Any, tmp_path: Path) -> None:
    """An ack deletes the item with that key (alarm or batch) and only it; unknown keys,
    a second ack and another epoch's key find nothing; a rejected item is deleted and
    counted (the count survives a reboot); what was deleted stays deleted after a reboot."""
    out = fw_mp("queue_cases.py", {"case": "ack", "dir": str(tmp_path)})
    s = out["seqs"]
    e = out["epoch"]
    name = lambda kind, seq: "%s%08x%08x" % (kind, e, seq)  # noqa: E731
    assert out["ack_batch"] and out["ack_alarm"] and out["ack_rejected"]
    assert out["after_batch"] == [name("a", s[1]), name("b", s[0]), name("b", s[3])]
    assert not out["ack_again"] and not out["ack_unknown"] and not out["ack_other_epoch"]
    assert out["left"] == out["head"] == out["after_reboot"] == [name("b", s[0])]
    assert out["rejected"] == out["rejected_after_reboot"] == 1  # persisted at once


def test_reboots_keep_items_and_never_reuse_a_seq(fw_mp: Any, tmp_path: Path) -> None:
    """After a reboot the queue holds the same items (same bytes, same order, same
    epoch) and numbering resumes above every number handed out before, also after acks
    emptied the queue, across boots that queue nothing, and past the high-water mark."""
    out = fw_mp("queue_cases.py", {"case": "reboot", "dir": str(tmp_path)})
    assert out["seqs"] == [0, 1, 2]
    assert out["head_after"] == out["head_before"] and out["contents_ok"]
    assert out["epoch_same"] and out["epoch_same_later"] and out["restarts"] == 0
    assert out["seq_after_reboot"] > 2
    assert out["empty_depth"] == 0 and out["empty_files"] == []
    later = [out["seq_after_reboot"], *out["seqs_later"]]
    assert later == sorted(set(later)), later  # strictly increasing
    assert out["many_last"] < out["mark_after_many"] <= out["seq_after_many"]
    assert out["bad_writes"] == 0


def test_a_lost_or_damaged_state_file_starts_a_new_epoch(fw_mp: Any, tmp_path: Path) -> None:
    """A missing, garbage, unknown-format or truncated q/state.json starts a new epoch
    (a key is never reused); the items of earlier epochs stay, go out first within their
    kind (alarms still before batches), and are acked by their own keys."""
    out = fw_mp("queue_cases.py", {"case": "lost_state", "dir": str(tmp_path)})
    epochs = {out["old_epoch"]}
    for r in out["results"]:
        assert r["new_epoch"] and r["restarts"] == 1 and r["new_seq"] == 0, r
        assert r["epoch"] not in epochs
        epochs.add(r["epoch"])
        kinds = [key(n)[0] for n in r["head"]]
        assert kinds == sorted(kinds), r["head"]  # alarms first, whatever the epoch
        current = [n for n in r["head"] if key(n)[1] == r["epoch"]]
        assert current == [r["head"][-1]]  # this epoch's batch after the older ones
        assert set(r["legacy"]) == set(r["head"]) - set(current)
    assert out["contents_ok"]
    assert len(out["acked"]) == 3 + 4 and all(ok for _, ok in out["acked"])
    assert out["files_after_acks"] == [] and out["depth_after_reboot"] == 0


def test_the_drop_policy_drops_oldest_batches_never_alarms(fw_mp: Any, tmp_path: Path) -> None:
    """Over max_batches the oldest batch is deleted and counted; a full alarm area takes
    the oldest batch's place; alarms are never dropped: with only alarms left put()
    raises QueueFull and stores nothing; the drop counter survives a reboot."""
    out = fw_mp("queue_cases.py", {"case": "drop", "dir": str(tmp_path)})
    seqs = lambda names: [key(n)[2] for n in names]  # noqa: E731
    assert seqs(out["after_batches"]) == [2, 3, 4]
    assert seqs(out["after_alarms"]) == [5, 6, 2, 3, 4]
    assert seqs(out["after_third_alarm"]) == [5, 6, 7, 3, 4]
    assert out["dropped_after_third_alarm"] == 3
    assert out["alarms"] == [5, 6, 7, 8, 9]
    assert seqs(out["only_alarms"]) == [5, 6, 7, 8, 9]
    assert out["full"] == "QueueFull"
    assert out["after_full"] == out["only_alarms"]  # nothing stored, no alarm lost
    assert out["dropped"] == out["dropped_after_reboot"] == 5
    assert seqs(out["head_after_reboot"]) == [5, 6, 7, 8, 9, out["batch_when_alarms_full"]]
    assert out["contents_ok"]


def test_a_full_flash_drops_oldest_batches_and_keeps_alarms(fw_mp: Any, tmp_path: Path) -> None:
    """A flash too small for the count limits (24 blocks of 512 B): when littlefs runs out
    of room (ENOSPC, or ENAMETOOLONG as it reports a full flash when it creates a file)
    the oldest batch makes room, counted; alarms displace batches until none is left,
    then put() raises QueueFull; a batch with no room is dropped and counted; the node
    still boots on the full flash and the queue works again once acks free space."""
    out = fw_mp("queue_cases.py", {"case": "full", "dir": str(tmp_path)})
    assert out["newest_kept"] and 0 < out["batches_kept"] < 60
    assert out["dropped"] == 60 - out["batches_kept"]
    assert out["alarm_full"] == "QueueFull" and out["alarms_kept"] == out["alarms_put"] > 0
    assert out["batches_left"] == 0 and out["batch_dropped_when_full"] == 1
    assert out["contents_ok"]
    assert out["alarms_after_reboot"] == out["alarms_kept"]  # boots, no alarm lost
    assert out["dropped_after_reboot"] >= out["dropped"] + out["alarms_put"] - 1
    assert out["after_acks"] == [] and out["put_after_acks"]
