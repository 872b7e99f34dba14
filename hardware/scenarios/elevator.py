# Elevator scenarios: a traction elevator in an old residential block.
#
# Physics (integers): floors 3000 mm apart; trips accelerate at 800 mm/s^2
# (82 mg on the z axis, which reads +1000 mg at rest) for 1250 ms to
# 1000 mm/s, cruise, and decelerate the same way, so a trip of n floors takes
# 2500 + (3000 n - 1250) ms. The hoist motor draws 28 A while accelerating,
# 16 A cruising, 6 A while braking, 0.3 A idle. The door contact opens about
# a second after arrival and stays open 7 s per door cycle.

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Points = list[list[int]]
    Scenario = dict[str, Any]

FLOOR_MM = 3000
SPEED_MM_S = 1000
RAMP_MS = 1250
ACCEL_MG = 82
IDLE_MA = 300
ACCEL_MA = 28000
CRUISE_MA = 16000
BRAKE_MA = 6000
DOOR_MS = 7000
PERIOD_MS = 600000


def trip(t0: int, floors: int) -> "tuple[Points, Points, Points, int]":
    # Points of one trip of `floors` floors (negative = down) from t0:
    # (velocity, accel_z, motor current, arrival time).
    s = 1 if floors > 0 else -1
    cruise = abs(floors) * FLOOR_MM - RAMP_MS * SPEED_MM_S // 1000
    t1 = t0 + RAMP_MS
    t2 = t1 + cruise
    t3 = t2 + RAMP_MS
    vel = [[t0, 0], [t1, s * SPEED_MM_S], [t2, s * SPEED_MM_S], [t3, 0]]
    up = 1000 + s * ACCEL_MG
    down = 1000 - s * ACCEL_MG
    acc = [
        [t0, 1000],
        [t0, up],
        [t1, up],
        [t1, 1000],
        [t2, 1000],
        [t2, down],
        [t3, down],
        [t3, 1000],
    ]
    cur = [
        [t0, IDLE_MA],
        [t0 + 200, ACCEL_MA],
        [t1, ACCEL_MA],
        [t1 + 300, CRUISE_MA],
        [t2, CRUISE_MA],
        [t2 + 300, BRAKE_MA],
        [t3, BRAKE_MA],
        [t3 + 500, IDLE_MA],
    ]
    return vel, acc, cur, t3


def cat(*parts: "Points") -> "Points":
    # Concatenate point lists (MicroPython has no [*a, *b]).
    out: Points = []
    for p in parts:
        out.extend(p)
    return out


def door(t: int, open_ms: int = DOOR_MS) -> "Points":
    return [[t, 0], [t, 1], [t + open_ms, 1], [t + open_ms, 0]]


def _pattern() -> "tuple[Points, Points, Points, Points, Points, list[int]]":
    # One 10-minute period: doors at floor 0, trip up 3 floors, doors; five
    # minutes later doors, trip down, doors.
    vel = [[0, 0]]
    acc = [[0, 1000]]
    cur = [[0, IDLE_MA]]
    doors = [[0, 0]]
    trips: Points = []
    opens: list[int] = []
    for t_door, t_trip, floors, start_floor in ((10000, 20000, 3, 0), (300000, 310000, -3, 3)):
        doors += door(t_door)
        opens.append(t_door)
        v, a, c, end = trip(t_trip, floors)
        vel += v
        acc += a
        cur += c
        doors += door(end + 1000)
        opens.append(end + 1000)
        trips.append([t_trip, end, start_floor, start_floor + floors])
    vel.append([PERIOD_MS, 0])
    acc.append([PERIOD_MS, 1000])
    cur.append([PERIOD_MS, IDLE_MA])
    doors.append([PERIOD_MS, 0])
    return vel, acc, cur, doors, trips, opens


def _repeat(points: "Points") -> "dict[str, Any]":
    return {"segments": [{"start": 0, "points": points, "repeat_ms": PERIOD_MS}]}


