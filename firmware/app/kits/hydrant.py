# Fire hydrant kit (battery): 4-20 mA pressure transducer through a shunt
# into the ADS1115, valve/tamper reed, ADXL345 (impact, tilt), DS18B20.
#
# A sample (the node wakes for it; every wake is a boot on ESP32):
# 1. accelerometer window first, closest to the wake: impact (largest
#    deviation from the install baseline >= impact_mg), then tilt from the
#    baseline (>= tilt_cdeg; after an impact from a second window taken
#    IMPACT_SETTLE_MS later, when the shock has died down);
# 2. DS18B20 conversion started (it runs while the pressure is sampled);
# 3. valve reed: active with no opening episode -> classify the opening;
#    inactive with an episode -> the episode ends;
# 4. loop power on, warm-up (board fact loop_power.warmup_ms), a pressure
#    burst (detect/burst.py) of burst_ms: its mean is the pressure reading,
#    its high-passed swing the water-hammer detector; loop power off;
# 5. temperature read: freezing;
# 6. readings: tilt (0.01 deg) and valve_open when measured, then pressure
#    (Pa), temp (0.01 C), battery (mV).
#
# Wakes between samples: the valve reed changing (opened: classify the
# opening as in 3.; shut: the opening episode ends at once), and the
# ADXL345's activity watch (accel_wake_mg, 100 Hz low-power mode: a car
# hitting the hydrant): its FIFO holds the samples around the event, whose
# largest deviation from the baseline is the impact's peak; then tilt as in 1.
#
# Alarms (severity) and when they end:
#   illegal_opening (critical): the reed went active and within
#       open_confirm_ms the pressure fell by open_drop_pa or more below the
#       static pressure (water flows); ends when the reed is inactive again
#   tamper (warning): the reed went active without that drop (bonnet
#       tampered with, or a pressure part that cannot tell); ends likewise;
#       a later sample that sees the drop raises illegal_opening as well
#   pressure_low (warning): burst mean < pressure_low_pa, not while the
#       valve is open or in the sample that saw it shut; ends at
#       pressure_low_pa + LOW_HYST_PA
#   water_hammer (warning): a burst triggered and its high-passed swing is
#       >= hammer_pa; records pressure_min/max (raw, over the captured ring
#       with its pre-trigger samples), pressure_swing, pressure (static);
#       re-arms after a burst with no trigger and a swing < hammer_pa / 2
#   freezing (warning): temp <= freeze_ccel; ends at freeze_ccel +
#       FREEZE_HYST_CCEL
#   impact (critical): momentary, re-arms after a window whose peak is below
#       impact_mg / 2
#   tilt (warning): ends below 4/5 of tilt_cdeg

from firmware.app import clock
from firmware.app.compat import const, sleep_ms
from firmware.app.detect.burst import Burst
from firmware.app.detect.tilt import mg_to_mm_s2
from firmware.app.kits.analog import Analog
from firmware.app.kits.base import intval
from firmware.app.kits.battery import BatteryKit
from firmware.wire.protocol import SEVERITY_CRITICAL, SEVERITY_WARNING
from firmware.wire.senml import QUANTITIES

LOOP_MIN_UA = const(3600)  # NAMUR NE 43: below 3.6 mA the loop is broken
LOOP_MAX_UA = const(21000)  # above 21 mA the transducer signals a fault
BURST_LEAD = const(96)  # samples that prime the burst's high-pass filter (3 time constants)
OPEN_BURST_MS = const(250)
LOW_HYST_PA = const(20000)
FREEZE_HYST_CCEL = const(100)
IMPACT_SETTLE_MS = const(500)

# Names of the burst summary; plain "pressure" until senml.QUANTITIES has them.
P_MIN = "pressure_min" if "pressure_min" in QUANTITIES else "pressure"
P_MAX = "pressure_max" if "pressure_max" in QUANTITIES else "pressure"
P_SWING = "pressure_swing" if "pressure_swing" in QUANTITIES else "pressure"


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


