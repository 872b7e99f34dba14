"""The loader (firmware/loader.py) deciding what each boot runs, under the real MicroPython
on the virtual board: the real loader at the flash root, a stub app in slots a, b and
base (tests/firmware/mp/stub_app.py) that reports what it was started as and then does
what the test planned for that boot (crash, deep sleep, watchdog expiry, reset, confirm,
install a trial). The reset cause of each boot is the one the simulated chip reports
after that event (hardware/hal/supervisor.py restarts the board the way the chip would)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fw_helpers import MP, boot_records, loader_image

from fleet.bundle import find_mpy_cross
from hardware.hal import codes
from hardware.hal.supervisor import Supervisor

pytestmark = pytest.mark.micropython


def run_plan(
    tmp_path: Path, plan: dict[int, str], boots: int, **image: Any
) -> tuple[list[dict[str, Any]], Any, list[Any]]:
    flash, config = loader_image(tmp_path, {str(k): v for k, v in plan.items()}, **image)
    sup = Supervisor(config, restart_on_crash=True)
    runs = sup.run(max_boots=boots, timeout=60)
    records = [r for b in runs for r in boot_records(b.output)]
    import json

    final = json.loads(flash.read_file("boot.json"))
    return records, final, runs


def test_failed_boots_are_counted_and_the_fourth_starts_safe_mode(tmp_path: Path) -> None:
    """A boot whose predecessor crashed before confirming is a failed boot; after 3 in a
    row the loader starts safe mode from base/."""
    records, final, runs = run_plan(tmp_path, {1: "crash", 2: "crash", 3: "crash"}, 6)
    assert [(r["slot"], r["safe"], r["state"]["failures"]) for r in records] == [
        ("a", False, 0),
        ("a", False, 1),
        ("a", False, 2),
        ("base", True, 3),
    ]
    assert [b.exit_code for b in runs] == [1, 1, 1, 0]
    assert final["boots"] == 4 and final["slot"] == "base" and final["safe"]


def test_deep_sleep_wakes_and_confirmed_resets_are_not_failures(tmp_path: Path) -> None:
    """Wakes from deep sleep (the app never confirmed: a battery cycle may end that way)
    and a software reset after confirming count no failure."""
    plan = {1: "sleep", 2: "sleep", 3: "sleep", 4: "sleep", 5: "confirm+reset"}
    records, final, _ = run_plan(tmp_path, plan, 8)
    assert [(r["slot"], r["cause"], r["state"]["failures"]) for r in records] == [
        ("a", codes.PWRON_RESET, 0),
        ("a", codes.DEEPSLEEP_RESET, 0),
        ("a", codes.DEEPSLEEP_RESET, 0),
        ("a", codes.DEEPSLEEP_RESET, 0),
        ("a", codes.DEEPSLEEP_RESET, 0),
        ("a", codes.SOFT_RESET, 0),
    ]
    assert final["failures"] == 0 and final["boots"] == 6


def test_a_watchdog_reset_is_a_failure_even_after_confirm(tmp_path: Path) -> None:
    """A watchdog reset counts as a failed boot even when the app had confirmed; three in
    a row start safe mode."""
    plan = {1: "confirm+hang", 2: "hang", 3: "hang"}
    records, final, runs = run_plan(tmp_path, plan, 6)
    assert [(r["slot"], r["cause"], r["state"]["failures"]) for r in records] == [
        ("a", codes.PWRON_RESET, 0),
        ("a", codes.WDT_RESET, 1),
        ("a", codes.WDT_RESET, 2),
        ("base", codes.WDT_RESET, 3),
    ]
    assert [b.exit_code for b in runs] == [codes.EXIT_WDT] * 3 + [0]
    assert final["safe"]


def test_a_trial_that_never_confirms_runs_twice_then_rolls_back(tmp_path: Path) -> None:
    """A slot set for trial runs on probation at most twice; when it never confirms the
    loader rolls back to the active slot, marks the trial slot bad and clears the
    failures its crashes caused."""
    plan = {1: "confirm+trial_b+reset", 2: "crash", 3: "crash"}
    records, final, _ = run_plan(tmp_path, plan, 6)
    got = [(r["slot"], r["state"]["trial"], r["state"]["tries"]) for r in records]
    assert got == [("a", None, 0), ("b", "b", 1), ("b", "b", 2), ("a", None, 0)]
    assert records[3]["state"]["bad"] == ["b"] and records[3]["state"]["failures"] == 0
    assert final["active"] == "a" and final["bad"] == ["b"] and final["trial"] is None


def test_confirming_a_trial_makes_it_the_active_slot(tmp_path: Path) -> None:
    """A trial slot that confirms becomes the active slot: later boots start it without
    probation."""
    plan = {1: "confirm+trial_b+reset", 2: "confirm+reset", 3: "confirm+reset"}
    records, final, _ = run_plan(tmp_path, plan, 6)
    got = [(r["slot"], r["state"]["active"], r["state"]["trial"]) for r in records]
    assert got == [("a", "a", None), ("b", "a", "b"), ("b", "b", None), ("b", "b", None)]
    assert final["active"] == "b" and final["trial"] is None and final["bad"] == []


@pytest.mark.parametrize(
    ("why", "image"),
    [
        ("syntax", {"replace": {"a/firmware/app/main.py": "def run(:\n"}}),
        (
            "mpy",
            {
                "replace": {
                    "a/firmware/app/main.py": "from firmware.app.other import run\n",
                    "a/firmware/app/other.mpy": "M\x03\x00\x1f",
                }
            },
        ),
        ("dependency", {"replace": {"a/firmware/app/main.py": "import firmware.app.gone\n"}}),
    ],
)
def test_a_whole_slot_that_cannot_be_imported_falls_back_to_safe_mode(
    tmp_path: Path, why: str, image: dict[str, Any]
) -> None:
    """A slot whose files match its manifest but whose code does not load (a file that
    does not compile, an .mpy of another format, a module whose import fails): the same
    boot goes on in safe mode from base/, and the next boots stay there until safe mode
    confirms."""
    records, final, runs = run_plan(tmp_path, {}, 3, **image)
    assert [(r["slot"], r["safe"]) for r in records] == [("base", True)]
    assert "loader: slot a does not start" in runs[0].output
    assert runs[0].exit_code == 0
    assert final["slot"] == "base" and final["failures"] == 3, why
    assert final["verified"] == [] and final["retries"] == 1


def _stub_mpy() -> bytes:
    """The stub app compiled by the real mpy-cross."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stub.mpy"
        subprocess.run([find_mpy_cross(), "-o", str(out), str(MP / "stub_app.py")], check=True)
        return out.read_bytes()


