# Manhole scenarios: a 3 m deep combined-sewer manhole under a road.
#
# Geometry: the ultrasonic sensor hangs under the cover, 2850 mm above the
# invert (150 mm below the road surface) looking down; it sees
# distance = 2850 - water level. The overflow threshold is a level of
# 2450 mm (water 550 mm below the road, 400 mm below the sensor).
# Sensors: A02YYUW (level), ZE03 H2S, DS18B20 (air), ADXL345 on the cover
# (z up), reed switch on the frame (1 = cover displaced).

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Points = list[list[int]]
    Scenario = dict[str, Any]

HOUR = 3600000
SENSOR_HEIGHT_MM = 2850
OVERFLOW_LEVEL_MM = 2450
PARAMS = {
    "shaft_depth_mm": 3000,
    "sensor_height_mm": SENSOR_HEIGHT_MM,
    "overflow_level_mm": OVERFLOW_LEVEL_MM,
}


def _base(name: str, doc: str, duration: int, seed: int, expect: "dict[str, Any]") -> "Scenario":
    return {
        "name": name,
        "kit": "manhole",
        "doc": doc,
        "duration_ms": duration,
        "seed": seed,
        "params": PARAMS,
        "expect": expect,
        "signals": {
            "water_level_mm": {"value": 250, "noise": 3},
            "h2s_ppb": {"value": 300, "noise": 50, "min": 0},
            "cover_open": {"value": 0, "digital": True},
            "accel_x": {"value": 0, "noise": 3},
            "accel_y": {"value": 0, "noise": 3},
            "accel_z": {"value": 1000, "noise": 3},
            "temperature_mc": {"value": 15000, "noise": 30},
            "battery_mv": {"value": 3600},
        },
    }


def _idle() -> "Scenario":
    s = _base("manhole.idle", "Dry weather: low flow, little gas, cover shut.", 24 * HOUR, 30, {})
    day = [[0, 200], [8 * HOUR, 350], [20 * HOUR, 300], [24 * HOUR, 200]]
    s["signals"]["water_level_mm"] = {
        "segments": [{"start": 0, "points": day, "repeat_ms": 24 * HOUR}],
        "noise": 3,
    }
    return s


def _rainstorm() -> "Scenario":
    # Rain from 30 min: the level climbs from 250 mm to the 2450 mm overflow
    # threshold at exactly 2.5 h, peaks at 2900 mm (above the sensor: the
    # ultrasonic reads its blind zone) at 3.25 h, and recedes by 8 h.
    level = [
        [0, 250],
        [1800000, 250],
        [HOUR, 800],
        [2 * HOUR, 1800],
        [9000000, 2450],
        [3 * HOUR, 2800],
        [11700000, 2900],
        [5 * HOUR, 1500],
        [8 * HOUR, 400],
    ]
    s = _base(
        "manhole.rainstorm",
        "A summer cloudburst fills the shaft to overflow.",
        8 * HOUR,
        31,
        {
            "overflow_ms": 9000000,
            "overflow_level_mm": OVERFLOW_LEVEL_MM,
            "overflow_distance_mm": SENSOR_HEIGHT_MM - OVERFLOW_LEVEL_MM,
            "peak_level_mm": 2900,
            "peak_ms": 11700000,
        },
    )
    sig = s["signals"]
    sig["water_level_mm"] = {"points": level, "noise": 5}
    sig["temperature_mc"] = {
        "points": [[0, 15000], [1800000, 15000], [2 * HOUR, 12000]],
        "noise": 30,
    }
    sig["h2s_ppb"] = {"points": [[0, 300], [1800000, 300], [HOUR, 100]], "noise": 20, "min": 0}
    return s


def _h2s_rising() -> "Scenario":
    # Septic sewage: from 30 min the H2S climbs from 1 to 21 ppm over 2 h,
    # crossing the 10 ppm alarm level at 84 min, then is flushed away.
    s = _base(
        "manhole.h2s_rising",
        "Hydrogen sulphide builds up past the 10 ppm alarm level.",
        5 * HOUR,
        32,
        {"alarm_ppb": 10000, "crosses_ms": 5040000, "peak_ppb": 21000},
    )
    s["signals"]["h2s_ppb"] = {
        "points": [
            [0, 1000],
            [1800000, 1000],
            [9000000, 21000],
            [4 * HOUR, 21000],
            [5 * HOUR, 2000],
        ],
        "noise": 100,
        "min": 0,
    }
    return s


def _cover_lifted() -> "Scenario":
    # At 10 min the cover is lifted and left leaning 25 degrees (x 423 mg,
    # z 906 mg) on the frame: the reed opens, the ultrasonic now sees the
    # shaft wall 700 mm away. Put back at 40 min.
    lift = 600000
    back = 2400000
    s = _base(
        "manhole.cover_lifted",
        "The cover is lifted, displaced and tilted, then put back.",
        3000000,
        33,
        {"lift_ms": lift, "restore_ms": back, "tilt_deg": 25},
    )
    sig = s["signals"]
    sig["cover_open"] = {
        "points": [[0, 0], [lift, 0], [lift, 1], [back, 1], [back, 0]],
        "digital": True,
    }
    shake = [
        {"start": lift, "end": lift + 3000, "period_ms": 50, "amp": 300, "decay": True},
        {"start": back, "end": back + 1500, "period_ms": 35, "amp": 500, "decay": True},
    ]
    sig["accel_x"] = {
        "points": [[0, 0], [lift, 0], [lift + 2000, 423], [back, 423], [back + 1000, 0]],
        "noise": 3,
        "waves": shake,
    }
    sig["accel_y"] = {"value": 0, "noise": 3, "waves": shake}
    sig["accel_z"] = {
        "points": [[0, 1000], [lift, 1000], [lift + 2000, 906], [back, 906], [back + 1000, 1000]],
        "noise": 3,
        "waves": shake,
    }
    sig["distance_mm"] = {
        "points": [[0, 2600], [lift, 2600], [lift + 500, 700], [back, 700], [back + 500, 2600]],
        "noise": 5,
    }
    return s


# Builders: a scenario is built when asked for (saves heap on a node).
SCENARIOS = {
    "manhole.idle": _idle,
    "manhole.rainstorm": _rainstorm,
    "manhole.h2s_rising": _h2s_rising,
    "manhole.cover_lifted": _cover_lifted,
}
