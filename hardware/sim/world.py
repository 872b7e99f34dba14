# The physical world the simulated chips measure: a scenario (plain data,
# see hardware/scenarios/) evaluated at simulated time t (milliseconds).
#
# A scenario is a dict:
#   {"name": "manhole.rainstorm", "kit": "manhole", "doc": "...",
#    "duration_ms": ..., "seed": 1, "params": {...}, "expect": {...},
#    "signals": {NAME: SPEC, ...}}
# A SPEC describes one quantity over time, in integers:
#   {"value": v}                          constant
#   {"points": [[t, v], ...]}             piecewise linear from t = 0; two
#                                         points at the same t make a step;
#                                         before the first / after the last
#                                         point the end values hold
#   {"segments": [{"start": t0, "points": [...], "repeat_ms": P}, ...]}
#                                         each segment runs from its start to
#                                         the next one's; point times are
#                                         relative to the start; with
#                                         repeat_ms they repeat modulo P
#   optional on any of them:
#   "digital": True                       a 0/1 input: steps, no interpolation
#   "waves": [{"start", "end", "period_ms", "amp", "decay": bool,
#              "phase": 0..255, "scale_by": NAME, "scale_full": v}]
#                                         sine components (256-step integer
#                                         table); decay shrinks the amplitude
#                                         linearly to 0 at end; scale_by
#                                         multiplies it by |NAME(t)|/scale_full
#                                         (at most 1), e.g. vibration that
#                                         grows with speed
#   "noise": a                            uniform in [-a, a], a hash of
#                                         (seed, signal, t): the same value
#                                         whoever asks, in any order
#   "min": lo, "max": hi                  clamps
#
# Signal names and units (what the simulators ask for):
#   accel_x, accel_y, accel_z    mg (z reads +1000 at rest, upright)
#   velocity_mm_s                elevator car speed, + up
#   motor_current_ma             elevator hoist motor current
#   door_open, alarm_button, valve_open, cover_open   digital, 1 = open/pressed
#   pressure_kpa                 hydrant gauge pressure
#   flow_lpm                     hydrant flow (information, no sensor)
#   temperature_mc               milli-degC at DS18B20 probe 0
#                                (temperature_mc_1 ... for further probes)
#   water_level_mm               manhole water depth above the invert
#   distance_mm                  what the ultrasonic sensor sees; default
#                                params.sensor_height_mm - water_level_mm
#   h2s_ppb                      hydrogen sulphide
#   battery_mv                   cell voltage

from hardware.sim import frontend
from hardware.sim.xorshift import mix

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULTS = {
    "accel_x": 0,
    "accel_y": 0,
    "accel_z": 1000,
    "temperature_mc": 20000,
    "battery_mv": 3600,
}

SIN_QUARTER = (
    0, 804, 1608, 2410, 3212, 4011, 4808, 5602, 6393, 7179, 7962, 8739, 9512,
    10278, 11039, 11793, 12539, 13279, 14010, 14732, 15446, 16151, 16846, 17530,
    18204, 18868, 19519, 20159, 20787, 21403, 22005, 22594, 23170, 23731, 24279,
    24811, 25329, 25832, 26319, 26790, 27245, 27683, 28105, 28510, 28898, 29268,
    29621, 29956, 30273, 30571, 30852, 31113, 31356, 31580, 31785, 31971, 32137,
    32285, 32412, 32521, 32609, 32678, 32728, 32757, 32767,
)  # fmt: skip

FOREVER = 1 << 60


def sin256(phase: int) -> int:
    # sin(2*pi*phase/256) * 32767, for any integer phase.
    p = phase & 255
    i = p & 63
    q = p >> 6
    if q == 0:
        return SIN_QUARTER[i]
    if q == 1:
        return SIN_QUARTER[64 - i]
    if q == 2:
        return -SIN_QUARTER[i]
    return -SIN_QUARTER[64 - i]


def _index(points: "list[list[int]]", t: int) -> int:
    # Index of the last point with time <= t (0 if none).
    lo = 0
    hi = len(points) - 1
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if points[mid][0] <= t:
            lo = mid
        else:
            hi = mid - 1
    return lo


def pwl(points: "list[list[int]]", t: int, digital: bool = False) -> int:
    if t < points[0][0]:
        return points[0][1]
    i = _index(points, t)
    t0, v0 = points[i][0], points[i][1]
    if digital or i + 1 >= len(points):
        return v0
    t1, v1 = points[i + 1][0], points[i + 1][1]
    if t1 <= t0:
        return v0
    return v0 + (v1 - v0) * (t - t0) // (t1 - t0)