@pytest.mark.parametrize(
    ("why", "damage", "reason"),
    [
        ("missing", {"drop": ("a/firmware/app/main.py",)}, "a/firmware/app/main.py is missing"),
        (
            "flipped",
            {"corrupt": {"a/firmware/app/main.py": "from firmware.app.stuB import run\n"}},
            "a/firmware/app/main.py does not match its SHA-256 in the manifest",
        ),
        (
            "truncated .mpy",
            {"corrupt": {"a/firmware/app/stub.mpy": "TRUNCATE"}},
            "a/firmware/app/stub.mpy has 200 bytes, the manifest says",
        ),
        ("no manifest", {"drop": ("a/manifest.json",)}, "a/manifest.json is missing or unreadable"),
    ],
)
def test_a_damaged_slot_is_caught_by_its_manifest_before_import(
    tmp_path: Path, why: str, damage: dict[str, Any], reason: str
) -> None:
    """A slot whose files no longer match its manifest (a file gone, changed, an .mpy cut
    short - which would make MicroPython's import spin for good - or the manifest lost)
    is never imported: the loader names the file, marks the slot bad and starts safe
    mode, which then does not schedule a return to the bad slot."""
    mpy = _stub_mpy()
    replace = {
        "a/firmware/app/main.py": "from firmware.app.stub import run\n",
        "a/firmware/app/stub.mpy": mpy,
    }
    if "corrupt" in damage and "a/firmware/app/stub.mpy" in damage["corrupt"]:
        damage = {"corrupt": {"a/firmware/app/stub.mpy": mpy[:200]}}
    records, final, runs = run_plan(tmp_path, {}, 3, replace=replace, **damage)
    assert [(r["slot"], r["safe"], r["retry_s"]) for r in records] == [("base", True, None)]
    assert "loader: slot a is broken: " + reason in runs[0].output, why
    assert final["bad"] == ["a"] and final["safe"] and final["verified"] == []


def test_the_slot_is_checked_once_after_install_and_again_after_a_failed_boot(
    tmp_path: Path,
) -> None:
    """The first boot checks slot a; clean boots do not check again; a boot after a failed
    one does, and finds the file damaged in between."""
    flash, config = loader_image(tmp_path, {"1": "sleep", "2": "crash"})
    sup = Supervisor(config, restart_on_crash=True)
    first = sup.run(max_boots=2, timeout=60)
    assert [r["state"]["verified"] for b in first for r in boot_records(b.output)] == [["a"]] * 2
    flash.write_files({"a/firmware/app/__init__.py": "# changed\n"})
    later = Supervisor(config, restart_on_crash=True).run(max_boots=1, timeout=60)
    records = [r for b in later for r in boot_records(b.output)]
    assert [(r["slot"], r["safe"]) for r in records] == [("base", True)]
    assert "a/firmware/app/__init__.py has 10 bytes, the manifest says 0" in later[0].output


