# mypy: ignore-errors
# The virtual node's setup hook (hardware/hal/boot.py config "setup":
# "hardware.sim.attach:setup"): builds the world of the configured scenario and
# attaches the kit's chip simulators where the board file (cfg/board.json on
# the node's flash) says the parts are: the I2C bus, the 1-Wire pin, the UARTs,
# the digital inputs and the ADC inputs. Runs under MicroPython.
#
# MicroPython's unix port has no `onewire` module; a small one is installed in
# sys.modules whose OneWire(pin) returns the simulated bus on that pin.
#
# The board's load switches (outputs whose kit data lists the parts they
# power) switch those parts (a UART sensor's supply, the 4-20 mA loop) and
# meter their on-time (parts["power"][gpio name]). The accelerometer stays
# powered while the MCU sleeps: its registers are kept in
# machine.device_state() when the board process ends and loaded at the next
# start, and its INT1 line tells the board when an activity event will wake
# it (next_change_ms).

import json
import sys

from hardware.sim.a02yyuw import A02YYUW
from hardware.sim.ads1115 import ADS1115
from hardware.sim.adxl345 import ADXL345
from hardware.sim.ds18b20 import DS18B20
from hardware.sim.i2c_bus import SimI2CBus
from hardware.sim.onewire import OneWire
from hardware.sim.world import World
from hardware.sim.ze03 import ZE03

# the simulated parts of the running node, for tests that inject faults
parts = {}


# A digital input driven by a world signal, at the board's active level.
class WorldPin:
    def __init__(self, world, signal, active):
        self.world = world
        self.signal = signal
        self.active = active

    def value(self, now):
        on = self.world.digital(self.signal, now)
        return self.active if on else 1 - self.active

    def next_change_ms(self, t):
        edge = self.world.next_edge(self.signal, t)
        return None if edge is None else edge[0]


# The accelerometer's interrupt line.
class AccelIntPin:
    def __init__(self, accel):
        self.accel = accel

    def value(self, now):
        return self.accel.int_at(now, 1)

    def next_change_ms(self, t):
        return self.accel.next_int_ms(t, 1)


# A load switch on an output pin: powers its parts while the pin is at its
# active level and meters how long that is.
class PowerSwitch:
    def __init__(self, world, devices, channels, *, active, level, now):
        self.world = world
        self.devices = devices
        self.channels = channels
        self.active = active
        self.on_at = None
        self.on_ms = 0
        self.switch(level == active, now)

    def switch(self, on, now):
        for dev in self.devices:
            dev.power(on, now)
        for ch in self.channels:
            if on:
                self.world.unpowered.discard(ch)
            else:
                self.world.unpowered.add(ch)
        if on and self.on_at is None:
            self.on_at = now
        elif not on and self.on_at is not None:
            self.on_ms += now - self.on_at
            self.on_at = None

    def value(self, now):
        return self.active if self.on_at is not None else 1 - self.active

    def drive(self, level, now):
        if (level == self.active) != (self.on_at is not None):
            self.switch(level == self.active, now)

    def total(self, now):
        return self.on_ms + (0 if self.on_at is None else now - self.on_at)


# The battery voltage through the board's divider.
class BatteryAdc:
    def __init__(self, world, divider):
        self.world = world
        self.divider = divider

    def read_uv(self, now):
        return self.world.battery_mv(now) * 1000 // self.divider


# One UART shared by several sensors (ESP32-C3): the sensor whose RX pin the
# firmware routed to is the one connected.
class SharedUart:
    def __init__(self, by_rx):
        self.by_rx = by_rx
        self.current = None
        for dev in by_rx.values():
            self.current = dev
            break

    def route(self, tx, rx):
        if rx in self.by_rx:
            self.current = self.by_rx[rx]

    def poll(self, now_ms):
        out = b""
        for dev in self.by_rx.values():
            data = dev.poll(now_ms)  # every sensor keeps its own time
            if dev is self.current:
                out = data
        return out

    def write(self, data):
        self.current.write(data)


