"""The loader (firmware/loader.py) deciding what each boot runs, under the real MicroPython
on the virtual board: the real loader at the flash root, a stub app in slots a, b and
base (tests/firmware/mp/stub_app.py) that reports what it was started as and then does
what the test planned for that boot (crash, deep sleep, watchdog expiry, reset, confirm,
install a trial). The reset cause of each boot is the one the simulated chip reports
after that event (hardware/hal/supervisor.py restarts the board the way the chip would)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fw_helpers import boot_records, loader_image

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
        ("missing", {"drop": ("a/firmware/app/main.py",)}),
        ("syntax", {"replace": {"a/firmware/app/main.py": "def run(:\n"}}),
        (
            "mpy",
            {
                "drop": ("a/firmware/app/main.py",),
                "replace": {"a/firmware/app/main.mpy": "M\x03\x00\x1f"},
            },
        ),
        ("dependency", {"replace": {"a/firmware/app/main.py": "import firmware.app.gone\n"}}),
    ],
)
def test_a_slot_that_cannot_be_imported_falls_back_to_safe_mode(
    tmp_path: Path, why: str, image: dict[str, Any]
) -> None:
    """A missing module, a file that does not compile, an .mpy of another format and a
    module whose import fails: the same boot goes on in safe mode from base/, and the
    next boots stay there until safe mode confirms."""
    records, final, runs = run_plan(tmp_path, {}, 3, **image)
    assert [(r["slot"], r["safe"]) for r in records] == [("base", True)]
    assert "loader: slot a does not start" in runs[0].output
    assert runs[0].exit_code == 0
    assert final["slot"] == "base" and final["failures"] == 3, why
