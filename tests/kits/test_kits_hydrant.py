"""Hydrant kit on the real MicroPython unix port: a battery node that wakes
every minute (and when the valve reed closes), a new kit object per wake with
its state carried through JSON, against the ADS1115 (4-20 mA loop), ADXL345
and DS18B20 simulators and the hydrant scenarios."""

from __future__ import annotations

from typing import Any

import kit_support as K
import pytest

MP = pytest.mark.micropython
FAULTS = (
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
    "ds18b20:disconnected",
    "ds18b20:bad_crc",
    "ds18b20:stuck85",
    "ds18b20:noise",
    "onewire:short",
)
PART_READINGS = {"adxl345": "tilt", "ads1115": "pressure", "ds18b20": "temp", "onewire": "temp"}


@pytest.fixture(scope="module")
def hy(kit_runner: Any) -> dict[str, dict[str, Any]]:
    cases = [
        K.case("hydrant", "hydrant.illegal_opening"),
        K.case("hydrant", "hydrant.water_hammer"),
        K.case("hydrant", "hydrant.pressure_drop"),
        K.case("hydrant", "hydrant.freezing_night", period_ms=900000),
        K.case("hydrant", "hydrant.impact"),
        K.case("hydrant", "hydrant.idle", period_ms=900000),
        K.case("hydrant", "hydrant.illegal_opening", board=K.PICO, name="pico"),
        K.case(
            "hydrant",
            "hydrant.idle",
            duration_ms=900000,
            fault_schedule=[
                [300000, "ds18b20:disconnected", True],
                [600000, "ds18b20:disconnected", False],
            ],
            name="recover",
        ),
        K.case("hydrant", "hydrant.idle", duration_ms=600000, zero_ref=False, name="no_zero_ref"),
        K.case(
            "hydrant",
            "hydrant.impact",
            period_ms=900000,
            duration_ms=1800000,
            name="impact_between",
        ),
        K.case(
            "hydrant",
            "hydrant.impact",
            period_ms=900000,
            duration_ms=1800000,
            th={"accel_wake_mg": 15000},
            name="impact_unwatched",
        ),
        K.case("hydrant", "hydrant.illegal_opening", period_ms=900000, name="opening_15min"),
    ]
    for f in FAULTS:
        cases.append(K.case("hydrant", "hydrant.idle", duration_ms=600000, faults=(f,), name=f))
    return kit_runner.run(cases, timeout=120)


@MP
def test_illegal_opening_is_raised_once(hy: dict[str, dict[str, Any]]) -> None:
    """The valve opened for 20 minutes: the reed wake raises illegal_opening
    once, within open_confirm_ms of the opening (the pressure fell by
    open_drop_pa: water flows), with the valve state and pressure; the episode
    ends (illegal_opening_alarm=false) at the wake that sees the valve shut. The
    residual pressure of the open hydrant is not a pressure_low alarm, and the
    small hammer of the closing valve is not a water_hammer alarm."""
    res = hy["hydrant.illegal_opening"]
    exp = K.scenario("hydrant.illegal_opening")["expect"]
    [alarm] = res["alarms"]
    assert alarm[1] == "illegal_opening" and alarm[2] == 2
    assert 0 < alarm[0] - exp["open_ms"] <= 5000
    assert K.record(alarm, "valve_open") is True
    assert K.record(alarm, "pressure") <= exp["static_kpa"] * 1000 - 50000
    [cleared] = K.readings(res, "illegal_opening_alarm")
    assert cleared[2] is False and exp["close_ms"] <= cleared[0] < exp["close_ms"] + 60000
    during = [r[2] for r in K.readings(res, "pressure") if 180000 < r[0] < exp["close_ms"]]
    assert during and all(abs(p - exp["residual_kpa"] * 1000) < 5000 for p in during)
    assert res["faults"] == {}


@MP
def test_water_hammer_burst_summary(hy: dict[str, dict[str, Any]]) -> None:
    """A pump-trip transient (450 kPa oscillation decaying over 1.5 s) during
    the wake at 60 s: the pressure burst triggers, and one water_hammer alarm
    carries the burst summary - raw low and high over the captured ring (with
    its pre-trigger samples), the high-passed swing (>= hammer_pa) and the
    static pressure before the event."""
    res = hy["hydrant.water_hammer"]
    exp = K.scenario("hydrant.water_hammer")["expect"]
    [alarm] = res["alarms"]
    assert alarm[1] == "water_hammer" and exp["start_ms"] <= alarm[0] <= exp["end_ms"]
    low, high, swing, static = (v for _, v in alarm[3])
    names = [n for n, _ in alarm[3]]
    assert names[3] == "pressure" and abs(static - exp["static_kpa"] * 1000) < 5000
    assert swing >= K.thresholds("hydrant")["hammer_pa"]
    assert -100000 <= low < exp["static_kpa"] * 1000 - 200000
    assert exp["static_kpa"] * 1000 + 200000 < high <= 800000
    assert high - low >= swing * 9 // 10


