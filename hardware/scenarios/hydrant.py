# Fire hydrant scenarios: a post hydrant on a 350 kPa district main.
#
# Sensors: 4-20 mA pressure transducer (0..1600 kPa) on the hydrant's
# barrel, a reed switch on the valve stem (1 = valve open), an ADXL345 on
# the bonnet (z up), a DS18B20 on the barrel. Pressures are gauge kPa.

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Points = list[list[int]]
    Scenario = dict[str, Any]

STATIC_KPA = 350
HOUR = 3600000


def _base(name: str, doc: str, duration: int, seed: int, expect: "dict[str, Any]") -> "Scenario":
    return {
        "name": name,
        "kit": "hydrant",
        "doc": doc,
        "duration_ms": duration,
        "seed": seed,
        "params": {"static_kpa": STATIC_KPA},
        "expect": expect,
        "signals": {
            "pressure_kpa": {"value": STATIC_KPA, "noise": 3},
            "flow_lpm": {"value": 0},
            "valve_open": {"value": 0, "digital": True},
            "accel_x": {"value": 0, "noise": 3},
            "accel_y": {"value": 0, "noise": 3},
            "accel_z": {"value": 1000, "noise": 3},
            "temperature_mc": {"value": 12000, "noise": 30},
            "battery_mv": {"value": 3600},
        },
    }


def _idle() -> "Scenario":
    s = _base("hydrant.idle", "Valve shut, steady main pressure, a mild day.", 24 * HOUR, 20, {})
    day = [[0, 11000], [10 * HOUR, 9000], [15 * HOUR, 14000], [24 * HOUR, 11000]]
    s["signals"]["temperature_mc"] = {
        "segments": [{"start": 0, "points": day, "repeat_ms": 24 * HOUR}],
        "noise": 30,
    }
    return s


def _illegal_opening() -> "Scenario":
    # Opened with a stolen key at 2 min: the valve reed opens, pressure falls
    # to a 180 kPa residual over 4 s while 1800 l/min flows; shut at 22 min,
    # with a small hammer (120 kPa, 150 ms period) as the valve closes.
    t_open = 120000
    t_close = 1320000
    s = _base(
        "hydrant.illegal_opening",
        "Opened without authorisation for 20 minutes.",
        1800000,
        21,
        {"open_ms": t_open, "close_ms": t_close, "residual_kpa": 180, "static_kpa": STATIC_KPA},
    )
    sig = s["signals"]
    sig["valve_open"] = {
        "points": [[0, 0], [t_open, 0], [t_open, 1], [t_close, 1], [t_close, 0]],
        "digital": True,
    }
    sig["pressure_kpa"] = {
        "points": [
            [0, STATIC_KPA],
            [t_open, STATIC_KPA],
            [t_open + 4000, 180],
            [t_close, 180],
            [t_close + 3000, STATIC_KPA],
        ],
        "noise": 8,
        "waves": [
            {"start": t_close, "end": t_close + 3000, "period_ms": 150, "amp": 120, "decay": True}
        ],
    }
    sig["flow_lpm"] = {
        "points": [[0, 0], [t_open, 0], [t_open + 4000, 1800], [t_close, 1800], [t_close + 3000, 0]]
    }
    sig["accel_x"] = {
        "value": 0,
        "noise": 3,
        "waves": [{"start": t_open, "end": t_close, "period_ms": 40, "amp": 20}],
    }
    return s


def _pressure_drop() -> "Scenario":
    # A main break upstream: from 10 min the pressure sinks from 350 to
    # 150 kPa over 400 s, crossing 200 kPa at 15 min.
    s = _base(
        "hydrant.pressure_drop",
        "Network pressure falls to 150 kPa (main break upstream).",
        1800000,
        22,
        {"low_kpa": 200, "crosses_ms": 900000, "final_kpa": 150},
    )
    s["signals"]["pressure_kpa"] = {
        "points": [[0, STATIC_KPA], [600000, STATIC_KPA], [1000000, 150]],
        "noise": 3,
    }
    return s


def _water_hammer() -> "Scenario":
    # A pump trip at 60 s sends a transient through the main: a 60 ms
    # oscillation of 450 kPa amplitude decaying to nothing in 1.5 s; the first
    # crest (about 795 kPa) comes 15 ms after the start; the trough is clipped
    # at -95 kPa (the water column separates near vapour pressure).
    start = 60000
    s = _base(
        "hydrant.water_hammer",
        "A water-hammer transient: fast pressure oscillation at 60 s.",
        300000,
        23,
        {
            "start_ms": start,
            "end_ms": start + 1500,
            "period_ms": 60,
            "peak_kpa_min": 780,
            "static_kpa": STATIC_KPA,
        },
    )
    s["signals"]["pressure_kpa"] = {
        "value": STATIC_KPA,
        "noise": 3,
        "min": -95,
        "waves": [
            {"start": start, "end": start + 1500, "period_ms": 60, "amp": 450, "decay": True}
        ],
    }
    return s


def _freezing_night() -> "Scenario":
    # 18:00 at t = 0: +4 C falling to -12 C at 04:00 (10 h), -3 C at 08:00;
    # 0 C is crossed at 2.5 h. The lithium cell sags in the cold.
    s = _base(
        "hydrant.freezing_night",
        "A winter night: the barrel temperature drops below freezing.",
        14 * HOUR,
        24,
        {"freeze_ms": 9000000, "min_mc": -12000, "min_ms": 10 * HOUR},
    )
    sig = s["signals"]
    sig["temperature_mc"] = {
        "points": [[0, 4000], [10 * HOUR, -12000], [14 * HOUR, -3000]],
        "noise": 30,
    }
    sig["battery_mv"] = {"points": [[0, 3600], [10 * HOUR, 3450], [14 * HOUR, 3520]]}
    return s


def _impact() -> "Scenario":
    # A car hits the hydrant at 5 min: a 200 ms shock (up to ~8.7 g on x)
    # and the barrel left leaning 12 degrees about y (x 208 mg, z 978 mg).
    t = 300000
    s = _base(
        "hydrant.impact",
        "Hit by a car: acceleration spike and a lasting 12 degree tilt.",
        600000,
        25,
        {"impact_ms": t, "tilt_deg": 12, "peak_mg_min": 8000},
    )
    sig = s["signals"]
    sig["accel_x"] = {
        "points": [[0, 0], [t, 0], [t + 200, 208]],
        "noise": 3,
        "waves": [{"start": t, "end": t + 200, "period_ms": 24, "amp": 9000, "decay": True}],
    }
    sig["accel_y"] = {
        "value": 0,
        "noise": 3,
        "waves": [
            {"start": t, "end": t + 200, "period_ms": 30, "amp": 5000, "decay": True, "phase": 40}
        ],
    }
    sig["accel_z"] = {
        "points": [[0, 1000], [t, 1000], [t + 200, 978]],
        "noise": 3,
        "waves": [{"start": t, "end": t + 200, "period_ms": 20, "amp": 3000, "decay": True}],
    }
    return s


# Builders: a scenario is built when asked for (saves heap on a node).
SCENARIOS = {
    "hydrant.idle": _idle,
    "hydrant.illegal_opening": _illegal_opening,
    "hydrant.pressure_drop": _pressure_drop,
    "hydrant.water_hammer": _water_hammer,
    "hydrant.freezing_night": _freezing_night,
    "hydrant.impact": _impact,
}
