# Elevator kit (mains, always on): ADXL345 on the car roof, motor current
# through a current transducer into the ADS1115, door contact and car alarm
# button on interrupt pins.
#
# watch() runs forever. Every CHECK_MS while the car stands (the low-rate
# check): one motor-current conversion and one accelerometer sample (bypass
# mode). A trip starts when the current reaches trip_ma, or when two checks
# in a row see the vertical acceleration trip_mg or more off its rest value
# (so trips are seen with a failed current transducer too; not while the
# idle samples jump by more than accel_noise_mg: a noisy part). During a trip
# the accelerometer streams through its 32-sample FIFO at 100 Hz, drained
# every TRIP_MS into detect/accel.Vibration: the high-rate window exists only
# around trips. The trip ends after trip_end_ms of quiet (current below
# trip_ma, low-passed vertical acceleration within trip_mg of rest); without
# a usable current it also needs both acceleration phases (start and stop),
# or TRIP_QUIET_MAX_MS of quiet. At the end: trips + 1, readings accel_rms
# and accel_peak of the trip (mm/s^2), rough_ride check, emergency-stop check
# (low-passed vertical acceleration estop_mg or more off rest: a safety-gear
# or brake stop, not a normal deceleration).
#
# Door contact and alarm button: pin interrupts wake a task at once (an
# asyncio.ThreadSafeFlag on MicroPython; an asyncio.Event set through
# micropython.schedule where ThreadSafeFlag is missing; an asyncio.Event set
# directly under CPython); the low-rate check also reads their levels, and a
# button press shorter than a check is latched by the interrupt handler.
#
# Alarms (severity) and when they end:
#   door_fault (warning): the door open for door_open_s; ends when it closes
#   entrapment (critical): the alarm button pressed while the car stands with
#       the door closed, or a trip that ended in an emergency stop followed by
#       entrapment_s with the door closed (the car is taken to be between
#       floors: a normal stop opens the door); ends when the door opens
#   rough_ride (warning): a trip's vibration RMS >= rough_rms_mg; re-arms
#       after a trip below 4/5 of it
#   alarm_button (critical): a press; re-arms BUTTON_REARM_MS after the last
#       press, and never while an entrapment is open (the passenger pressing
#       again and again is one episode)
# sample() records: trips and door_cycles since the previous sample, motor
# current (mA), door_open; and judges the accelerometer's noise at rest.

import asyncio
from array import array

from firmware.app import clock
from firmware.app.compat import const, sleep_ms
from firmware.app.detect.accel import Vibration
from firmware.app.detect.checks import Score
from firmware.app.detect.tilt import mg_to_mm_s2
from firmware.app.drivers.adxl345 import ADXL345
from firmware.app.drivers.fault import SensorFault
from firmware.app.kits.analog import Analog
from firmware.app.kits.base import Kit, intval
from firmware.wire.protocol import SEVERITY_CRITICAL, SEVERITY_WARNING

try:
    from micropython import schedule as _schedule
except ImportError:
    _schedule = None  # type: ignore[assignment]

CHECK_MS = const(250)
TRIP_MS = const(200)
TRIP_QUIET_MAX_MS = const(20000)
MAX_TRIP_MS = const(180000)
BUTTON_REARM_MS = const(300000)
SAT_RUN = const(4)
ACCEL_START_RUN = const(2)
REST_SETTLE = const(32)  # idle samples before the rest vector is trusted
_RATE = const(100)
_RANGE = const(16)
ACC = "adxl345"
ADC = "ads1115"

if hasattr(asyncio, "sleep_ms"):
    _sleep_ms = asyncio.sleep_ms
else:

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)


