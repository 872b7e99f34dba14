# What the battery kits (hydrant, manhole) share: the accelerometer window
# (tilt from the install baseline, impact, noise), the accelerometer's
# activity watch while the node sleeps (an event wakes it through INT1; the
# samples around the event wait in the part's FIFO), the DS18B20 and the
# battery voltage.

from firmware.app import clock
from firmware.app.compat import const, sleep_ms
from firmware.app.detect.accel import Window
from firmware.app.detect.checks import Score, second_difference
from firmware.app.detect.tilt import tilt_cdeg
from firmware.app.drivers.adxl345 import ADXL345
from firmware.app.drivers.ds18b20 import CONVERSION_MS, DS18B20
from firmware.app.drivers.fault import SensorFault
from firmware.app.kits.base import Kit, intval

WINDOW_SAMPLES = const(16)
WINDOW_PERIOD_MS = const(10)  # 16 samples at 100 Hz: 160 ms
ACCEL_RATE_HZ = const(100)
ACCEL_RANGE_G = const(16)
POWER_ON_CCEL = const(8500)  # 85.00 C: what a DS18B20 holds after a brown-out
SHOCK_SAMPLES = const(32)  # the ADXL345's FIFO
SHOCK_BEFORE = const(8)  # FIFO samples kept from before an activity event
SHOCK_WAIT_MS = const(400)  # the FIFO fills within 24 samples at 100 Hz
# accelerometer wakes between two samples after which the watch rests until
# the next sample (a part shaken for long would otherwise wake the node
# again and again)
ACCEL_WAKES_MAX = const(4)


def vector(v):
    if isinstance(v, list) and len(v) == 3:
        for x in v:
            if not isinstance(x, int) or x is True or x is False:
                return None
        return v
    return None


