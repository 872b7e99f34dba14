# Sewer manhole kit (battery): ADXL345 on the cover (tilt), frame reed
# (cover displaced), A02YYUW ultrasonic level looking down the shaft, ZE03
# H2S module, DS18B20 (shaft air). The A02YYUW and the ZE03 each have a load
# switch ("level_power", "gas_power"); on the ESP32-C3 they share one UART,
# which hw["uart_select"](name) points at one sensor at a time.
#
# A sample:
# 1. gas (every gas_every-th sample): the module's switch on, held through
#    deep sleep where the port can (self.held), so that its warm-up
#    (gas_warmup_ms) runs while the rest is measured and while the node
#    sleeps; warming() tells the app when resume() can read it;
# 2. accelerometer window: tilt from the install baseline (cover_tilt);
# 3. frame reed: cover_open;
# 4. DS18B20 conversion started;
# 5. level: the sensor's switch on, LEVEL_WINDOW_MS of frames after its
#    start-up, switch off; the latest good distance gives level =
#    sensor_height_mm - distance;
# 6. temperature read;
# 7. readings, each recorded when it is measured: tilt (0.01 deg),
#    cover_open, level (mm; none while the cover is displaced), temp
#    (0.01 C), battery (mV); then, at resume() after the warm-up, h2s
#    (0.01 ppm) in question/answer mode and the gas module's switch off.
# Wakes between samples: the frame reed changing, and the ADXL345's
# activity watch (accel_wake_mg, 12.5 Hz low-power mode: the cover moved).
#
# Alarms (severity) and when they end:
#   cover_open (critical): reed active; ends when it is inactive again
#   cover_tilt (warning): tilt >= tilt_cdeg; ends below 4/5 of it
#   overflow (critical): level >= level_high_mm; ends below level_high_mm -
#       LEVEL_HYST_MM. Not judged while the cover is open or tilted (the
#       sensor no longer looks at the water). Water at the sensor (inside its
#       blind zone: only zero/out-of-range frames right after a distance of
#       BLIND_HINT_MM or less) keeps the episode and records no level.
#   h2s (critical): h2s_alarm_ppb or more; ends below 4/5 of it. A reading
#       at the module's full scale is a fault (saturated), not an alarm; an
#       h2s episode already open stays open.
# Line noise (bytes outside frames, checksum errors) on the UARTs is a soft
# fault: frames that pass their checksum are still read, but the part raises
# no alarm while the fault holds.

from firmware.app import clock
from firmware.app.compat import const, sleep_ms
from firmware.app.detect.checks import Score
from firmware.app.drivers.a02yyuw import A02YYUW
from firmware.app.drivers.fault import SensorFault
from firmware.app.drivers.ze03 import ZE03
from firmware.app.kits.base import intval
from firmware.app.kits.battery import BatteryKit
from firmware.wire.protocol import SEVERITY_CRITICAL, SEVERITY_WARNING

LEVEL_WINDOW_MS = const(500)
LEVEL_HYST_MM = const(100)
BLIND_HINT_MM = const(300)
LEVEL_PART = "a02yyuw"
GAS_PART = "ze03"
_BLIND = const(-2)