class Hydrant(BatteryKit):
    KIT = "hydrant"
    WATCH_HZ = 100  # an impact's shock lasts a few hundred ms (50 Hz bandwidth)
    KINDS = (
        "illegal_opening",
        "tamper",
        "pressure_low",
        "water_hammer",
        "freezing",
        "impact",
        "tilt",
    )

    def __init__(self, hw, thresholds, recorder, health):
        BatteryKit.__init__(self, hw, thresholds, recorder, health)
        self.adc = Analog(self, "pressure")
        facts = self.facts("adc")
        self.shunt = facts.get("shunt_ohm", 150)
        loop = facts.get("loop_ua", [4000, 20000])
        self.zero_uv = loop[0] * self.shunt
        span_uv = (loop[1] - loop[0]) * self.shunt
        range_pa = facts.get("range_kpa", 1600) * 1000
        g = _gcd(range_pa, span_uv)
        self.num = range_pa // g
        self.den = span_uv // g
        self.warmup_ms = self.facts("loop_power").get("warmup_ms", 100)
        self.burst = Burst()
        self.pref = -1  # static pressure (valve shut, no transient), Pa
        self.pressure = -1
        self.just_shut = False  # this wake saw the valve shut

    def start(self):
        BatteryKit.start(self)
        self.adc.start()

    # --- pressure ------------------------------------------------------------------

    # Samples a burst with the loop powered by the caller; False on a fault.
    def _burst(self, ms, lead):
        b = self.burst
        b.begin(lead)
        trigger = self.th("hammer_pa") // 2
        t0 = clock.ticks_ms()
        while True:
            uv = self.adc.read_uv()
            if uv is None:
                return False
            ua = uv // self.shunt
            if ua < LOOP_MIN_UA or ua > LOOP_MAX_UA:
                self.fault("ads1115", "loop current out of range (open loop or transducer fault)")
                return False
            if b.add((uv - self.zero_uv) * self.num // self.den, trigger):
                return True
            if clock.ticks_diff(clock.ticks_ms(), t0) >= ms:
                return True

    def _hammer(self):
        b = self.burst
        hammer = self.th("hammer_pa")
        if b.triggered() and b.swing() >= hammer:
            low, high = b.extremes()
            static = self.pref if self.pref >= 0 else b.mean()
            self.alarm(
                "water_hammer",
                SEVERITY_WARNING,
                [(P_MIN, low), (P_MAX, high), (P_SWING, b.swing()), ("pressure", static)],
            )
        elif not b.triggered() and b.swing() < hammer // 2:
            self.episodes.rearm("water_hammer")

    # The periodic burst: its mean in Pa, or -1.
    def _pressure(self):
        self.output("sensor_power", True)
        sleep_ms(self.warmup_ms)
        ok = self._burst(self.th("burst_ms"), BURST_LEAD)
        if ok:
            self.adc.check_zero()
        self.output("sensor_power", False)
        if not ok or not self.adc.good():
            return -1
        self._hammer()
        return self.burst.mean()

    # The reed went active: water flowing (a pressure drop) or tampering.
    def _opened(self):
        need = self.th("open_drop_pa")
        ref = self.pref
        mean = -1
        dropped = False
        self.output("sensor_power", True)
        sleep_ms(self.warmup_ms)
        t0 = clock.ticks_ms()
        while clock.ticks_diff(clock.ticks_ms(), t0) < self.th("open_confirm_ms"):
            if not self._burst(OPEN_BURST_MS, 0):
                mean = -1
                break
            mean = self.burst.mean()
            if ref < 0:
                ref = mean
            elif ref - mean >= need:
                dropped = True
                break
        self.output("sensor_power", False)
        if mean >= 0 and not self.adc.good():
            mean = -1
            dropped = False
        if dropped:
            records = [("valve_open", True), ("pressure", mean)]
            self.alarm("illegal_opening", SEVERITY_CRITICAL, records)
        else:
            records = [("valve_open", True)]
            if mean >= 0:
                records.append(("pressure", mean))
            self.alarm("tamper", SEVERITY_WARNING, records)

    # --- accelerometer -----------------------------------------------------------

    def _impact_and_tilt(self):
        impact = self.th("impact_mg")
        if self.peak_mg >= impact:
            self.alarm("impact", SEVERITY_CRITICAL, [("accel_peak", mg_to_mm_s2(self.peak_mg))])
            sleep_ms(IMPACT_SETTLE_MS)
            if not self.accel_window():
                return
        elif self.peak_mg < impact // 2:
            self.episodes.rearm("impact")
        limit = self.th("tilt_cdeg")
        if self.tilt >= limit:
            self.alarm("tilt", SEVERITY_WARNING, [("tilt", self.tilt)])
        elif self.tilt < limit * 4 // 5:
            self.episodes.clear("tilt")

    # --- the kit API ----------------------------------------------------------------

    def _opening(self):
        return self.episodes.on("illegal_opening") or self.episodes.on("tamper")

    def on_wake(self, signal):
        ep = self.episodes
        ep.retry()
        role = self.role(signal)
        valve = self.asserted("reed")
        if role == "reed":
            if valve == 1 and not self._opening():
                self._opened()
            elif valve == 0 and self._opening():
                ep.clear("illegal_opening")
                ep.clear("tamper")
                self.just_shut = True
        elif role == "accel_int":
            self.accel_wakes += 1
            if self.accel_window():
                self.peak_mg = max(self.peak_mg, self.shock_mg())
                self._impact_and_tilt()

    def sample(self):
        ep = self.episodes
        rec = self.recorder
        ep.retry()
        self.accel_wakes = 0
        if self.accel_window(True):
            self._impact_and_tilt()
            if self.tilt >= 0:
                rec.reading("tilt", self.tilt)
        self.temp_convert()
        valve = self.asserted("reed")
        if valve >= 0:
            rec.flag("valve_open", valve == 1)
        just_shut = self.just_shut
        if valve == 1 and not self._opening():
            self._opened()
        elif valve == 0 and self._opening():
            ep.clear("illegal_opening")
            ep.clear("tamper")
            just_shut = True
        p = self._pressure()
        self.pressure = p
        if p >= 0:
            low = self.th("pressure_low_pa")
            if valve == 1:
                if ep.on("tamper") and self.pref >= 0 and self.pref - p >= self.th("open_drop_pa"):
                    records = [("valve_open", True), ("pressure", p)]
                    self.alarm("illegal_opening", SEVERITY_CRITICAL, records)
            elif not just_shut:
                if p < low:
                    self.alarm("pressure_low", SEVERITY_WARNING, [("pressure", p)])
                elif p >= low + LOW_HYST_PA:
                    ep.clear("pressure_low")
                if not self.burst.triggered():
                    self.pref = p
        t = self.temp_read()
        if t is not None:
            freeze = self.th("freeze_ccel")
            if t <= freeze:
                self.alarm("freezing", SEVERITY_WARNING, [("temp", t)])
            elif t >= freeze + FREEZE_HYST_CCEL:
                ep.clear("freezing")
        mv = self.battery_mv()
        if p >= 0:
            rec.reading("pressure", p)
        if t is not None:
            rec.reading("temp", t)
        if mv >= 0:
            rec.reading("battery", mv)

    def save(self, d):
        BatteryKit.save(self, d)
        d["pref"] = self.pref
        d["zn"] = self.adc.noise.get()

    def load(self, d):
        BatteryKit.load(self, d)
        self.pref = intval(d, "pref", -1)
        self.adc.noise.set(d.get("zn"))
        if self.adc.noise.faulty:
            self.suspect("ads1115", "noisy (zero reference off by more than 1 mV)")