def _ride(
    vib_xy: int, vib_z: int, period_xy: int = 83, period_z: int = 90
) -> "tuple[list[dict[str, Any]], ...]":
    # Vibration that grows with car speed (zero when the car stands still).
    def wave(amp: int, period: int, phase: int = 0) -> "list[dict[str, Any]]":
        return [
            {
                "period_ms": period,
                "amp": amp,
                "phase": phase,
                "scale_by": "velocity_mm_s",
                "scale_full": SPEED_MM_S,
            }
        ]

    return wave(vib_xy, period_xy), wave(vib_xy, period_xy + 28, 64), wave(vib_z, period_z)


def _trips(name: str, doc: str, vib_xy: int, vib_z: int, period_xy: int) -> "Scenario":
    vel, acc, cur, doors, trips, opens = _pattern()
    wx, wy, wz = _ride(vib_xy, vib_z, period_xy)
    accel_z = _repeat(acc)
    accel_z["noise"] = 4
    accel_z["waves"] = wz
    motor = _repeat(cur)
    motor["noise"] = 100
    motor["min"] = 0
    door_open = _repeat(doors)
    door_open["digital"] = True
    return {
        "name": name,
        "kit": "elevator",
        "doc": doc,
        "duration_ms": 3600000,
        "seed": 11,
        "params": {"floor_mm": FLOOR_MM},
        "expect": {
            "period_ms": PERIOD_MS,
            "trips": trips,
            "door_opens": opens,
            "door_open_ms": DOOR_MS,
            "vibration_mg": vib_xy,
        },
        "signals": {
            "velocity_mm_s": _repeat(vel),
            "accel_x": {"value": 0, "noise": 4, "waves": wx},
            "accel_y": {"value": 0, "noise": 4, "waves": wy},
            "accel_z": accel_z,
            "motor_current_ma": motor,
            "door_open": door_open,
            "alarm_button": {"value": 0, "digital": True},
        },
    }


def _idle() -> "Scenario":
    return {
        "name": "elevator.idle",
        "kit": "elevator",
        "doc": "Car parked at floor 0, door closed, motor idle.",
        "duration_ms": 3600000,
        "seed": 10,
        "params": {"floor_mm": FLOOR_MM},
        "expect": {},
        "signals": {
            "velocity_mm_s": {"value": 0},
            "accel_x": {"value": 0, "noise": 4},
            "accel_y": {"value": 0, "noise": 4},
            "accel_z": {"value": 1000, "noise": 4},
            "motor_current_ma": {"value": IDLE_MA, "noise": 100, "min": 0},
            "door_open": {"value": 0, "digital": True},
            "alarm_button": {"value": 0, "digital": True},
        },
    }


def _door_stuck() -> "Scenario":
    # Doors at floor 0, a trip up 3 floors, then the door opens on arrival
    # and will not close for 10 minutes (obstructed sill).
    v, a, c, end = trip(20000, 3)
    opened = end + 1000
    closed = opened + 600000
    doors = cat([[0, 0]], door(10000), door(opened, closed - opened))
    return {
        "name": "elevator.door_stuck",
        "kit": "elevator",
        "doc": "After a trip the door opens and does not close for 10 minutes.",
        "duration_ms": 900000,
        "seed": 12,
        "params": {"floor_mm": FLOOR_MM},
        "expect": {"door_open_at_ms": opened, "door_close_at_ms": closed, "floor": 3},
        "signals": {
            "velocity_mm_s": {"points": cat([[0, 0]], v)},
            "accel_x": {"value": 0, "noise": 4},
            "accel_y": {"value": 0, "noise": 4},
            "accel_z": {"points": cat([[0, 1000]], a), "noise": 4},
            "motor_current_ma": {"points": cat([[0, IDLE_MA]], c), "noise": 100, "min": 0},
            "door_open": {"points": doors, "digital": True},
            "alarm_button": {"value": 0, "digital": True},
        },
    }


