"""Elevator kit on the real MicroPython unix port: watch() under asyncio in
virtual time with pin interrupts, against the ADXL345 and ADS1115 simulators
and the elevator scenarios."""

from __future__ import annotations

from typing import Any

import kit_support as K
import pytest

MP = pytest.mark.micropython
TRIP_FAULTS = (
    "adxl345:nack",
    "adxl345:eio",
    "adxl345:wrong_id",
    "adxl345:saturate",
    "adxl345:noise",
    "i2c:stuck",
    "ads1115:nack",
    "ads1115:eio",
    "ads1115:wrong_id",
    "ads1115:saturate",
    "ads1115:disconnected",
    "ads1115:noise",
)


def _no_button() -> dict[str, Any]:
    s = K.scenario("elevator.entrapment")
    s["name"] = "elevator.estop_silent"
    s["signals"]["alarm_button"] = {"value": 0, "digital": True}
    return s


def _short_press() -> dict[str, Any]:
    s = K.scenario("elevator.idle")
    s["name"] = "elevator.short_press"
    s["signals"]["alarm_button"] = {
        "points": [[0, 0], [30000, 0], [30000, 1], [30100, 1], [30100, 0]],
        "digital": True,
    }
    return s


@pytest.fixture(scope="module")
def ev(kit_runner: Any) -> dict[str, dict[str, Any]]:
    cases = [
        K.case("elevator", "elevator.trips"),
        K.case("elevator", "elevator.rough_ride", duration_ms=1200000),
        K.case("elevator", "elevator.door_stuck"),
        K.case("elevator", "elevator.entrapment"),
        K.case("elevator", _no_button()),
        K.case("elevator", _short_press(), duration_ms=60000),
        K.case("elevator", "elevator.idle"),
        K.case("elevator", "elevator.trips", board=K.PICO, duration_ms=1200000, name="pico"),
        K.case(
            "elevator",
            "elevator.trips",
            duration_ms=900000,
            fault_schedule=[[100000, "adxl345:nack", True], [400000, "adxl345:nack", False]],
            name="recover",
        ),
    ]
    for f in TRIP_FAULTS:
        cases.append(K.case("elevator", "elevator.trips", duration_ms=600000, faults=(f,), name=f))
    return kit_runner.run(cases, timeout=120)


