# What the kits share: pins and parts from the board file, thresholds with
# defaults, health faults per part, alarm episodes, load switches (held
# through deep sleep where the port can) and the state kept across deep
# sleep. The battery kits' common part is BatteryKit (kits/battery.py).
#
# Faults: a SensorFault (or an OSError) from a driver is a hard fault of its
# part: health.fault(part, reason), the driver is started again (identity
# check included) at the next sample, and nothing that part measured in
# this sample is used. A plausibility check (checks.Score) can put a part in
# a soft fault (noise). A part in either fault raises no alarm and clears
# none; its readings are not recorded. health.clear(part) follows the first
# good reading with no soft fault left. The faults known at the end of a run
# are kept with the state: a later run that does not read the part (a wake
# for an input, the end of a warm-up) still reports them, until the part is
# read again (measured()).

from firmware.app.compat import const
from firmware.app.config import DEFAULTS
from firmware.app.detect.episode import Episodes
from firmware.app.drivers.fault import SensorFault

STATE_VERSION = const(1)


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
        self.carried = {}  # part -> reason known from the last run, not read since
        self.held = False  # a warming part's switch is held through deep sleep
        self.no_hold = False  # the port has no pad hold (RP2)

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

    def _out(self, name):
        pin = (self.hw.get("outputs") or {}).get(name)
        if pin is None:
            pin = (self.hw.get("pins") or {}).get(name)
        return pin

    # Switches an output (a load switch) on or off; a pad held through the
    # last deep sleep is let go at the same time.
    def output(self, name, on):
        pin = self._out(name)
        if pin is None:
            return False
        spec = (self.board.get("gpio") or {}).get(name) or {}
        active = spec.get("active", 1)
        pin.value(active if on else 1 - active)
        self._hold(pin, False)
        return True

    # Keeps an output at its level through deep sleep (the ESP32's pad hold);
    # False where the port has none (the caller then waits awake instead).
    def hold(self, name):
        pin = self._out(name)
        return pin is not None and self._hold(pin, True)

    def _hold(self, pin, on):
        if self.no_hold:
            return False
        try:
            pin.init(hold=on)
        except (AttributeError, TypeError, ValueError, OSError):
            self.no_hold = True
            return False
        return on

    # --- faults ------------------------------------------------------------

    def fault(self, part, reason):
        self.measured(part)
        self.faults[part] = reason
        self.health.fault(part, reason)

    # The part was read in this run: what the last run knew of it is past.
    def measured(self, part):
        if part in self.carried:
            del self.carried[part]

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
        reason = self.faults.get(part) or self.soft_parts.get(part) or self.carried.get(part)
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
        f = dict(self.carried)
        f.update(self.soft_parts)
        f.update(self.faults)
        if f:
            d["f"] = f
        self.save(d)
        return d

    def restore(self, d):
        if not isinstance(d, dict) or d.get("v") != STATE_VERSION:
            return
        on = d.get("on")
        if isinstance(on, int) and on >= 0:
            self.episodes.active = on & ((1 << len(self.KINDS)) - 1)
        f = d.get("f")
        if isinstance(f, dict):
            for part, reason in f.items():
                if isinstance(reason, str) and part not in self.faults:
                    self.carried[part] = reason
                    self._publish(part)
        self.load(d)

    def save(self, d):
        pass

    def load(self, d):
        pass

    async def watch(self):
        return

    def on_wake(self, signal):
        pass

    # A part warming up with its switch held: the ms until resume() may read
    # it, -1 when none does.
    def warming(self):
        return -1

    # A warm-up held through the last deep sleep is over in ms.
    def warm(self, ms):
        pass

    # Reads what warmed up (called when warming() reaches 0).
    def resume(self):
        pass

    # The parts go to sleep with the node.
    def sleep(self):
        pass


def intval(d, key, default):
    v = d.get(key, default)
    if isinstance(v, int) and v is not True and v is not False:
        return v
    return default