def pwl_integral(points: "list[list[int]]", t: int) -> int:
    # Integral of the piecewise-linear curve from 0 to t, in value*ms,
    # rounded down (the end values hold outside the points).
    if t <= 0:
        return 0
    total2 = 0  # twice the area, exact
    prev_t = 0
    prev_v = pwl(points, 0)
    for p in points:
        pt, pv = p[0], p[1]
        if pt <= prev_t:
            if pt == prev_t:
                prev_v = pv  # a step at prev_t: the later point holds
            continue
        if pt >= t:
            # the part of this ramp up to t: 2*v0*d + (v1 - v0)*d*d/span
            d = t - prev_t
            span = pt - prev_t
            return (total2 * span + 2 * prev_v * d * span + (pv - prev_v) * d * d) // (2 * span)
        total2 += (prev_v + pv) * (pt - prev_t)
        prev_t = pt
        prev_v = pv
    total2 += 2 * prev_v * (t - prev_t)
    return total2 // 2


class Signal:
    def __init__(self, name: str, spec: "dict[str, Any]", index: int, seed: int) -> None:
        self.name = name
        self.digital = bool(spec.get("digital", False))
        self.noise = spec.get("noise", 0)
        self.lo = spec.get("min")
        self.hi = spec.get("max")
        self.key = seed * 131 + index
        if "segments" in spec:
            segs = spec["segments"]
        elif "points" in spec:
            segs = [{"start": 0, "points": spec["points"]}]
        else:
            segs = [{"start": 0, "points": [[0, spec.get("value", 0)]]}]
        self.segments: list[tuple[int, list[list[int]], int]] = [
            (s["start"], s["points"], s.get("repeat_ms", 0)) for s in segs
        ]
        self.waves: list[tuple[int, int, int, int, bool, int, str | None, int]] = []
        for w in spec.get("waves", ()):
            self.waves.append(
                (
                    w.get("start", 0),
                    w.get("end", FOREVER),
                    w["period_ms"],
                    w["amp"],
                    bool(w.get("decay", False)),
                    w.get("phase", 0),
                    w.get("scale_by"),
                    w.get("scale_full", 1),
                )
            )

    def segment(self, t: int) -> int:
        segs = self.segments
        i = 0
        for k in range(1, len(segs)):
            if segs[k][0] <= t:
                i = k
            else:
                break
        return i

    def base(self, t: int) -> int:
        start, points, rep = self.segments[self.segment(t)]
        rel = t - start
        if rep and rel >= 0:
            rel %= rep
        return pwl(points, rel, self.digital)

    def integral(self, t: int) -> int:
        # Integral of the base curve from 0 to t (value*ms, rounded down).
        total = 0
        segs = self.segments
        first = segs[0]
        if t <= first[0]:
            return pwl(first[1], 0) * max(t, 0)
        total += pwl(first[1], 0) * max(first[0], 0)
        for k in range(len(segs)):
            start, points, rep = segs[k]
            end = segs[k + 1][0] if k + 1 < len(segs) else FOREVER
            if t <= start:
                break
            length = min(t, end) - start
            if rep:
                total += (length // rep) * pwl_integral(points, rep)
                total += pwl_integral(points, length % rep)
            else:
                total += pwl_integral(points, length)
        return total

    def next_breakpoint(self, t: int) -> int | None:
        # The first time after t at which the base curve may change slope or
        # step (a point, a repeat boundary or a segment start).
        segs = self.segments
        k = self.segment(t)
        start, points, rep = segs[k]
        nxt = segs[k + 1][0] if k + 1 < len(segs) else None
        if t < start:
            return start + points[0][0] if start + points[0][0] > t else start
        rel = t - start
        base = 0
        if rep:
            base = rel - rel % rep
            rel -= base
        cand = None
        for p in points:
            if p[0] > rel:
                cand = start + base + p[0]
                break
        if cand is None and rep:
            cand = start + base + rep
        if nxt is not None and (cand is None or nxt < cand):
            cand = nxt
        return cand

    def span(self, t: int) -> tuple[int, int, int]:
        # (end, lo, hi): on [t, end) the value stays within [lo, hi]. The base
        # is linear up to its next breakpoint; a wave adds at most its
        # amplitude and the noise at most its bound. Lets a detector skip
        # stretches in which nothing can cross its threshold.
        end = FOREVER
        swing = 0
        for w in self.waves:
            start, stop = w[0], w[1]
            if start <= t < stop:
                swing += abs(w[3])
                end = min(end, stop)
            elif t < start < end:
                end = start
        nb = self.next_breakpoint(t)
        if nb is not None and nb < end:
            end = nb
        a = self.base(t)
        b = a if end >= FOREVER else self.base(end - 1)
        lo = min(a, b) - swing - self.noise
        hi = max(a, b) + swing + self.noise
        if self.lo is not None:
            lo = max(lo, self.lo)
            hi = max(hi, self.lo)
        if self.hi is not None:
            lo = min(lo, self.hi)
            hi = min(hi, self.hi)
        return end, lo, hi


class World:
    def __init__(self, scenario: "dict[str, Any] | str", seed: int | None = None) -> None:
        if isinstance(scenario, str):
            from hardware.scenarios import get  # noqa: PLC0415 (loaded on demand)

            scenario = get(scenario)
        self.scenario = scenario
        self.name = scenario.get("name", "")
        self.kit = scenario.get("kit", "")
        self.duration_ms = scenario.get("duration_ms", 0)
        self.params = scenario.get("params", {})
        self.expect = scenario.get("expect", {})
        self.seed = scenario.get("seed", 1) if seed is None else seed
        self.signals: dict[str, Signal] = {}
        # analog channels whose sensor's supply is switched off: they read 0 V
        # (the board's load switch; see hardware/sim/attach.py)
        self.unpowered: set[str] = set()
        names = sorted(scenario.get("signals", {}))
        for i in range(len(names)):
            n = names[i]
            self.signals[n] = Signal(n, scenario["signals"][n], i, self.seed)

    # --- generic access ------------------------------------------------------

    def has(self, name: str) -> bool:
        return name in self.signals

    def base(self, name: str, t_ms: int) -> int:
        s = self.signals.get(name)
        if s is None:
            return DEFAULTS.get(name, 0)
        return s.base(t_ms)

    def value(self, name: str, t_ms: int) -> int:
        s = self.signals.get(name)
        if s is None:
            return DEFAULTS.get(name, 0)
        v = s.base(t_ms)
        if s.digital:
            return 1 if v else 0
        for start, end, period, amp, decay, phase, scale_by, full in s.waves:
            if t_ms < start or t_ms >= end:
                continue
            a = amp
            if decay:
                a = a * (end - t_ms) // (end - start)
            if scale_by is not None:
                m = abs(self.base(scale_by, t_ms))
                a = a * min(m, full) // full
            if a:
                v += a * sin256((t_ms - start) * 256 // period + phase) // 32767
        if s.noise:
            v += mix(s.key, t_ms) % (2 * s.noise + 1) - s.noise
        if s.lo is not None and v < s.lo:
            v = s.lo
        if s.hi is not None and v > s.hi:
            v = s.hi
        return v

    def integral(self, name: str, t_ms: int) -> int:
        # Integral of a signal's base curve (no waves, no noise) from 0 to
        # t_ms, in value*ms: e.g. integral("velocity_mm_s", t) // 1000 = mm.
        s = self.signals.get(name)
        if s is None:
            return DEFAULTS.get(name, 0) * t_ms
        return s.integral(t_ms)

    def span(self, name: str, t_ms: int) -> tuple[int, int, int]:
        # (end, lo, hi): the signal stays within [lo, hi] on [t_ms, end).
        s = self.signals.get(name)
        if s is None:
            d = DEFAULTS.get(name, 0)
            return FOREVER, d, d
        return s.span(t_ms)

    def digital(self, name: str, t_ms: int) -> int:
        return 1 if self.value(name, t_ms) else 0

    def next_edge(self, name: str, t_ms: int, limit: int = 4096) -> tuple[int, int] | None:
        # (t, level) of the first change of a digital signal after t_ms, or
        # None when it never changes again (searched over `limit` points).
        s = self.signals.get(name)
        if s is None:
            return None
        v0 = self.digital(name, t_ms)
        t = t_ms
        for _ in range(limit):
            nt = s.next_breakpoint(t)
            if nt is None:
                return None
            t = nt
            v = self.digital(name, t)
            if v != v0:
                return (t, v)
        return None

    def edges(self, name: str, t0: int, t1: int) -> list[tuple[int, int]]:
        # Every change of a digital signal in (t0, t1], as (t, level).
        out: list[tuple[int, int]] = []
        t = t0
        while True:
            e = self.next_edge(name, t)
            if e is None or e[0] > t1:
                return out
            out.append(e)
            t = e[0]

    # --- what the simulators ask for --------------------------------------------

    def accel(self, t_ms: int) -> tuple[int, int, int]:
        return (
            self.value("accel_x", t_ms),
            self.value("accel_y", t_ms),
            self.value("accel_z", t_ms),
        )

    def temperature(self, t_ms: int, probe: int = 0) -> int:
        if probe:
            name = "temperature_mc_%d" % probe
            if name in self.signals:
                return self.value(name, t_ms)
        return self.value("temperature_mc", t_ms)

    def distance_mm(self, t_ms: int) -> int:
        if "distance_mm" in self.signals:
            return self.value("distance_mm", t_ms)
        height: int = self.params.get("sensor_height_mm", 3000)
        return height - self.value("water_level_mm", t_ms)

    def h2s_ppb(self, t_ms: int) -> int:
        return self.value("h2s_ppb", t_ms)

    def pressure_kpa(self, t_ms: int) -> int:
        return self.value("pressure_kpa", t_ms)

    def motor_current_ma(self, t_ms: int) -> int:
        return self.value("motor_current_ma", t_ms)

    def battery_mv(self, t_ms: int) -> int:
        return self.value("battery_mv", t_ms)

    def voltage(self, channel: str, t_ms: int) -> int:
        # Microvolts at the ADC input wired to `channel` (see frontend.py).
        if channel in self.unpowered:
            return 0
        if channel == "pressure":
            return frontend.pressure_uv(self.pressure_kpa(t_ms))
        if channel == "motor_current":
            return frontend.motor_current_uv(self.motor_current_ma(t_ms))
        if channel == "battery":
            return frontend.battery_uv(self.battery_mv(t_ms))
        raise ValueError("unknown analog channel %r" % channel)
