"""Each world scenario produces the physical signature it promises, measured
through the simulated chips, in both runtimes (``hw``), plus data checks."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from hardware import kits
from hardware.scenarios import KITS, get, names
from hardware.sim.world import World

EXPECTED = {
    "elevator": {"idle", "trips", "rough_ride", "door_stuck", "entrapment"},
    "hydrant": {"idle", "illegal_opening", "pressure_drop", "water_hammer", "freezing_night",
                "impact"},
    "manhole": {"idle", "rainstorm", "h2s_rising", "cover_lifted"},
}  # fmt: skip


def test_scenario_names_are_stable() -> None:
    """Proves the stable scenario identifiers exist, each names its kit, and
    each kit in hardware.kits lists exactly its scenarios."""
    for kit in KITS:
        got = {n.split(".", 1)[1] for n in names(kit)}
        assert got == EXPECTED[kit]
        assert set(kits.get_kit(kit).scenarios) == set(names(kit))
        for n in names(kit):
            s = get(n)
            assert s["name"] == n
            assert s["kit"] == kit
            assert s["duration_ms"] > 0
            assert s["doc"]
    with pytest.raises(ValueError):
        get("elevator.nope")


@pytest.mark.parametrize("name", names())
def test_scenarios_are_integer_data(name: str) -> None:
    """Proves every scenario is plain integer data (what a board with 32-bit
    floats evaluates bit-identically) with sorted point lists."""

    def walk(v: Any) -> None:
        assert not isinstance(v, float), name
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)

    s = get(name)
    walk(s)
    for spec in s["signals"].values():
        segs = spec.get("segments") or ([{"points": spec["points"]}] if "points" in spec else [])
        for seg in segs:
            times = [p[0] for p in seg["points"]]
            assert times == sorted(times), name


def test_elevator_trips(hw: dict[str, Any]) -> None:
    """Proves elevator.trips: a trip shows +82/-82 mg on z (full resolution,
    256 LSB/g) through the ADXL345, the hoist current through the ADS1115
    steps 28 A -> 16 A -> 6 A -> idle, the car rises 9000 mm (3 floors) and
    comes back each 10-minute period, and the door opens 4 times per period
    for 7 s each (24 door cycles an hour)."""
    r = hw["scenario_elevator_trips"]
    assert 1070 <= r["z_max"] * 1000 // 256 <= 1110
    assert 890 <= r["z_min"] * 1000 // 256 <= 930
    assert r["x_peak"] <= 5
    assert r["samples"] == 1300  # 13 s at 100 Hz, nothing lost
    mv = [c * 4096 // 32768 for c in r["motor_codes"]]  # mV at 50 uV/mA
    amps = [v // 50 for v in mv]
    assert amps in ([0, 27, 15, 6, 0], [0, 27, 15, 5, 0])
    edges = r["door_edges_1h"]
    assert len(edges) == 48
    opens = [t for t, v in edges if v == 1]
    closes = [t for t, v in edges if v == 0]
    assert all(c - o == 7000 for o, c in zip(opens, closes, strict=True))
    assert opens[:4] == [10000, 31250, 300000, 321250]
    assert r["position_after_up"] == 9000
    assert r["position_after_period"] == 0
    assert r["position_2_periods"] == 9000


def test_elevator_rough_ride(hw: dict[str, Any]) -> None:
    """Proves elevator.rough_ride vibrates laterally about +-150 mg while the
    car moves (peak to peak near 300 mg) and not while it is parked."""
    r = hw["scenario_elevator_rough"]
    for pp in (r["moving_x_pp"], r["moving_y_pp"]):
        assert 250 <= pp * 1000 // 256 <= 320
    assert r["parked_x_pp"] * 1000 // 256 <= 40


def test_elevator_door_stuck(hw: dict[str, Any]) -> None:
    """Proves elevator.door_stuck: after the normal boarding cycle the door
    opens on arrival and stays open for 10 minutes."""
    r = hw["scenario_elevator_door_stuck"]
    assert r["door_edges"] == [[10000, 1], [17000, 0], [31250, 1], [631250, 0]]


def test_elevator_entrapment(hw: dict[str, Any]) -> None:
    """Proves elevator.entrapment: the car stops at 4500 mm - between floors 1
    and 2 - and stays there with zero speed, a hard deceleration then a
    still 1 g on z, the motor current gone, the door closed from boarding
    until the technician releases it, and the alarm button pressed first at
    60 s and again and again (21 presses) until the rescue."""
    r = hw["scenario_elevator_entrapment"]
    exp = get("elevator.entrapment")["expect"]
    assert r["positions"] == [4500, 4500, 4500]
    assert r["positions"][0] % 3000 != 0
    assert r["moving_between"] == [0, 0]
    assert r["final_position"] == exp["final_position_mm"] == 3000
    assert r["decel_min_z"] * 1000 // 256 < 800
    lo, hi = (v * 1000 // 256 for v in r["still_z"])
    assert 980 <= lo <= hi <= 1020
    assert r["motor_after_stop"] * 4096 // 32768 // 50 == 0
    assert r["door_edges"] == [[10000, 1], [17000, 0], [exp["door_released_ms"], 1],
                               [exp["door_released_ms"] + 120000, 0]]  # fmt: skip
    assert r["alarm_edges"][0] == [exp["first_alarm_ms"], 1]
    assert r["alarm_presses"] == exp["alarm_presses"] == 21


def test_hydrant_scenarios(hw: dict[str, Any]) -> None:
    """Proves the hydrant signatures through the chips: illegal opening (reed
    open 2..22 min, 350 -> 180 kPa residual and back); pressure drop
    crossing 200 kPa at 15 min; water hammer peaking near 800 kPa with a
    60 ms period and settling back to 350; the freezing night crossing 0 C at
    2.5 h (reading every 10 min) down to -12 C with the cell sagging; the car
    impact peaking above 8 g and leaving a 12 degree tilt."""
    r = hw["scenario_hydrant"]
    before, open1, open2, after = r["illegal_kpa"]
    assert abs(before - 350) <= 10 and abs(after - 350) <= 10
    assert abs(open1 - 180) <= 15 and abs(open2 - 180) <= 15
    assert r["illegal_valve"] == [[120000, 1], [1320000, 0]]
    assert abs(r["drop_crossed_ms"] - 900000) <= 10000
    assert abs(r["drop_final"] - 150) <= 10
    assert 780 <= r["hammer_peak"] <= 820
    assert r["hammer_min"] < 0  # the trough goes below atmospheric
    assert all(abs(v - 350) <= 10 for v in r["hammer_before"] + r["hammer_after"])
    ups = r["hammer_up_crossings"]
    assert all(abs((b - a) - 60) <= 2 for a, b in itertools.pairwise(ups))
    assert 9000000 <= r["freeze_first_below_0_ms"] <= 9600000
    assert abs(r["freeze_min_mc"] + 12000) <= 100
    assert r["battery_min_mv"] == 3450
    assert r["impact_peak_mg"] >= 8000
    bx, _, bz = r["impact_before"]
    ax, _, az = r["impact_after"]
    assert abs(math.degrees(math.atan2(bx, bz))) < 1
    assert abs(math.degrees(math.atan2(ax, az)) - 12) < 1


def test_manhole_scenarios(hw: dict[str, Any]) -> None:
    """Proves the manhole signatures through the chips: the rainstorm brings
    the ultrasonic distance down to the overflow threshold (400 mm) at
    2.5 h (reading every minute), then into the blind zone (0) near the peak,
    and back to 2450 mm by 8 h; H2S read over Q&A crosses 10 ppm at 84 min and
    peaks at 21 ppm; the lifted cover opens the reed 10..40 min, tilts the
    accelerometer by 25 degrees and makes the ultrasonic see the wall at
    700 mm."""
    r = hw["scenario_manhole"]
    exp = get("manhole.rainstorm")["expect"]
    assert exp["overflow_ms"] <= r["overflow_ms"] <= exp["overflow_ms"] + 75000
    assert 10800000 <= r["blind_ms"] <= exp["peak_ms"]
    assert abs(r["final_mm"] - 2450) <= 10
    assert 5040000 <= r["h2s_crossed_ms"] <= 5040000 + 90000
    assert abs(r["h2s_peak_raw"] - 210) <= 2
    assert r["cover_edges"] == [[600000, 1], [2400000, 0]]
    assert all(abs(d - 700) <= 10 for d in r["cover_distance_mm"])
    assert len(r["cover_distance_mm"]) >= 5
    shut, lifted, back = r["cover_accel"]
    assert abs(math.degrees(math.atan2(shut[0], shut[2]))) < 1
    assert abs(math.degrees(math.atan2(lifted[0], lifted[2])) - 25) < 1.5
    assert abs(math.degrees(math.atan2(back[0], back[2]))) < 1


def test_idle_scenarios(hw: dict[str, Any]) -> None:
    """Proves the idle scenarios are quiet: no digital edges, 1 g upright."""
    for name, v in hw["idle_scenarios"].items():
        assert v["edges"] == 0, name
        assert 990 <= v["z_min"] <= v["z_max"] <= 1010, name


def test_rainstorm_level_crosses_overflow_exactly_in_the_data() -> None:
    """Proves the documented overflow time is where the scenario's level
    curve reaches the overflow level (without noise: the base curve)."""
    w = World("manhole.rainstorm")
    t = w.expect["overflow_ms"]
    assert w.base("water_level_mm", t) == w.params["overflow_level_mm"]
    assert w.base("water_level_mm", t - 60000) < w.params["overflow_level_mm"]
    w2 = World("hydrant.freezing_night")
    assert w2.base("temperature_mc", w2.expect["freeze_ms"]) == 0
    w3 = World("manhole.h2s_rising")
    assert w3.base("h2s_ppb", w3.expect["crosses_ms"]) == w3.expect["alarm_ppb"]