@MP
def test_trips_and_door_cycles_are_counted(ev: dict[str, dict[str, Any]]) -> None:
    """An hour of normal service (two trips and four door cycles every 10 min)
    gives exactly 12 trips and 24 door cycles in the periodic readings, one
    vibration RMS and peak per trip (recorded when the trip ends, within 2 s of
    the car's arrival), no alarm and no health fault."""
    res = ev["elevator.trips"]
    exp = K.scenario("elevator.trips")["expect"]
    assert K.total(res, "trips") == 12
    assert K.total(res, "door_cycles") == 24
    assert res["alarms"] == [] and res["faults"] == {}
    ends = sorted(k * exp["period_ms"] + trip[1] for k in range(6) for trip in exp["trips"])
    rms = K.readings(res, "accel_rms")
    assert [r[0] - e for r, e in zip(rms, ends, strict=True)] == [
        pytest.approx(1500, abs=700) for _ in ends
    ]
    # smooth ride: RMS well under the rough threshold (mm/s^2 from mg)
    assert all(r[2] < 40 * 9807 // 1000 for r in rms)
    assert len(K.readings(res, "accel_peak")) == 12
    assert len(K.readings(res, "current")) == 59 and res["irqs"] >= 48


@MP
def test_rough_ride_raises_one_alarm(ev: dict[str, dict[str, Any]]) -> None:
    """Worn guide rollers (150 mg lateral vibration at 8 Hz): every trip's
    vibration RMS is over rough_rms_mg, and the rough_ride alarm is raised once
    (at the end of the first trip) with the trip's RMS and peak, not per trip."""
    res = ev["elevator.rough_ride"]
    rough = K.thresholds("elevator")["rough_rms_mg"] * 9807 // 1000
    rms = K.readings(res, "accel_rms")
    assert len(rms) == 4 and all(r[2] >= rough for r in rms)
    [alarm] = K.alarms(res)
    assert alarm[1] == "rough_ride" and alarm[0] == rms[0][0] and alarm[2] == 1
    assert K.record(alarm, "accel_rms") == rms[0][2]
    assert K.record(alarm, "accel_peak") > K.record(alarm, "accel_rms")


@MP
def test_door_held_open_is_a_door_fault(ev: dict[str, dict[str, Any]]) -> None:
    """A door that does not close for 10 minutes raises door_fault once,
    door_open_s after it opened (to within one low-rate check), and the episode
    ends with a door_fault_alarm=false record when it closes; door_open readings
    show it open meanwhile."""
    res = ev["elevator.door_stuck"]
    exp = K.scenario("elevator.door_stuck")["expect"]
    [alarm] = K.alarms(res)
    assert alarm[1] == "door_fault" and alarm[3] == [["door_open", True]]
    limit = K.thresholds("elevator")["door_open_s"] * 1000
    assert 0 <= alarm[0] - (exp["door_open_at_ms"] + limit) <= 250
    [cleared] = K.readings(res, "door_fault_alarm")
    assert cleared[2] is False and 0 <= cleared[0] - exp["door_close_at_ms"] <= 250
    opened = [r for r in K.readings(res, "door_open") if r[2] is True]
    assert opened and all(exp["door_open_at_ms"] < r[0] < exp["door_close_at_ms"] for r in opened)


@MP
def test_entrapment_from_the_alarm_button(ev: dict[str, dict[str, Any]]) -> None:
    """Emergency stop between floors, passenger pressing the alarm button 21
    times over 40 minutes: exactly one entrapment alarm and one alarm_button
    alarm, both at the first press (the pin interrupt wakes the watcher: no
    polling delay), every press counted, and the entrapment ends when the
    technician opens the door."""
    res = ev["elevator.entrapment"]
    exp = K.scenario("elevator.entrapment")["expect"]
    ent = K.alarms(res, "entrapment")
    btn = K.alarms(res, "alarm_button")
    assert len(ent) == 1 and len(btn) == 1
    assert ent[0][0] == exp["first_alarm_ms"] and btn[0][0] == exp["first_alarm_ms"]
    assert ent[0][2] == 2 and ["door_open", False] in ent[0][3]
    assert res["run"]["presses"] == exp["alarm_presses"]
    [cleared] = K.readings(res, "entrapment_alarm")
    assert cleared[2] is False and cleared[0] == exp["door_released_ms"]
    assert K.total(res, "trips") == 1


@MP
def test_entrapment_from_an_emergency_stop(ev: dict[str, dict[str, Any]]) -> None:
    """The same stop with nobody pressing the button: the trip's deceleration
    (204 mg, beyond estop_mg) marks an emergency stop, and entrapment_s later,
    the door still shut, one entrapment alarm is raised with the deceleration
    in its records; it ends when the door opens."""
    res = ev["elevator.estop_silent"]
    exp = K.scenario("elevator.entrapment")["expect"]
    [alarm] = K.alarms(res, "entrapment")
    limit = K.thresholds("elevator")["entrapment_s"] * 1000
    assert 0 <= alarm[0] - (exp["stop_ms"] + limit) <= 2500
    peak = K.record(alarm, "accel_peak")
    assert peak >= K.thresholds("elevator")["estop_mg"] * 9807 // 1000
    assert K.alarms(res, "alarm_button") == []
    [cleared] = K.readings(res, "entrapment_alarm")
    assert cleared[0] == exp["door_released_ms"]


@MP
def test_a_press_shorter_than_a_check_is_not_lost(ev: dict[str, dict[str, Any]]) -> None:
    """A 100 ms press of the alarm button (shorter than the 250 ms low-rate
    check) in a car standing with its door shut raises alarm_button and
    entrapment at the press: the interrupt handler latches it."""
    res = ev["elevator.short_press"]
    assert sorted(K.kinds(res)) == ["alarm_button", "entrapment"]
    assert all(a[0] == 30000 for a in res["alarms"])


@MP
def test_idle_car_is_quiet(ev: dict[str, dict[str, Any]]) -> None:
    """A parked car for an hour: no trip, no door cycle, no alarm, no fault;
    the motor current reads its 0.3 A standby (within the noise) every minute."""
    res = ev["elevator.idle"]
    assert res["alarms"] == [] and res["faults"] == {}
    assert K.total(res, "trips") == 0 and K.total(res, "door_cycles") == 0
    cur = K.readings(res, "current")
    assert len(cur) == 59 and all(150 <= r[2] <= 450 for r in cur)


@MP
def test_pico_w_board(ev: dict[str, dict[str, Any]]) -> None:
    """The same kit from the Pico W board file (other pins, I2C ids) counts the
    same 4 trips and 8 door cycles in 20 minutes."""
    res = ev["pico"]
    assert K.total(res, "trips") == 4 and K.total(res, "door_cycles") == 8
    assert res["alarms"] == [] and res["faults"] == {}


@MP
@pytest.mark.parametrize("fault", TRIP_FAULTS)
def test_sensor_fault_is_a_health_fault(ev: dict[str, dict[str, Any]], fault: str) -> None:
    """Each fault a chip simulator injects (NACK, EIO, wrong identity,
    saturation, noise, a stuck bus, a disconnected transducer) becomes a health
    fault of that part; no alarm comes of it; doors are still counted, and
    trips too while either the accelerometer or the current transducer works;
    a faulty part's readings are not recorded."""
    res = ev[fault]
    chip, _, kind = fault.partition(":")
    parts = ["ads1115", "adxl345"] if chip == "i2c" else [chip]
    assert sorted(res["faults"]) == parts
    assert res["alarms"] == []
    assert K.total(res, "door_cycles") == 4
    assert K.total(res, "trips") == (0 if chip == "i2c" else 2)
    if "ads1115" in parts:
        assert len(K.readings(res, "current")) <= 1  # a noisy ADC shows at the 2nd sample
    if "adxl345" in parts and kind != "noise":
        assert K.readings(res, "accel_rms") == []


@MP
def test_fault_clears_when_the_part_recovers(ev: dict[str, dict[str, Any]]) -> None:
    """The accelerometer stops answering at 100 s and comes back at 400 s: the
    fault is raised, the part is started again (identity check) at the next
    periodic sample after it answers, the fault is cleared, and trip vibration
    readings resume."""
    res = ev["recover"]
    log = [e for e in res["health_log"] if e[1] == "adxl345"]
    assert log[0][0] >= 100000 and log[0][2] == "no answer on the bus (NACK)"
    assert log[-1][2] is None and 400000 <= log[-1][0] <= 460000
    assert res["faults"] == {}
    rms_times = [r[0] for r in K.readings(res, "accel_rms")]
    assert any(t < 100000 for t in rms_times) and any(t > 400000 for t in rms_times)
    assert not any(100000 < t < 400000 for t in rms_times)
    assert K.total(res, "trips") == 3