def test_a_damaged_trial_rolls_back_at_once(tmp_path: Path) -> None:
    """A trial slot whose files do not match its manifest never runs: the same boot rolls
    back to the active slot and marks the trial bad."""
    plan = {1: "confirm+trial_b+reset", 2: "confirm+reset"}
    records, final, runs = run_plan(
        tmp_path, plan, 3, corrupt={"b/firmware/app/main.py": "broken\n"}
    )
    got = [(r["slot"], r["safe"], r["state"]["trial"]) for r in records]
    assert got == [("a", False, None), ("a", False, None), ("a", False, None)]
    assert "loader: slot b is broken: b/firmware/app/main.py has 7 bytes" in runs[1].output
    assert final["bad"] == ["b"] and final["active"] == "a" and final["failures"] == 0


def test_safe_mode_goes_back_to_the_app_slot_with_a_growing_wait(tmp_path: Path) -> None:
    """Safe mode, once confirmed (it reached the edge), tells the app when to retry the
    active slot: an hour after the first entry, doubling with each further entry while
    the app never confirms; once the app confirms the wait starts over."""
    plan = {
        1: "crash",
        2: "crash",
        3: "crash",
        4: "confirm+reset",
        5: "crash",
        6: "crash",
        7: "crash",
        8: "confirm+reset",
        9: "confirm+reset",
    }
    records, final, _ = run_plan(tmp_path, plan, 12)
    got = [(r["slot"], r["safe"], r["state"]["retries"], r["retry_s"]) for r in records]
    assert got == [
        ("a", False, 0, 3600),
        ("a", False, 0, 3600),
        ("a", False, 0, 3600),
        ("base", True, 1, 3600),
        ("a", False, 1, 3600),
        ("a", False, 1, 3600),
        ("a", False, 1, 3600),
        ("base", True, 2, 7200),
        ("a", False, 2, 7200),
        ("a", False, 0, 3600),
    ]
    assert [r["state"]["safe_boots"] for r in records if r["safe"]] == [1, 1]
    assert final["retries"] == 0 and not final["safe"]


GARBAGE_STATES: list[tuple[bytes, list[str]]] = [
    (b"\x00\xff{", []),  # not JSON: the defaults, nothing to report
    (b"[1, 2]", []),  # not an object
    (b'{"format": 9, "boots": 3}', []),  # another format
    (
        json.dumps(
            {
                "format": 1,
                "boots": "many",
                "failures": -3,
                "active": "c",
                "trial": 5,
                "tries": [],
                "bad": "a",
                "running": "yes",
                "safe": 0,
                "slot": None,
                "verified": ["z"],
                "retries": 1.5,
                "safe_boots": True,
            }
        ).encode(),
        [
            "boots",
            "failures",
            "active",
            "trial",
            "tries",
            "bad",
            "running",
            "safe",
            "slot",
            "verified",
            "retries",
            "safe_boots",
        ],
    ),
    (
        json.dumps({"format": 1, "boots": 7, "failures": 2, "bad": ["a", 3]}).encode(),
        ["bad"],
    ),
]


@pytest.mark.parametrize(("data", "damaged"), GARBAGE_STATES, ids=range(len(GARBAGE_STATES)))
def test_garbage_in_the_boot_state_never_stops_the_loader(
    tmp_path: Path, data: bytes, damaged: list[str]
) -> None:
    """boot.json with garbage in it (not JSON, not an object, another format, fields of
    the wrong type or out of range): the loader never crashes on it. It resets what it
    cannot use to the defaults, says which fields it reset, checks the slot against its
    manifest again (nothing in a damaged state is trusted), runs the app slot and
    writes a whole state back."""
    records, final, runs = run_plan(tmp_path, {}, 1, corrupt={"boot.json": data})
    assert [b.exit_code for b in runs] == [0], runs[0].output
    [record] = records
    assert record["slot"] == "a" and record["safe"] is False
    said = [ln for ln in runs[0].output.splitlines() if "had garbage in" in ln]
    if damaged:
        assert said == [f"loader: boot.json had garbage in {', '.join(sorted(damaged))}: reset"]
    else:
        assert said == []
    assert final["verified"] == ["a"]  # checked against its manifest in this boot
    assert isinstance(final["boots"], int) and final["boots"] >= 1
    assert final["active"] == "a" and final["running"] is True and final["slot"] == "a"
    assert all(isinstance(final[k], int) for k in ("failures", "tries", "retries"))