class Elevator(Kit):
    KIT = "elevator"
    KINDS = ("door_fault", "entrapment", "rough_ride", "alarm_button")

    def __init__(self, hw, thresholds, recorder, health):
        Kit.__init__(self, hw, thresholds, recorder, health)
        self.acc = None
        self.fifo_mode = False
        self.adc = Analog(self, "motor_current")
        self.uv_per_ma = self.facts("adc").get("uv_per_ma", 50)
        self.fifo = array("h", [0] * 96)
        self.one = array("h", [0, 0, 0])
        self.rest = array("i", [0, 0, 0])  # rest vector x16 (moving average)
        self.rest_n = 0  # idle samples seen (the rest vector settles first)
        self.vib = Vibration()
        self.in_trip = False
        self.trip_t0 = 0
        self.quiet_since = -1
        self.trip_ma = -1  # largest current seen in the trip
        self.accel_started = False
        self.accel_run = 0
        self.sat_run = 0
        self.prev = array("h", [0, 0, 0])
        self.rough_sum = 0
        self.rough_n = 0
        self.rough16 = 0  # moving average of the idle roughness, x16
        self.acc_noise = Score()
        self.ma = -1
        self.trips = 0  # since the last reading
        self.cycles = 0
        self.trips_total = 0
        self.door = -1
        self.door_since = 0
        self.pressed = False
        self.latched = False
        self.last_press = 0
        self.presses = 0
        self.estop = False
        self.stop_ms = 0
        self.estop_mg = 0
        self.flag = None
        self.tsf = False
        self._button, self._button_active = self.input_pin("alarm_button")
        self._door, _ = self.input_pin("door")
        self._irq_ref = self._irq
        self._set_ref = self._set_event

    # --- parts -----------------------------------------------------------------

    def start(self):
        if self.start_accel(False):
            sleep_ms(1000 // _RATE + 2)  # the first sample
        self.adc.start()
        now = clock.ticks_ms()
        self.door = self.asserted("door")
        self.door_since = now

    def start_accel(self, fifo):
        i2c = self.hw.get("i2c")
        if i2c is None:
            self.fault(ACC, "no I2C bus in the board file")
            return False
        if self.acc is None:
            self.acc = ADXL345(i2c, self.part("accel").get("address", 0x53))
        try:
            self.acc.start(_RATE, _RANGE, fifo)
        except (SensorFault, OSError) as e:
            self.failed(ACC, e)
            self.acc = None
            return False
        self.fifo_mode = fifo
        if ACC in self.faults and self.sat_run < SAT_RUN:
            self.fine(ACC)
        return True

    def _acc_usable(self):
        return self.acc is not None and self.ok(ACC)

    # Motor current in mA, or -1 (no usable transducer).
    def _current(self):
        if self.adc.drv is None:
            return -1
        uv = self.adc.read_uv()
        if uv is None:
            return -1
        if ADC in self.faults:
            self.fine(ADC)
        return uv // self.uv_per_ma

    # One accelerometer sample in bypass mode into self.one; False on a fault.
    def _accel_sample(self):
        if self.acc is None:
            return False
        one = self.one
        try:
            self.acc.read_mg_at(one, 0)
        except (SensorFault, OSError) as e:
            self.failed(ACC, e)
            self.acc = None
            return False
        rail = self.acc.full_scale_mg() - 100
        if abs(one[0]) >= rail or abs(one[1]) >= rail or abs(one[2]) >= rail:
            self.sat_run += 1
            if self.sat_run >= SAT_RUN:
                self.fault(ACC, "saturated (samples at full scale)")
            return False
        if self.sat_run >= SAT_RUN:
            self.fine(ACC)
        self.sat_run = 0
        return True

    # --- the low-rate check and trips ---------------------------------------------

    def _check(self, now):
        ma = self._current()
        self.ma = ma
        if self.in_trip:
            self._trip_step(now, ma)
        else:
            self._idle_step(now, ma)

    def _idle_step(self, now, ma):
        start = ma >= 0 and self.ok(ADC) and ma >= self.th("trip_ma")
        if self._accel_sample():
            one = self.one
            rest = self.rest
            if self.rest_n == 0:
                for i in range(3):
                    rest[i] = one[i] << 4
                    self.prev[i] = one[i]
            p = self.prev
            rough = abs(one[0] - p[0]) + abs(one[1] - p[1]) + abs(one[2] - p[2])
            self.rough_sum += rough
            self.rough_n += 1
            self.rough16 += rough - (self.rough16 >> 4)
            for i in range(3):
                p[i] = one[i]
            dev = one[2] - (rest[2] >> 4)
            moving = dev >= self.th("trip_mg") or -dev >= self.th("trip_mg")
            # a noisy part starts no trip, even before its noise is a fault
            steady = (self.rough16 >> 4) <= self.th("accel_noise_mg")
            if moving and steady and self.ok(ACC) and self.rest_n >= REST_SETTLE:
                self.accel_run += 1
            else:
                self.accel_run = 0
                for i in range(3):
                    rest[i] += one[i] - (rest[i] >> 4)
                if self.rest_n < REST_SETTLE:
                    self.rest_n += 1
            if self.accel_run >= ACCEL_START_RUN and not start:
                start = True
                self.accel_started = True
        if start:
            self._begin_trip(now, ma)

    def _begin_trip(self, now, ma):
        self.in_trip = True
        self.trip_t0 = now
        self.quiet_since = -1
        self.trip_ma = ma
        self.accel_run = 0
        r = self.rest
        self.vib.begin(r[0] >> 4, r[1] >> 4, r[2] >> 4)
        if self._acc_usable():
            self.start_accel(True)

    def _trip_step(self, now, ma):
        trip_ma = self.th("trip_ma")
        trip_mg = self.th("trip_mg")
        self.trip_ma = max(self.trip_ma, ma)
        use_ma = ma >= 0 and self.ok(ADC) and not (self.accel_started and self.trip_ma < trip_ma)
        if self.acc is not None and self.fifo_mode:
            try:
                # at most 4 FIFOs per step: a part that always reports a full
                # FIFO must not hold the loop
                for _ in range(4):
                    n = self.acc.read_fifo(self.fifo)
                    self.vib.feed(self.fifo, n)
                    if n < 32:
                        break
            except (SensorFault, OSError) as e:
                self.failed(ACC, e)
                self.acc = None
                self.fifo_mode = False
        zdev = self.vib.zdev if self.vib.n else 0
        quiet = (not use_ma or ma < trip_ma) and -trip_mg < zdev < trip_mg
        if not quiet:
            self.quiet_since = -1
        elif self.quiet_since < 0:
            self.quiet_since = now
        end = False
        if self.quiet_since >= 0:
            q = clock.ticks_diff(now, self.quiet_since)
            if q >= self.th("trip_end_ms"):
                phases = self.vib.zmax >= trip_mg and self.vib.zmin <= -trip_mg
                end = use_ma or phases or q >= TRIP_QUIET_MAX_MS
        if end or clock.ticks_diff(now, self.trip_t0) >= MAX_TRIP_MS:
            self._end_trip(now)

    def _end_trip(self, now):
        self.in_trip = False
        self.trips += 1
        self.trips_total += 1
        trip_ma = self.th("trip_ma")
        if self.accel_started and self.ok(ADC):
            if self.trip_ma < trip_ma:
                reason = "no motor current during a trip (transducer disconnected?)"
                self.suspect(ADC, reason, "current")
        elif self.trip_ma >= trip_ma:
            self.suspect(ADC, None, "current")
        self.accel_started = False
        vib = self.vib
        if vib.n and self.ok(ACC):
            rms = vib.rms_mg()
            peak = vib.peak_mg()
            self.recorder.reading("accel_rms", mg_to_mm_s2(rms))
            self.recorder.reading("accel_peak", mg_to_mm_s2(peak))
            rough = self.th("rough_rms_mg")
            if rms >= rough:
                self.alarm(
                    "rough_ride",
                    SEVERITY_WARNING,
                    [("accel_rms", mg_to_mm_s2(rms)), ("accel_peak", mg_to_mm_s2(peak))],
                )
            elif rms < rough * 4 // 5:
                self.episodes.rearm("rough_ride")
            stop = vib.zmax if vib.zmax > -vib.zmin else -vib.zmin
            if stop >= self.th("estop_mg") and self.door != 1:
                self.estop = True
                self.stop_ms = now
                self.estop_mg = stop
        if self.acc is not None and self.fifo_mode:
            self.start_accel(False)

    # --- door and alarm button --------------------------------------------------------

    def _entrapped(self, records):
        self.alarm("entrapment", SEVERITY_CRITICAL, records)

    def _inputs(self, now):
        ep = self.episodes
        d = self.asserted("door")
        if d >= 0 and d != self.door:
            if d == 1:
                if self.door == 0:
                    self.cycles += 1
                self.estop = False
                ep.clear("entrapment")
            else:
                ep.clear("door_fault")
            self.door = d
            self.door_since = now
        if d == 1 and clock.ticks_diff(now, self.door_since) >= self.th("door_open_s") * 1000:
            ep.raise_alarm("door_fault", SEVERITY_WARNING, [("door_open", True)])
        b = self.asserted("alarm_button")
        pressed = b == 1 or self.latched
        self.latched = False
        if pressed:
            if not self.pressed:
                self.presses += 1
                records = [("alarm_button", True), ("door_open", d == 1)]
                self.alarm("alarm_button", SEVERITY_CRITICAL, records)
                if not self.in_trip and self.door == 0:
                    self._entrapped([("alarm_button", True), ("door_open", False)])
            self.last_press = now
        elif (
            ep.on("alarm_button")
            and not ep.on("entrapment")
            and clock.ticks_diff(now, self.last_press) >= BUTTON_REARM_MS
        ):
            ep.rearm("alarm_button")
        self.pressed = b == 1
        if (
            self.estop
            and not self.in_trip
            and self.door == 0
            and clock.ticks_diff(now, self.stop_ms) >= self.th("entrapment_s") * 1000
        ):
            records = [("door_open", False)]
            if self.ma >= 0 and self.ok(ADC):
                records.append(("current", self.ma))
            records.append(("accel_peak", mg_to_mm_s2(self.estop_mg)))
            self._entrapped(records)

    # --- interrupts and the watcher -------------------------------------------------

    def _irq(self, pin):
        if pin is self._button and pin.value() == self._button_active:
            self.latched = True
        if self.tsf:
            self.flag.set()
        elif _schedule is not None:
            try:
                _schedule(self._set_ref, 0)
            except RuntimeError:
                pass  # the schedule queue is full: the low-rate check sees it
        else:
            self.flag.set()

    def _set_event(self, _):
        self.flag.set()

    def _arm(self):
        if self.flag is None:
            if hasattr(asyncio, "ThreadSafeFlag"):
                self.flag = asyncio.ThreadSafeFlag()
                self.tsf = True
            else:
                self.flag = asyncio.Event()
        for pin in (self._door, self._button):
            if pin is None:
                continue
            try:
                pin.irq(handler=self._irq_ref, trigger=pin.IRQ_RISING | pin.IRQ_FALLING)
            except (AttributeError, TypeError, ValueError, OSError):
                pass  # no interrupt on this pin: the low-rate check polls it

    def _disarm(self):
        for pin in (self._door, self._button):
            if pin is None:
                continue
            try:
                pin.irq(handler=None)
            except (AttributeError, TypeError, ValueError, OSError):
                pass

    async def _pins(self):
        flag = self.flag
        while True:
            await flag.wait()
            if not self.tsf:
                flag.clear()
            self._inputs(clock.ticks_ms())

    # One step of the watcher (inputs, the low-rate check or a FIFO drain);
    # returns the ms until the next step.
    def poll(self):
        self.episodes.retry()
        now = clock.ticks_ms()
        self._inputs(now)
        self._check(now)
        return TRIP_MS if self.in_trip else CHECK_MS

    async def watch(self):
        self._arm()
        task = asyncio.create_task(self._pins())
        try:
            while True:
                await _sleep_ms(self.poll())
        finally:
            task.cancel()
            self._disarm()

    # --- periodic readings ------------------------------------------------------------

    def sample(self):
        self.episodes.retry()
        if self.acc is None:
            self.start_accel(self.in_trip)
        if self.adc.drv is None:
            self.adc.start()
        ma = self.ma if self.in_trip else self._current()
        self.adc.check_zero()
        if self.rough_n >= 8:
            noisy = self.acc_noise.update(
                self.rough_sum // self.rough_n > self.th("accel_noise_mg")
            )
            self.suspect(ACC, "noisy (jumps between samples at rest)" if noisy else None)
            self.rough_sum = 0
            self.rough_n = 0
        rec = self.recorder
        rec.reading("trips", self.trips)
        rec.reading("door_cycles", self.cycles)
        self.trips = 0
        self.cycles = 0
        if ma >= 0 and self.ok(ADC):
            rec.reading("current", ma)
        if self.door >= 0:
            rec.flag("door_open", self.door == 1)

    def save(self, d):
        d["trips"] = self.trips
        d["cycles"] = self.cycles
        d["presses"] = self.presses
        d["an"] = self.acc_noise.get()

    def load(self, d):
        self.trips = intval(d, "trips", 0)
        self.cycles = intval(d, "cycles", 0)
        self.presses = intval(d, "presses", 0)
        self.acc_noise.set(d.get("an"))
