# What the kits share: pins and parts from the board file, thresholds with
# defaults, health faults per part, alarm episodes and the state kept across
# deep sleep. BatteryKit adds what the hydrant and the manhole share: the
# accelerometer window (tilt from the install baseline, impact, noise), the
# DS18B20 and the battery voltage.
#
# Faults: a SensorFault (or an OSError) from a driver is a hard fault of its
# part: health.fault(part, reason), the driver is started again (identity
# check included) at the next sample, and nothing that part measured in
# this sample is used. A plausibility check (checks.Score) can put a part in
# a soft fault (noise). A part in either fault raises no alarm and clears
# none; its readings are not recorded. health.clear(part) follows the first
# good reading with no soft fault left.

from firmware.app import clock
from firmware.app.compat import const, sleep_ms
from firmware.app.config import DEFAULTS
from firmware.app.detect.accel import Window
from firmware.app.detect.checks import Score, second_difference
from firmware.app.detect.episode import Episodes
from firmware.app.detect.tilt import tilt_cdeg
from firmware.app.drivers.adxl345 import ADXL345
from firmware.app.drivers.ds18b20 import CONVERSION_MS, DS18B20
from firmware.app.drivers.fault import SensorFault

STATE_VERSION = const(1)
WINDOW_SAMPLES = const(16)
WINDOW_PERIOD_MS = const(10)  # 16 samples at 100 Hz: 160 ms
ACCEL_RATE_HZ = const(100)
ACCEL_RANGE_G = const(16)
POWER_ON_CCEL = const(8500)  # 85.00 C: what a DS18B20 holds after a brown-out