@MP
def test_pressure_drop(hy: dict[str, dict[str, Any]]) -> None:
    """The network pressure sinks from 350 to 150 kPa: pressure_low is raised
    once, at the first wake after the pressure crosses pressure_low_pa."""
    res = hy["hydrant.pressure_drop"]
    exp = K.scenario("hydrant.pressure_drop")["expect"]
    [alarm] = res["alarms"]
    assert alarm[1] == "pressure_low"
    assert exp["crosses_ms"] <= alarm[0] <= exp["crosses_ms"] + 60000 + 2000
    assert K.record(alarm, "pressure") < exp["low_kpa"] * 1000


@MP
def test_freezing_night(hy: dict[str, dict[str, Any]]) -> None:
    """A winter night sampled every 15 minutes (56 wakes, each a fresh kit
    restored from its saved state): one freezing alarm, at the first wake with
    the barrel at freeze_ccel (1 C) or below - before it actually freezes - and
    not again on the later freezing wakes (the episode survives deep sleep)."""
    res = hy["hydrant.freezing_night"]
    exp = K.scenario("hydrant.freezing_night")["expect"]
    [alarm] = res["alarms"]
    temps = K.readings(res, "temp")
    first_cold = next(r for r in temps if r[2] <= K.thresholds("hydrant")["freeze_ccel"])
    assert alarm[1] == "freezing" and abs(alarm[0] - first_cold[0]) < 2000
    assert alarm[0] < exp["freeze_ms"]
    assert min(r[2] for r in temps) == pytest.approx(exp["min_mc"] // 10, abs=30)
    assert res["run"]["wakes"] == 56 and len(temps) == 56
    batt = K.readings(res, "battery")
    assert min(r[2] for r in batt) == pytest.approx(3450, abs=5)


def _impact_and_tilt(res: dict[str, Any]) -> dict[str, Any]:
    """Checks hydrant.impact's two alarms: impact at the shock with its peak, then
    tilt with the lean; returns the scenario's expectations."""
    exp: dict[str, Any] = K.scenario("hydrant.impact")["expect"]
    impact, tilt = res["alarms"]
    assert impact[1] == "impact" and impact[2] == 2
    assert exp["impact_ms"] <= impact[0] <= exp["impact_ms"] + 500
    assert K.record(impact, "accel_peak") >= exp["peak_mg_min"] * 9807 // 1000
    assert tilt[1] == "tilt" and impact[0] < tilt[0] < exp["impact_ms"] + 2000
    assert K.record(tilt, "tilt") == pytest.approx(exp["tilt_deg"] * 100, abs=50)
    return exp


@MP
def test_impact_and_tilt(hy: dict[str, dict[str, Any]]) -> None:
    """A car hits the hydrant at 5 min (the wake that samples it): impact is
    raised with the shock's peak (about 8.4 g), then, from a window taken once
    the shock has died down, tilt with the 12 degree lean from the install
    baseline; later wakes raise neither again and record the lasting tilt."""
    res = hy["hydrant.impact"]
    exp = _impact_and_tilt(res)
    later = [r[2] for r in K.readings(res, "tilt") if r[0] > exp["impact_ms"] + 60000]
    assert later and all(abs(t - 1200) < 60 for t in later)


@MP
def test_idle_day_is_quiet(hy: dict[str, dict[str, Any]]) -> None:
    """A mild day sampled every 15 minutes: no alarm, no fault, and a full set
    of readings per wake (pressure, temp, tilt, valve_open, battery)."""
    res = hy["hydrant.idle"]
    assert res["alarms"] == [] and res["faults"] == {}
    for name in ("pressure", "temp", "tilt", "valve_open", "battery"):
        assert len(K.readings(res, name)) == 96, name
    assert all(abs(r[2] - 350000) < 3000 for r in K.readings(res, "pressure"))


@MP
def test_pico_w_board(hy: dict[str, dict[str, Any]]) -> None:
    """The Pico W board file (other pins, 1-Wire on GP22) gives the same
    alarms and readings as the ESP32-C3 one for the same scenario."""
    assert hy["pico"]["alarms"] == hy["hydrant.illegal_opening"]["alarms"]
    assert hy["pico"]["readings"] == hy["hydrant.illegal_opening"]["readings"]


@MP
@pytest.mark.parametrize("fault", FAULTS)
def test_sensor_fault_is_a_health_fault(hy: dict[str, dict[str, Any]], fault: str) -> None:
    """Each fault a chip simulator injects becomes a health fault of its part
    (for noise: once persistent, by a plausibility score); no alarm comes of
    it, the faulty part's readings stop, and every other reading goes on."""
    res = hy[fault]
    chip, _, kind = fault.partition(":")
    parts = ["ads1115", "adxl345"] if chip == "i2c" else ["ds18b20" if chip == "onewire" else chip]
    assert sorted(res["faults"]) == parts
    assert res["alarms"] == []
    gone = {PART_READINGS[p] for p in parts}
    for name in ("pressure", "temp", "tilt", "valve_open", "battery"):
        n = len(K.readings(res, name))
        if name not in gone:
            assert n == 10, name
        elif kind == "noise":
            assert n <= 3, name  # the plausibility score needs a few readings
        else:
            assert n == 0, name


@MP
def test_fault_clears_when_the_part_recovers(hy: dict[str, dict[str, Any]]) -> None:
    """The thermometer is disconnected from 5 to 10 minutes: the wakes in that
    time record a health fault and no temperature; the first wake after it is
    back starts it again, clears the fault and records temperatures again."""
    res = hy["recover"]
    log = [e for e in res["health_log"] if e[1] == "ds18b20"]
    assert [e[2] for e in log] == ["no presence pulse (disconnected)", None]
    assert 300000 <= log[0][0] < 301000 and 600000 <= log[1][0] < 601000
    times = [r[0] for r in K.readings(res, "temp")]
    assert len(times) == 10 and not any(300000 <= t < 600000 for t in times)


@MP
def test_without_a_zero_reference(hy: dict[str, dict[str, Any]]) -> None:
    """A board file without the proposed zero-reference input still samples
    the pressure normally (the ADC noise check is simply not made)."""
    res = hy["no_zero_ref"]
    assert res["faults"] == {} and len(K.readings(res, "pressure")) == 10


@MP
def test_impact_between_wakes(hy: dict[str, dict[str, Any]]) -> None:
    """The firmware's own sample period (15 min): the car hits at 5 min, between two
    samples. The ADXL345 watches for activity while the node sleeps (armed by the
    kit's sleep(): accel_wake_mg, low-power 100 Hz, the FIFO in trigger mode); its
    INT1 wakes the node at the shock, and the FIFO's samples around the event give the
    impact's peak (about 8.4 g: the shock is over by the time the node has woken);
    tilt follows from a window taken once the shock has died down. One run more than
    the samples, no other."""
    res = hy["impact_between"]
    _impact_and_tilt(res)
    assert res["run"]["wakes"] == 2 and res["run"]["runs"] == 3


@MP
def test_without_the_watch_the_impact_is_missed(hy: dict[str, dict[str, Any]]) -> None:
    """The same car with the watch's threshold above anything the part can measure:
    nothing wakes the node at the shock, the impact goes unnoticed, and only the
    lasting tilt is seen at the next sample - what the activity wake is for."""
    res = hy["impact_unwatched"]
    assert K.kinds(res) == ["tilt"]
    assert res["alarms"][0][0] >= 900000
    assert res["run"]["runs"] == res["run"]["wakes"] == 2


@MP
def test_the_reed_wakes_the_node_when_it_changes(hy: dict[str, dict[str, Any]]) -> None:
    """With 15-minute samples the valve's reed wakes the node when the valve opens
    (illegal_opening within open_confirm_ms) and when it shuts (the episode ends at
    once: illegal_opening_alarm = false at the closing), and never while it stays open:
    two runs more than the samples."""
    res = hy["opening_15min"]
    exp = K.scenario("hydrant.illegal_opening")["expect"]
    [alarm] = res["alarms"]
    assert alarm[1] == "illegal_opening" and 0 < alarm[0] - exp["open_ms"] <= 5000
    [ended] = K.readings(res, "illegal_opening_alarm")
    assert ended[2] is False and exp["close_ms"] <= ended[0] < exp["close_ms"] + 100
    assert res["run"]["runs"] == res["run"]["wakes"] + 2
