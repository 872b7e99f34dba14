"""Power cut at every block write (program or erase) of the node's flash updates, on real
littlefs over the simulated NOR chip, under the real MicroPython (tests/firmware/mp/
powercut.py). After each cut the node boots again (a new chip object, littlefs mounted
again) and what it finds is checked against what the interrupted code had done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.micropython

ALL_KEEPS = [None, 0, -1]  # half the torn write lands, none of it, all but its last byte


def sweep(fw_mp: Any, tmp_path: Path, workload: str, keeps: list[int | None]) -> dict[str, Any]:
    out = fw_mp(
        "powercut.py",
        {"workload": workload, "dir": str(tmp_path), "keeps": keeps, "blocks": 64},
        timeout=120,
    )
    assert out["violations"] == [], out["violations"]
    assert [r["keep"] for r in out["runs"]] == keeps
    return out  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("workload", "keeps", "min_cuts"),
    [
        ("put", ALL_KEEPS, 30),
        ("ack", ALL_KEEPS, 8),
        ("mark", ALL_KEEPS, 15),
        ("cycle", [None], 150),
    ],
)
def test_queue_survives_a_power_cut_at_every_write(
    fw_mp: Any, tmp_path: Path, workload: str, keeps: list[int | None], min_cuts: int
) -> None:
    """Queue appends (with a drop over the batch limit and an alarm that takes a batch's
    place), acks (of this and of an earlier epoch), the state file's mark rewrite (a
    reboot and reserves across the high-water mark) and a long put/ack cycle that makes
    littlefs compact: cut at every write, then boot. The queue opens; no item whose
    put() returned is lost; no acked or dropped item comes back; every file holds
    exactly the message of the key its name carries (never a mix, never another key);
    the epoch is kept and the next seq is above every seq handed out; the flash takes
    writes again."""
    out = sweep(fw_mp, tmp_path, workload, keeps)
    for run in out["runs"]:
        assert run["cuts"] >= min_cuts, run
    if workload == "cycle":
        assert out["runs"][0]["erases"] >= 20  # blocks were erased: littlefs compacted


def test_config_save_is_old_or_new_after_a_cut_at_every_write(fw_mp: Any, tmp_path: Path) -> None:
    """Two config.save() calls cut at every write: after the boot config.load() returns
    the config before the interrupted save or the one after it, never a mix, never a
    load error."""
    out = sweep(fw_mp, tmp_path, "config", ALL_KEEPS)
    assert out["states"] == [0, 1, 2]
    assert all(r["cuts"] >= 8 for r in out["runs"]), out["runs"]


def test_boot_state_is_old_or_new_after_a_cut_at_every_write(fw_mp: Any, tmp_path: Path) -> None:
    """The loader's boot.json through set_trial, a boot decision, confirm and another
    boot, cut at every write: after the boot it is the state before the interrupted
    write or after it (never the defaults, which would forget failures and the trial)."""
    out = sweep(fw_mp, tmp_path, "loader", ALL_KEEPS)
    states = out["states"]
    assert [s["boots"] for s in states] == [41, 41, 42, 42, 43]
    assert states[1]["trial"] == "a" and states[3]["active"] == "a"
    assert all(r["cuts"] >= 16 for r in out["runs"]), out["runs"]