def _entrapment() -> "Scenario":
    # A trip up from floor 0 ends in an emergency stop at 4500 mm (between
    # floors 1 and 2): cruise until 24875 ms, then the safety circuit opens,
    # the motor current drops to 0 and the brake stops the car at
    # 2000 mm/s^2 (204 mg) in 500 ms. The door stays closed; the passenger
    # presses the alarm button. At 40 min a technician winds the car down to
    # floor 1 (100 mm/s) and releases the door at 40.5 min.
    t0 = 20000
    t1 = t0 + RAMP_MS
    t2 = 24875
    stop = t2 + 500
    up = 1000 + ACCEL_MG
    rescue = 2400000
    vel = [
        [0, 0],
        [t0, 0],
        [t1, 1000],
        [t2, 1000],
        [stop, 0],
        [rescue, 0],
        [rescue + 1000, -100],
        [rescue + 15000, -100],
        [rescue + 16000, 0],
    ]
    acc = [
        [0, 1000],
        [t0, 1000],
        [t0, up],
        [t1, up],
        [t1, 1000],
        [t2, 1000],
        [t2, 796],
        [stop, 796],
        [stop, 1000],
        [rescue, 1000],
        [rescue, 990],
        [rescue + 1000, 990],
        [rescue + 1000, 1000],
        [rescue + 15000, 1000],
        [rescue + 15000, 1010],
        [rescue + 16000, 1010],
        [rescue + 16000, 1000],
    ]
    cur = [
        [0, IDLE_MA],
        [t0, IDLE_MA],
        [t0 + 200, ACCEL_MA],
        [t1, ACCEL_MA],
        [t1 + 300, CRUISE_MA],
        [t2, CRUISE_MA],
        [t2, 0],
    ]
    presses = [[60000, 2000], [90000, 3000], [150000, 5000]]
    t = 270000
    while t < rescue:
        presses.append([t, 2000])
        t += 120000
    alarm = [[0, 0]]
    for at, length in presses:
        alarm += [[at, 0], [at, 1], [at + length, 1], [at + length, 0]]
    released = rescue + 30000
    doors = cat([[0, 0]], door(10000), door(released, 120000))
    return {
        "name": "elevator.entrapment",
        "kit": "elevator",
        "doc": "Emergency stop between floors 1 and 2 with a passenger inside.",
        "duration_ms": 2700000,
        "seed": 13,
        "params": {"floor_mm": FLOOR_MM},
        "expect": {
            "stop_ms": stop,
            "stop_position_mm": 4500,
            "first_alarm_ms": presses[0][0],
            "alarm_presses": len(presses),
            "rescue_ms": rescue,
            "door_released_ms": released,
            "final_position_mm": 3000,
        },
        "signals": {
            "velocity_mm_s": {"points": vel},
            "accel_x": {"value": 0, "noise": 4},
            "accel_y": {"value": 0, "noise": 4},
            "accel_z": {
                "points": acc,
                "noise": 4,
                "waves": [
                    {"start": t2, "end": stop + 300, "period_ms": 50, "amp": 300, "decay": True}
                ],
            },
            "motor_current_ma": {"points": cur, "noise": 100, "min": 0},
            "door_open": {"points": doors, "digital": True},
            "alarm_button": {"points": alarm, "digital": True},
        },
    }


def _normal_trips() -> "Scenario":
    return _trips(
        "elevator.trips",
        "Normal service: every 10 minutes doors, a trip up 3 floors, doors, and back.",
        6,
        5,
        83,
    )


def _rough_ride() -> "Scenario":
    return _trips(
        "elevator.rough_ride",
        "The trips of elevator.trips with worn guide rollers: 150 mg lateral vibration at 8 Hz.",
        150,
        60,
        125,
    )


# Builders: a scenario is built when asked for (saves heap on a node).
SCENARIOS = {
    "elevator.idle": _idle,
    "elevator.trips": _normal_trips,
    "elevator.rough_ride": _rough_ride,
    "elevator.door_stuck": _door_stuck,
    "elevator.entrapment": _entrapment,
}