class _OneWireModule:
    def __init__(self, buses):
        self.buses = buses

    def OneWire(self, pin):
        pin_id = getattr(pin, "_id", None)
        bus = self.buses.get(pin_id)
        if bus is None:
            for bus in self.buses.values():
                return bus
            raise OSError(19, "no 1-Wire bus on pin %r" % (pin_id,))
        return bus

    OneWireError = OSError


def _keep(machine, name, chip):
    # The chip's registers carry over from the previous start of the board.
    kept = machine.device_state()
    chip.load(kept.get(name))

    def save():
        kept[name] = chip.state()

    return save


# The level the board's pad holds at start: a pad held through a deep sleep,
# else the switch's idle level.
def _pad(machine, pin, idle):
    p = machine.Pin(pin)
    return p.value() if p.mode() == machine.Pin.OUT else idle


def setup(registry, config):
    import machine  # noqa: PLC0415 - the simulated board's, loaded before this hook runs

    with open("cfg/board.json") as f:
        board = json.load(f)
    world = World(config.get("scenario") or (board["kit"] + ".idle"))
    clock = registry.now_ms
    parts["world"] = world
    i2c = board.get("i2c")
    if i2c is not None:
        bus = SimI2CBus(i2c["id"])
        for name, part in board["parts"].items():
            if part["bus"] != "i2c":
                continue
            if part["chip"] == "ADXL345":
                acc = bus.attach(ADXL345(clock, world, part["address"]))
                registry.exit_hooks.append(_keep(machine, name, acc))
                parts[name] = acc
            elif part["chip"] == "ADS1115":
                inputs = part.get("facts", {}).get("inputs", {})
                channels = tuple(inputs.get("AIN%d" % i) for i in range(4))
                parts[name] = bus.attach(ADS1115(clock, world, part["address"], channels))
        registry.attach_i2c(i2c["id"], bus)
        parts["i2c"] = bus
    buses = {}
    if board.get("onewire") is not None:
        ow = OneWire(board["onewire"])
        parts["temp"] = ow.attach(DS18B20(clock, world, serial=0x00C17E4E0001))
        buses[board["onewire"]] = ow
        parts["onewire"] = ow
    sys.modules["onewire"] = _OneWireModule(buses)
    by_id = {}
    for name, spec in board.get("uart", {}).items():
        if name == "link":
            continue  # the node's RS-485 link to the edge: the config's uart path
        if name == "level":
            dev = A02YYUW(clock, world)
        elif name == "gas":
            dev = ZE03(clock, world)
        else:
            continue
        if hasattr(dev, "state"):
            registry.exit_hooks.append(_keep(machine, name, dev))
        parts[name] = dev
        by_id.setdefault(spec["id"], {})[spec["rx"]] = dev
    for uid, devices in by_id.items():
        if len(devices) == 1:
            for dev in devices.values():
                registry.attach_uart(uid, dev)
        else:
            registry.attach_uart(uid, SharedUart(devices))
    parts["power"] = {}
    for name, gpio in board.get("gpio", {}).items():
        if gpio["dir"] == "out":
            powers = gpio.get("powers") or ()
            if powers:
                devices = [parts[p] for p in powers if p in parts]
                channels = [
                    board["parts"][p]["facts"]["supplies"]
                    for p in powers
                    if "supplies" in board["parts"].get(p, {}).get("facts", {})
                ]
                active = gpio.get("active", 1)
                level = _pad(machine, gpio["pin"], 1 - active)
                switch = PowerSwitch(
                    world, devices, channels, active=active, level=level, now=clock()
                )
                registry.attach_pin(gpio["pin"], switch)
                parts["power"][name] = switch
            continue
        if gpio["dir"] != "in":
            continue
        if name == "accel_int" and "accel" in parts:
            registry.attach_pin(gpio["pin"], AccelIntPin(parts["accel"]))
        elif gpio.get("signal") and world.has(gpio["signal"]):
            registry.attach_pin(gpio["pin"], WorldPin(world, gpio["signal"], gpio.get("active", 1)))
    for name, adc in board.get("adc", {}).items():
        if name == "battery":
            registry.attach_adc(adc["pin"], BatteryAdc(world, adc.get("divider", 1)))