class Kit:
    KINDS: "tuple[str, ...]" = ()

    def __init__(self, hw, thresholds, recorder, health):
        self.hw = hw
        self.board = hw.get("board") or {}
        self.thresholds = thresholds or {}
        self.recorder = recorder
        self.health = health
        self.episodes = Episodes(self.KINDS, recorder)
        self.faults = {}  # part -> reason: hard faults
        self.inputs = {}  # name -> (pin or None, active level), resolved once
        self.soft = {}  # check -> (part, reason): plausibility faults
        self.soft_parts = {}  # part -> reason of one of its soft faults

    # A threshold from the provisioned config, or its default (config.DEFAULTS,
    # the one home of every threshold and its default).
    def th(self, key):
        default = DEFAULTS[self.KIT]["thresholds"][key]
        v = self.thresholds.get(key, default)
        if isinstance(v, int) and v is not True and v is not False:
            return v
        return default

    def part(self, key):
        return (self.board.get("parts") or {}).get(key) or {}

    def facts(self, key):
        return self.part(key).get("facts") or {}

    # An input by its gpio name ("door", "reed") or its signal name
    # ("door_open"): (pin object or None, active level).
    def input_pin(self, name):
        gpio = self.board.get("gpio") or {}
        role = self.role(name)
        spec = gpio.get(role) or {}
        pins = self.hw.get("pins") or {}
        pin = None
        signal = spec.get("signal")
        if signal is not None:
            pin = pins.get(signal)
        if pin is None:
            pin = pins.get(role)
        return pin, spec.get("active", 1)

    # The gpio name for a gpio name or a signal name.
    def role(self, name):
        gpio = self.board.get("gpio") or {}
        if name in gpio:
            return name
        for role, spec in gpio.items():
            if spec.get("signal") == name:
                return role
        return name

    # 1 when the input is in its active state, 0 when not, -1 when absent.
    def asserted(self, name):
        found = self.inputs.get(name)
        if found is None:
            found = self.input_pin(name)
            self.inputs[name] = found
        pin = found[0]
        if pin is None:
            return -1
        return 1 if pin.value() == found[1] else 0

    def output(self, name, on):
        outputs = self.hw.get("outputs") or {}
        pin = outputs.get(name)
        if pin is None:
            pin = (self.hw.get("pins") or {}).get(name)
        if pin is None:
            return False
        spec = (self.board.get("gpio") or {}).get(name) or {}
        active = spec.get("active", 1)
        pin.value(active if on else 1 - active)
        return True

    # --- faults ------------------------------------------------------------

    def fault(self, part, reason):
        self.faults[part] = reason
        self.health.fault(part, reason)

    def fine(self, part):
        if part in self.faults:
            del self.faults[part]
        self._publish(part)

    # A plausibility check of a part says it is faulty (reason) or not
    # (None); check names the check when a part has more than one.
    def suspect(self, part, reason, check=None):
        key = check or part
        if reason:
            self.soft[key] = (part, reason)
        elif key in self.soft:
            del self.soft[key]
        if part in self.soft_parts:
            del self.soft_parts[part]
        for p, why in self.soft.values():
            if p == part:
                self.soft_parts[part] = why
        self._publish(part)

    def _publish(self, part):
        reason = self.faults.get(part) or self.soft_parts.get(part)
        if reason:
            self.health.fault(part, reason)
        else:
            self.health.clear(part)

    # No hard or soft fault on the part (allocates nothing: hot paths ask).
    def ok(self, part):
        return part not in self.faults and part not in self.soft_parts

    def failed(self, part, e):
        if isinstance(e, SensorFault):
            self.fault(part, e.reason)
        else:
            self.fault(part, "I/O error: %s" % (e,))

    # --- alarms ------------------------------------------------------------

    def alarm(self, kind, severity, records):
        return self.episodes.raise_alarm(kind, severity, records)

    # --- battery -------------------------------------------------------------

    # Battery voltage in mV from the board's divided ADC input, -1 if none.
    def battery_mv(self):
        adc = (self.hw.get("adc") or {}).get("battery")
        spec = (self.board.get("adc") or {}).get("battery")
        if adc is None or spec is None:
            return -1
        try:
            uv = adc.read_uv()
        except OSError:
            return -1
        return uv * spec.get("divider", 1) // 1000

    # --- state -----------------------------------------------------------------

    def state(self):
        d = {"v": STATE_VERSION, "on": self.episodes.saved()}
        self.save(d)
        return d

    def restore(self, d):
        if not isinstance(d, dict) or d.get("v") != STATE_VERSION:
            return
        on = d.get("on")
        if isinstance(on, int) and on >= 0:
            self.episodes.active = on & ((1 << len(self.KINDS)) - 1)
        self.load(d)

    def save(self, d):
        pass

    def load(self, d):
        pass

    async def watch(self):
        return

    def on_wake(self, signal):
        pass


def intval(d, key, default):
    v = d.get(key, default)
    if isinstance(v, int) and v is not True and v is not False:
        return v
    return default


def vector(v):
    if isinstance(v, list) and len(v) == 3:
        for x in v:
            if not isinstance(x, int) or x is True or x is False:
                return None
        return v
    return None


class BatteryKit(Kit):
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

    def start(self):
        self.start_accel()
        self.start_temp()

    # --- accelerometer -----------------------------------------------------------

    def start_accel(self):
        i2c = self.hw.get("i2c")
        if i2c is None:
            self.fault("adxl345", "no I2C bus in the board file")
            return False
        if self.acc is None:
            self.acc = ADXL345(i2c, self.part("accel").get("address", 0x53))
        try:
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

    def load(self, d):
        base = vector(d.get("base"))
        if base is not None:
            self.baseline = base
        self.acc_noise.set(d.get("an"))
        self.temp_noise.set(d.get("tn"))
        temps = vector(d.get("th"))
        if temps is not None:
            self.temps = temps
        # a soft fault known before the sleep holds until the score clears it
        if self.acc_noise.faulty:
            self.suspect("adxl345", "noisy (jumps between samples at rest)")
        if self.temp_noise.faulty:
            self.suspect("ds18b20", "noisy (temperature jumps between readings)")