class Manhole(BatteryKit):
    KIT = "manhole"
    KINDS = ("cover_open", "cover_tilt", "overflow", "h2s")

    def __init__(self, hw, thresholds, recorder, health):
        BatteryKit.__init__(self, hw, thresholds, recorder, health)
        self.lvl = None
        self.gas = None
        self.gas_ready = None  # ticks at which the gas module is warm; None: off
        self.last_mm = -1  # latest good distance (kept across sleep)
        self.gas_n = 0
        self.level_noise = Score()
        self.gas_noise = Score()
        facts = self.facts("level")
        self.startup_ms = facts.get("startup_ms", 300)
        gf = self.facts("gas")
        self.gas_res = gf.get("resolution_ppb", 100)
        self.gas_full = gf.get("full_range", 1000) * self.gas_res

    def start(self):
        BatteryKit.start(self)

    def _uart(self, name):
        select = self.hw.get("uart_select")
        if select is not None and name in (self.board.get("uart") or {}):
            return select(name)
        return (self.hw.get("uart") or {}).get(name)

    def _wait_until(self, at):
        left = clock.ticks_diff(at, clock.ticks_ms())
        if left > 0:
            sleep_ms(left)

    # --- level ---------------------------------------------------------------------

    # Distance in mm, _BLIND (water at the sensor) or -1 (fault), with the
    # sensor powered for just this reading.
    def _distance(self):
        self.output("level_power", True)
        try:
            return self._echo(clock.ticks_ms())
        finally:
            self.output("level_power", False)

    def _echo(self, powered_at):
        uart = self._uart("level")
        if uart is None:
            self.fault(LEVEL_PART, "no UART in the board file")
            return -1
        if self.lvl is None:
            self.lvl = A02YYUW(uart)
        d = self.lvl
        d.uart = uart
        try:
            d.poll()  # what came before the window is stale
            frames = d.frames
            bad = d.bad_checksums
            oor = d.out_of_range
            garbage = d.garbage
            d.distance_mm = -1
            self._wait_until(clock.ticks_add(powered_at, self.startup_ms + LEVEL_WINDOW_MS))
            mm = d.poll()
        except OSError as e:
            self.failed(LEVEL_PART, e)
            return -1
        self.measured(LEVEL_PART)
        frames = d.frames - frames
        bad = d.bad_checksums - bad
        oor = d.out_of_range - oor
        garbage = d.garbage - garbage
        if mm < 0:
            if oor and frames == oor and 0 <= self.last_mm <= BLIND_HINT_MM:
                self.fine(LEVEL_PART)
                return _BLIND
            if frames == 0 and bad == 0:
                self.fault(LEVEL_PART, "no frames (disconnected or unpowered)")
            elif frames == 0:
                self.fault(LEVEL_PART, "every frame fails its checksum")
            else:
                self.fault(LEVEL_PART, "no echo in range (out-of-range frames only)")
            return -1
        if LEVEL_PART in self.faults:
            del self.faults[LEVEL_PART]
        noisy = self.level_noise.update(garbage > 0 or bad > 0)
        self.suspect(LEVEL_PART, "line noise (bytes outside frames)" if noisy else None)
        self.last_mm = mm
        return mm

    # --- gas -------------------------------------------------------------------------

    # Switches the gas module on for its warm-up.
    def _gas_on(self):
        self.output("gas_power", True)
        self.held = self.hold("gas_power")
        self.gas_ready = clock.ticks_add(clock.ticks_ms(), self.th("gas_warmup_ms"))

    def warming(self):
        if self.gas_ready is None:
            return -1
        return max(0, clock.ticks_diff(self.gas_ready, clock.ticks_ms()))

    def warm(self, ms):
        self.held = True
        self.gas_ready = clock.ticks_add(clock.ticks_ms(), ms)

    # The warmed-up gas module: one reading, then its switch off.
    def resume(self):
        if self.gas_ready is None:
            return
        self._wait_until(self.gas_ready)
        self.gas_ready = None
        ppb = self._h2s()
        self.output("gas_power", False)
        self.held = False
        if ppb >= 0 and self.ok(GAS_PART):
            limit = self.th("h2s_alarm_ppb")
            if ppb >= limit:
                self.alarm("h2s", SEVERITY_CRITICAL, [("h2s", ppb // 10)])
            elif ppb < limit * 4 // 5:
                self.episodes.clear("h2s")
            self.recorder.reading("h2s", ppb // 10)

    # H2S in ppb, or -1.
    def _h2s(self):
        uart = self._uart("gas")
        if uart is None:
            self.fault(GAS_PART, "no UART in the board file")
            return -1
        if self.gas is None:
            self.gas = ZE03(uart, self.gas_res)
        z = self.gas
        z.uart = uart
        try:
            z.start()
            garbage = z.garbage
            ppb = z.read_ppb()
        except (SensorFault, OSError) as e:
            self.failed(GAS_PART, e)
            return -1
        self.measured(GAS_PART)
        if ppb >= self.gas_full:
            self.fault(GAS_PART, "saturated (reads full scale)")
            return -1
        if GAS_PART in self.faults:
            del self.faults[GAS_PART]
        noisy = self.gas_noise.update(z.garbage > garbage)
        self.suspect(GAS_PART, "line noise (bytes outside frames)" if noisy else None)
        return ppb

    # --- cover -------------------------------------------------------------------------

    def _tilt(self):
        limit = self.th("tilt_cdeg")
        if self.tilt >= limit:
            self.alarm("cover_tilt", SEVERITY_WARNING, [("tilt", self.tilt)])
        elif 0 <= self.tilt < limit * 4 // 5:
            self.episodes.clear("cover_tilt")

    def _cover(self, open_):
        if open_ == 1:
            self.alarm("cover_open", SEVERITY_CRITICAL, [("cover_open", True)])
        elif open_ == 0:
            self.episodes.clear("cover_open")

    # --- the kit API ---------------------------------------------------------------

    def on_wake(self, signal):
        self.episodes.retry()
        role = self.role(signal)
        if role == "accel_int":
            self.accel_wakes += 1
        if role == "reed":
            open_ = self.asserted("reed")
            self._cover(open_)
            if open_ == 1:
                # the cover is being lifted: judge the tilt once it has settled
                sleep_ms(self.th("cover_settle_ms"))
        if role in ("reed", "accel_int") and self.accel_window():
            self._tilt()

    # Each quantity is judged and recorded as soon as it is measured, so an
    # overflow goes out before the gas module's warm-up is over.
    def sample(self):
        ep = self.episodes
        rec = self.recorder
        ep.retry()
        self.accel_wakes = 0
        due = self.gas_n % max(1, self.th("gas_every")) == 0
        self.gas_n += 1
        if due and self.gas_ready is None:
            self._gas_on()
        if self.accel_window(True):
            self._tilt()
            rec.reading("tilt", self.tilt)
        open_ = self.asserted("reed")
        self._cover(open_)
        if open_ >= 0:
            rec.flag("cover_open", open_ == 1)
        self.temp_convert()
        mm = self._distance()
        # a displaced cover points the sensor at the shaft wall: no level
        if mm >= 0 and self.ok(LEVEL_PART) and open_ != 1 and not ep.on("cover_tilt"):
            level = self.th("sensor_height_mm") - mm
            high = self.th("level_high_mm")
            if level >= high:
                self.alarm("overflow", SEVERITY_CRITICAL, [("level", level), ("distance", mm)])
            elif level < high - LEVEL_HYST_MM:
                ep.clear("overflow")
            rec.reading("level", level)
        t = self.temp_read()
        mv = self.battery_mv()
        if t is not None:
            rec.reading("temp", t)
        if mv >= 0:
            rec.reading("battery", mv)

    def save(self, d):
        BatteryKit.save(self, d)
        d["mm"] = self.last_mm
        d["gn"] = self.gas_n
        d["ln"] = self.level_noise.get()
        d["zn"] = self.gas_noise.get()

    def load(self, d):
        BatteryKit.load(self, d)
        self.last_mm = intval(d, "mm", -1)
        self.gas_n = intval(d, "gn", 0)
        self.level_noise.set(d.get("ln"))
        self.gas_noise.set(d.get("zn"))
        if self.level_noise.faulty:
            self.suspect(LEVEL_PART, "line noise (bytes outside frames)")
        if self.gas_noise.faulty:
            self.suspect(GAS_PART, "line noise (bytes outside frames)")