class BatteryKit(Kit):
    WATCH_HZ = 12  # the activity watch's output rate (low-power mode)

    def __init__(self, hw, thresholds, recorder, health):
        Kit.__init__(self, hw, thresholds, recorder, health)
        self.acc = None
        self.ds = None
        self.win = Window(WINDOW_SAMPLES)
        self.baseline = None
        self.acc_noise = Score()
        self.temp_noise = Score()
        self.temps = [0, 0, 0]  # previous, the one before, how many known
        self.converting_since = None
        self.tilt = -1  # centi-degrees from the baseline, -1 unknown
        self.peak_mg = -1  # largest deviation from the baseline in the window
        self.noise_mg = self.th("accel_noise_mg")
        self.shock = Window(SHOCK_SAMPLES)  # the FIFO around an activity event
        self.shock.count = -1  # -1: no event since the node slept
        self.accel_wakes = 0

    def start(self):
        self.start_accel()
        self.start_temp()

    # --- accelerometer -----------------------------------------------------------

    def start_accel(self):
        i2c = self.hw.get("i2c")
        if i2c is None:
            self.fault("adxl345", "no I2C bus in the board file")
            return False
        try:
            if self.acc is None:
                self.acc = ADXL345(i2c, self.part("accel").get("address", 0x53))
                if self.shock.count < 0:
                    # what the watch caught while the node slept, before
                    # start() empties the FIFO
                    self.shock.count = self.acc.event(self.shock.buf, SHOCK_WAIT_MS)
            self.acc.start(ACCEL_RATE_HZ, ACCEL_RANGE_G, False)
        except (SensorFault, OSError) as e:
            self.failed("adxl345", e)
            self.acc = None
            return False
        self.fine("adxl345")
        return True

    # One window: returns True when it holds valid data (tilt, peak_mg set).
    # first: the sample's first window (feeds the noise score).
    def accel_window(self, first=False):
        self.tilt = -1
        self.peak_mg = -1
        if self.acc is None and not self.start_accel():
            return False
        win = self.win
        try:
            win.capture(self.acc, WINDOW_PERIOD_MS)
        except (SensorFault, OSError) as e:
            self.failed("adxl345", e)
            self.acc = None
            return False
        self.measured("adxl345")
        win.analyse(self.baseline, self.acc.full_scale_mg())
        if win.saturated * 2 >= win.count:
            self.fault("adxl345", "saturated (samples at full scale)")
            return False
        if "adxl345" in self.faults:
            del self.faults["adxl345"]
        if first:
            noisy = self.acc_noise.update(win.rough_mg > self.noise_mg)
            self.suspect("adxl345", "noisy (jumps between samples at rest)" if noisy else None)
        else:
            self._publish("adxl345")
        if not self.ok("adxl345"):
            return False
        m = win.mean
        if self.baseline is None:
            if win.rough_mg > self.noise_mg:
                return False  # the install baseline needs the part at rest
            self.baseline = [m[0], m[1], m[2]]
            win.analyse(self.baseline, self.acc.full_scale_mg())
        self.tilt = tilt_cdeg(self.baseline, m[0], m[1], m[2])
        self.peak_mg = win.peak_mg
        return True

    # The largest deviation from the baseline in the samples around the
    # activity event that woke the node, -1 when there are none.
    def shock_mg(self):
        win = self.shock
        if win.count <= 0 or self.acc is None:
            return -1
        win.analyse(self.baseline, self.acc.full_scale_mg())
        return win.peak_mg

    # The activity watch for the sleep, unless the part is faulty or has
    # woken the node ACCEL_WAKES_MAX times since the last sample; a part not
    # watching is put in standby.
    def sleep(self):
        if self.acc is None:
            return
        try:
            if self.ok("adxl345") and self.accel_wakes < ACCEL_WAKES_MAX:
                self.acc.watch(self.th("accel_wake_mg"), self.WATCH_HZ, SHOCK_BEFORE)
            else:
                self.acc.stop()
        except (SensorFault, OSError) as e:
            self.failed("adxl345", e)

    # The wake inputs whose active level the firmware can set (the
    # accelerometer's INT1), for boards where all wake pins share one level
    # (duty.arm), and setting it.
    def wake_settable(self):
        return ("accel_int",) if self.acc is not None else ()

    def wake_active(self, level):
        if self.acc is None:
            return
        try:
            self.acc.int_active(level)
        except (SensorFault, OSError) as e:
            self.failed("adxl345", e)

    # --- temperature ---------------------------------------------------------------

    def start_temp(self):
        ow = self.hw.get("onewire")
        if ow is None:
            if self.board.get("onewire") is not None or "temp" in (self.board.get("parts") or {}):
                self.fault("ds18b20", "no 1-Wire bus")
            return False
        if self.ds is None:
            self.ds = DS18B20(ow)
        try:
            self.ds.start()
        except (SensorFault, OSError) as e:
            self.failed("ds18b20", e)
            self.ds = None
            return False
        self.fine("ds18b20")
        return True

    def temp_convert(self):
        self.converting_since = None
        if self.ds is None and not self.start_temp():
            return
        try:
            self.ds.convert()
        except (SensorFault, OSError) as e:
            self.failed("ds18b20", e)
            self.ds = None
            return
        self.converting_since = clock.ticks_ms()

    # The temperature in centi-degC, or None (fault, or no conversion).
    def temp_read(self):
        if self.converting_since is None or self.ds is None:
            return None
        waited = clock.ticks_diff(clock.ticks_ms(), self.converting_since)
        if waited < CONVERSION_MS:
            sleep_ms(CONVERSION_MS - waited)
        self.converting_since = None
        try:
            t = self.ds.read()
        except (SensorFault, OSError) as e:
            self.failed("ds18b20", e)
            self.ds = None
            return None
        self.measured("ds18b20")
        if t == POWER_ON_CCEL:
            self.fault("ds18b20", "reads 85.00 C, the power-on value (brown-out?)")
            return None
        if "ds18b20" in self.faults:
            del self.faults["ds18b20"]
        h = self.temps
        d2 = second_difference(t, h[0], h[1], h[2])
        h[1] = h[0]
        h[0] = t
        if h[2] < 2:
            h[2] += 1
        noisy = self.temp_noise.update(abs(d2) > self.th("temp_noise_ccel"))
        self.suspect("ds18b20", "noisy (temperature jumps between readings)" if noisy else None)
        if not self.ok("ds18b20"):
            return None
        return t

    # --- state -----------------------------------------------------------------

    def save(self, d):
        if self.baseline is not None:
            d["base"] = self.baseline
        d["an"] = self.acc_noise.get()
        d["tn"] = self.temp_noise.get()
        d["th"] = self.temps
        d["aw"] = self.accel_wakes

    def load(self, d):
        base = vector(d.get("base"))
        if base is not None:
            self.baseline = base
        self.acc_noise.set(d.get("an"))
        self.temp_noise.set(d.get("tn"))
        temps = vector(d.get("th"))
        if temps is not None:
            self.temps = temps
        self.accel_wakes = intval(d, "aw", 0)
        # a soft fault known before the sleep holds until the score clears it
        if self.acc_noise.faulty:
            self.suspect("adxl345", "noisy (jumps between samples at rest)")
        if self.temp_noise.faulty:
            self.suspect("ds18b20", "noisy (temperature jumps between readings)")
