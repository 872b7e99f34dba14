# mypy: ignore-errors
# The simulated world's attachment points, read by the `machine` module.
#
# Imported as hardware.hal.registry (MicroPython). The boot script fills it from
# the config; tests and the chip simulators attach their own objects:
#   attach_i2c(bus_id, bus)       bus: writeto(addr, buf, stop=True) -> acks,
#                                 readfrom_into(addr, buf, stop=True), scan();
#                                 any other machine.I2C method it has is called
#                                 directly. Raise OSError(19) (ENODEV) for a
#                                 NACK, OSError(116) (ETIMEDOUT) for a stuck bus.
#   attach_uart(uart_id, target)  target: a device with poll(now_ms) -> bytes
#                                 (what it sends since the last poll) and
#                                 write(bytes) (what the MCU sent it), optionally
#                                 next_ms(now_ms) -> when it next has output
#                                 (None: only after a write; a time already past
#                                 is fine and means "now"); or a path string
#                                 "unix:/path" | "tcp:host:port" | "/dev/pts/N".
#   attach_pin(pin_id, source)    source: 0/1, a callable f(now_ms) -> 0/1, or an
#                                 object with value(now_ms) and optionally
#                                 next_change_ms(t) -> the first change after
#                                 scenario time t (ms) or None, and
#                                 drive(level, now_ms) (the MCU drives the pin).
#   attach_adc(pin_id, source)    source: microvolts, a callable f(now_ms) -> uV,
#                                 or an object with read_uv(now_ms).
# now_ms is the simulated scenario clock (simclock.now_ms).

import simclock

now_ms = simclock.now_ms

i2c_buses = {}
uarts = {}
pins = {}
adcs = {}
# The validated node config (hardware/hal/config.py), set by the boot script.
config = {}
# Bumped whenever a world-driven pin level changes (Level.set), so the pin
# watcher looks at the pins at its next service.
pin_epoch = [0]
# Called (no arguments) when the board process ends on a board event (deep
# sleep, reset, watchdog), before machine writes its state file: devices put
# what they keep into machine.device_state() there.
exit_hooks = []


def attach_i2c(bus_id, bus):
    i2c_buses[bus_id] = bus


def attach_uart(uart_id, device_or_path):
    uarts[uart_id] = device_or_path


def attach_pin(pin_id, source):
    pins[pin_id] = source
    pin_epoch[0] += 1


def attach_adc(pin_id, source):
    adcs[pin_id] = source


def reset():
    i2c_buses.clear()
    uarts.clear()
    pins.clear()
    adcs.clear()
    pin_epoch[0] += 1


def pin_level(pin_id, default=0):
    # The world's level on an input pin now (default when nothing is attached).
    src = pins.get(pin_id)
    if src is None:
        return default
    return level_of(src, simclock.now_ms())


def level_of(src, now):
    if isinstance(src, int):
        return 1 if src else 0
    value = getattr(src, "value", None)
    if value is not None:
        return 1 if value(now) else 0
    return 1 if src(now) else 0


class Level:
    # A pin level that world code (a test, a scenario step) sets directly.
    def __init__(self, level=0):
        self.level = 1 if level else 0

    def value(self, now):
        return self.level

    def set(self, level):
        level = 1 if level else 0
        if level != self.level:
            self.level = level
            pin_epoch[0] += 1


class Schedule:
    # A pin level that changes at given scenario times: changes is a list of
    # (ms, level) sorted by ms; before the first change the level is `initial`.
    def __init__(self, initial, changes):
        self.initial = 1 if initial else 0
        self.changes = [(int(t), 1 if v else 0) for t, v in changes]
        for i in range(1, len(self.changes)):
            if self.changes[i][0] < self.changes[i - 1][0]:
                raise ValueError("Schedule: changes must be sorted by time")

    def value(self, now):
        level = self.initial
        for t, v in self.changes:
            if t > now:
                break
            level = v
        return level

    def next_change_ms(self, now):
        for t, _v in self.changes:
            if t > now:
                return t
        return None


def parse_address(text):
    # "unix:/path" -> (1, path); "tcp:host:port" -> (2, host, port);
    # anything else is a tty path -> (0, path).
    if text.startswith("unix:"):
        return (1, text[5:])
    if text.startswith("tcp:"):
        host, _sep, port = text[4:].rpartition(":")
        return (2, host, int(port))
    return (0, text)
