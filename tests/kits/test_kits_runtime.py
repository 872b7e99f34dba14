"""The kits as code: no allocation per sample in the high-rate paths (measured
on the MicroPython heap), the same results under CPython (the load-generator
path) as under MicroPython, and robustness against missing parts and bad
saved state."""

from __future__ import annotations

import json
from typing import Any

import kit_support as K
import pytest

MP = pytest.mark.micropython


@MP
def test_no_allocation_per_sample(micropython_runner: Any) -> None:
    """With the firmware drivers on an I2C stub that allocates nothing, the
    heap does not grow at all (gc disabled, gc.mem_alloc before and after)
    across: accelerometer windows (capture and statistics), trip vibration
    statistics, the pressure burst ring buffer, the hydrant's whole burst loop
    (ADS1115 conversions, loop-current checks, ring), the elevator's low-rate
    check and its FIFO drain during a trip."""
    r = micropython_runner.run(
        K.HERE / "alloc_probe.py", heap="256k", extra_path=(str(K.SHADOW), str(K.HERE))
    )
    assert r.output == {
        "accel_window_per_sample": 0.0,
        "vibration_feed_per_sample": 0.0,
        "burst_add_per_sample": 0.0,
        "hydrant_burst_per_sample": 0.0,
        "elevator_idle_check": 0.0,
        "elevator_trip_step_per_sample": 0.0,
    }


@pytest.fixture(scope="module")
def both(kit_runner: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    cases = [
        K.case("hydrant", "hydrant.impact"),
        K.case("hydrant", "hydrant.illegal_opening"),
        K.case("manhole", "manhole.cover_lifted", period_ms=300000, th=K.MANHOLE_INSTALL),
        K.case("elevator", "elevator.door_stuck", mode="mains_polled"),
        K.case("elevator", "elevator.entrapment", mode="mains_polled", duration_ms=300000),
    ]
    mp = kit_runner.run(cases)
    cp = {c["name"]: c for c in K.run_cpython(cases)}
    return mp, cp


@MP
@pytest.mark.parametrize(
    "name",
    [
        "hydrant.impact",
        "hydrant.illegal_opening",
        "manhole.cover_lifted",
        "elevator.door_stuck",
        "elevator.entrapment",
    ],
)
def test_same_results_under_cpython(both: tuple[dict[str, Any], dict[str, Any]], name: str) -> None:
    """The same kit code run by CPython (virtual clock patched into its time
    module, asyncio.Event instead of ThreadSafeFlag) gives exactly the alarms,
    readings and health of the MicroPython run."""
    mp, cp = both
    assert cp[name]["alarms"] == mp[name]["alarms"] and mp[name]["alarms"]
    assert cp[name]["readings"] == mp[name]["readings"]
    assert cp[name]["faults"] == mp[name]["faults"] == {}


ROBUST = r"""
import asyncio, json, sys
import vclock
from firmware.app.kits import make_kit

class Rec:
    def __init__(self): self.n = 0
    def reading(self, name, v): self.n += 1
    def flag(self, name, v): self.n += 1
    def alarm(self, kind, severity, records): self.n += 1

class Health:
    def __init__(self): self.faults = {}
    def fault(self, part, reason=""): self.faults[part] = reason
    def clear(self, part): self.faults.pop(part, None)

board = json.loads(sys.stdin.read())
out = {}
for kit, b in board.items():
    hw = {"board": b, "i2c": None, "onewire": None, "uart": {}, "pins": {}, "adc": {}}
    h = Health()
    k = make_kit(kit, hw, {}, Rec(), h)
    for bad in (None, [], {"v": 1, "on": "x", "base": [1, 2], "pref": "p", "th": "t",
                           "an": [], "mm": None, "trips": "3"},
                {"v": 99, "on": 5}, {"v": 1, "on": -1, "base": [1, True, 3]}):
        k.restore(bad)
    k.start()
    k.on_wake("reed")
    k.on_wake("accel_int")
    k.sample()
    k.resume()
    k.sleep()
    json.dumps(k.state())
    if kit != "elevator":
        asyncio.run(k.watch())  # battery kits: returns at once
    out[kit] = sorted(h.faults)
try:
    make_kit("lamppost", {}, {}, None, None)
    out["unknown"] = "accepted"
except ValueError as e:
    out["unknown"] = str(e)
print("@@RESULT@@ " + json.dumps(out))
"""


@MP
def test_missing_parts_and_bad_state(micropython_runner: Any) -> None:
    """A kit whose board file names parts the hardware dict lacks (no I2C bus,
    no 1-Wire, no UARTs, no pins) reports each as a health fault and samples
    without raising; restore() ignores saved state of another version or with
    wrong types; state() stays JSON; a battery kit's watch() returns at once;
    an unknown kit name is a ValueError."""
    boards = {k: K.board_file(K.C3, k) for k in ("elevator", "hydrant", "manhole")}
    r = micropython_runner.run(
        ROBUST, input=json.dumps(boards), heap="2m", extra_path=(str(K.SHADOW), str(K.HERE))
    )
    assert r.output == {
        "elevator": ["ads1115", "adxl345"],
        "hydrant": ["ads1115", "adxl345", "ds18b20"],
        "manhole": ["a02yyuw", "adxl345", "ds18b20", "ze03"],
        "unknown": "unknown kit 'lamppost'",
    }


EPISODES = r"""
import json
from firmware.app.detect.episode import Episodes
from firmware.app.queue import QueueFull

class Rec:
    def __init__(self): self.full = 2; self.alarms = []; self.flags = []
    def alarm(self, kind, severity, records):
        if self.full:
            self.full -= 1
            raise QueueFull()
        self.alarms.append(kind)
    def flag(self, name, value): self.flags.append([name, value])

r = Rec()
e = Episodes(("overflow", "h2s", "impact"), r)
out = {}
out["first"] = [e.raise_alarm("overflow", 2, []), e.raise_alarm("overflow", 2, [])]
e.raise_alarm("h2s", 2, [])
out["stored_while_full"] = list(r.alarms)
out["saved_while_pending"] = e.saved()
e.retry()
out["stored_after_retry"] = list(r.alarms)
out["saved_after"] = e.saved()
e.clear("overflow"); e.clear("overflow")
e.raise_alarm("impact", 2, []); e.rearm("impact"); e.raise_alarm("impact", 2, [])
out["flags"] = r.flags
out["alarms"] = r.alarms
print("@@RESULT@@ " + json.dumps(out))
"""


@MP
def test_episodes_once_and_retry(micropython_runner: Any) -> None:
    """An alarm kind is raised once per episode; an alarm the flash queue
    cannot take (QueueFull) waits in RAM and is stored by retry() in order,
    its kind meanwhile active (not raised twice) but not saved as active for
    a deep sleep (so it is raised again after one); clear() records
    <kind>_alarm = false once; rearm() lets a momentary kind fire again."""
    r = micropython_runner.run(EPISODES, extra_path=(str(K.SHADOW), str(K.HERE)))
    assert r.output == {
        "first": [True, False],
        "stored_while_full": [],
        "saved_while_pending": 0,
        "stored_after_retry": ["overflow", "h2s"],
        "saved_after": 3,
        "flags": [["overflow_alarm", False]],
        "alarms": ["overflow", "h2s", "impact", "impact"],
    }
