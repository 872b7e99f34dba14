# The kit test rig, in the subset of Python both runtimes run: the chip
# simulators of hardware/sim wired the way a board file says, behind objects
# with the machine API the kits use (I2C is the simulator's bus itself; Pin,
# UART and ADC here), a recorder that keeps every call, and drivers that run
# a kit through a World scenario the way the app would: battery kits run as
# firmware/app/duty.py runs them (a new kit object per run: a wake from deep
# sleep is a boot); mains kits run watch() under asyncio with a sampler
# beside it (MicroPython) or poll() in a loop. The board's load switches
# power the parts they name (a UART sensor, the 4-20 mA loop).
#
# Time: tests/kits/vclock.py. The simulators read scenario_ms().

import json

import vclock

from firmware.app import duty
from firmware.app.kits import make_kit
from firmware.wire.senml import QUANTITIES
from hardware.sim.a02yyuw import A02YYUW
from hardware.sim.ads1115 import ADS1115
from hardware.sim.adxl345 import ADXL345
from hardware.sim.ds18b20 import DS18B20
from hardware.sim.i2c_bus import SimI2CBus
from hardware.sim.onewire import OneWire
from hardware.sim.world import World
from hardware.sim.ze03 import ZE03


def sim_clock():
    return vclock.scenario_ms()


class Health:
    # The firmware's Health keeps faults too; this one also logs each change.
    def __init__(self):
        self.faults = {}
        self.log = []

    def fault(self, part, reason=""):
        if self.faults.get(part) != reason:
            self.faults[part] = reason
            self.log.append([vclock.scenario_ms(), part, reason])

    def clear(self, part):
        if part in self.faults:
            del self.faults[part]
            self.log.append([vclock.scenario_ms(), part, None])

    def ok(self, part):
        return part not in self.faults


class Recorder:
    # Records every call with the scenario time; checks names like the real
    # Recorder does (a number needs a quantity in senml.QUANTITIES).
    def __init__(self):
        self.readings = []  # [t, name, value]
        self.alarms = []  # [t, kind, severity, [[name, value], ...]]
        self.flushes = 0

    def reading(self, name, mantissa):
        if name not in QUANTITIES:
            raise KeyError("no quantity %r" % name)
        if not isinstance(mantissa, int) or isinstance(mantissa, bool):
            raise TypeError("%s: reading %r is not an integer" % (name, mantissa))
        self.readings.append([vclock.scenario_ms(), name, mantissa])

    def flag(self, name, value):
        if value is not True and value is not False:
            raise TypeError("%s: flag %r is not a bool" % (name, value))
        self.readings.append([vclock.scenario_ms(), name, value])

    def alarm(self, kind, severity, records):
        out = []
        for name, value in records:
            number = value is not True and value is not False
            if number and (name not in QUANTITIES or not isinstance(value, int)):
                raise TypeError("alarm %s: bad record %r %r" % (kind, name, value))
            out.append([name, value])
        self.alarms.append([vclock.scenario_ms(), kind, severity, out])

    def flush(self):
        self.flushes += 1


class Pin:
    IN = 1
    OUT = 3
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, rig, name, spec):
        self.rig = rig
        self.name = name
        self.signal = spec.get("signal")
        self.active = spec.get("active", 1)
        self.out = spec.get("dir") == "out"
        self.level = 1 - self.active
        self.handler = None
        self.trigger = 0
        self.last = None
        self.cache = None  # (after, next edge) in ticks
        self.fired = 0

    def value(self, v=None):
        if self.out:
            if v is None:
                return self.level
            self.level = 1 if v else 0
            self.rig.output(self.name, self.level == self.active)
            return None
        return self.read(vclock.scenario_ms())

    def read(self, t):
        if self.signal is not None:
            on = self.rig.world.digital(self.signal, t)
        elif self.name == "accel_int" and self.rig.adxl is not None:
            return self.rig.adxl.int_pin(1)
        else:
            on = 0
        return self.active if on else 1 - self.active

    # the pad hold of a deep sleep: the rig's parts and pins live on anyway
    def init(self, mode=-1, pull=-1, value=None, hold=None):
        if value is not None:
            self.value(value)

    def irq(self, handler=None, trigger=3, priority=1, wake=None, hard=False):
        self.handler = handler
        self.trigger = trigger if handler is not None else 0
        self.last = self.read(vclock.scenario_ms())
        self.cache = None
        if handler is not None and self.signal is not None:
            vclock.add_hook(self)
        else:
            vclock.remove_hook(self)

    # vclock hook: the next edge of the input after `after` (ticks).
    def next_event(self, after):
        c = self.cache
        if c is not None and c[0] <= after and (c[1] is None or after < c[1]):
            return c[1]
        e = self.rig.world.next_edge(self.signal, after - vclock.origin[0])
        t = None if e is None else vclock.to_ticks(e[0])
        self.cache = (after, t)
        return t

    def fire(self, t):
        self.cache = None
        level = self.read(t - vclock.origin[0])
        if level == self.last:
            return
        edge = self.IRQ_RISING if level else self.IRQ_FALLING
        self.last = level
        if self.trigger & edge and self.handler is not None:
            self.fired += 1
            self.handler(self)


class ADC:
    def __init__(self, rig, channel):
        self.rig = rig
        self.channel = channel

    def read_uv(self):
        return self.rig.world.voltage(self.channel, vclock.scenario_ms())


class UART:
    # One machine.UART: the device routed to it now (a shared UART is
    # re-routed by uart_select); bytes a device sends while not routed are lost.
    def __init__(self, devices):
        self.devices = devices
        self.route = None
        self.rx = bytearray()
        self.rxbuf = 256
        self.lost = 0

    def select(self, name):
        if self.route != name:
            self._fill()
            self.rx = bytearray()
            dev = self.devices.get(name)
            if dev is not None:
                dev.poll(vclock.scenario_ms())  # what it sent before is gone
            self.route = name
        return self

    def _fill(self):
        dev = self.devices.get(self.route)
        if dev is None:
            return
        data = dev.poll(vclock.scenario_ms())
        room = self.rxbuf - len(self.rx)
        if len(data) > room:
            self.lost += len(data) - room
            data = data[:room]
        self.rx += data

    def any(self):
        self._fill()
        return len(self.rx)

    def readinto(self, buf, nbytes=None):
        self._fill()
        n = len(buf) if nbytes is None else min(nbytes, len(buf))
        n = min(n, len(self.rx))
        if n == 0:
            return None
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n

    def read(self, nbytes=None):
        self._fill()
        if not self.rx:
            return None
        n = len(self.rx) if nbytes is None else min(nbytes, len(self.rx))
        data = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return data

    def write(self, data):
        dev = self.devices.get(self.route)
        if dev is not None:
            dev.write(bytes(data))
        return len(data)


class Rig:
    def __init__(self, board, scenario, faults=(), zero_ref=True):
        self.board = board
        self.kit_name = board["kit"]
        self.world = World(scenario)
        self.adxl = None
        self.ads = None
        self.ds = None
        self.level = None
        self.gas = None
        parts = board.get("parts", {})
        clk = sim_clock
        w = self.world
        self.bus = SimI2CBus()
        if "accel" in parts:
            self.adxl = self.bus.attach(ADXL345(clk, w, parts["accel"]["address"]))
        if "adc" in parts:
            facts = parts["adc"]["facts"]
            inputs = [None, None, None, None]
            for ain, q in facts.get("inputs", {}).items():
                inputs[int(ain[3])] = q
            if zero_ref:
                # the proposed wiring: AIN3 tied to GND as a zero reference
                facts["zero_ref"] = "AIN3"
            self.ads = self.bus.attach(ADS1115(clk, w, parts["adc"]["address"], tuple(inputs)))
        self.ow = None
        if board.get("onewire") is not None:
            self.ow = OneWire()
            self.ds = self.ow.attach(DS18B20(clk, w))
        uarts = board.get("uart", {})
        devices = {}
        if "level" in uarts:
            self.level = A02YYUW(clk, w)
            devices["level"] = self.level
        if "gas" in uarts:
            self.gas = ZE03(clk, w)
            devices["gas"] = self.gas
        self.uarts = {}
        by_id = {}
        for name, spec in uarts.items():
            if name not in devices:
                continue
            u = by_id.get(spec["id"])
            if u is None:
                u = UART({})
                by_id[spec["id"]] = u
            u.devices[name] = devices[name]
            if u.route is None:
                u.route = name
            self.uarts[name] = u
        self.pins = {}
        self.outputs = {}
        for name, spec in board.get("gpio", {}).items():
            p = Pin(self, name, spec)
            if spec.get("dir") == "out":
                self.outputs[name] = p
            else:
                self.pins[spec.get("signal") or name] = p
        self.adcs = {}
        for name in board.get("adc", {}):
            self.adcs[name] = ADC(self, name)
        self.switched = devices
        self.switch_log = []  # [scenario ms, output, on] of every change
        self.switch_on = {}
        for name in self.outputs:
            self.output(name, False)
        self.chips = {
            "i2c": self.bus,
            "adxl345": self.adxl,
            "ads1115": self.ads,
            "ds18b20": self.ds,
            "onewire": self.ow,
            "a02yyuw": self.level,
            "ze03": self.gas,
        }
        for spec in faults:
            self.set_fault(spec, True)

    def set_fault(self, spec, on):
        chip, _, fault = spec.partition(":")
        dev = self.chips[chip]
        if on:
            dev.faults.add(fault)
        else:
            dev.faults.discard(fault)

    # A load switch: the parts it powers (board file "powers") on or off.
    def output(self, name, on):
        spec = self.board["gpio"][name]
        parts = self.board.get("parts", {})
        if self.switch_on.get(name) != on:
            self.switch_on[name] = on
            self.switch_log.append([vclock.scenario_ms(), name, on])
        for key in spec.get("powers") or ():
            dev = self.switched.get(key)
            if dev is not None:
                dev.power(on, vclock.scenario_ms())
            channel = parts.get(key, {}).get("facts", {}).get("supplies")
            if channel is not None and on:
                self.world.unpowered.discard(channel)
            elif channel is not None:
                self.world.unpowered.add(channel)

    def uart_select(self, name):
        return self.uarts[name].select(name)

    def hw(self):
        return {
            "board": self.board,
            "i2c": self.bus,
            "onewire": self.ow,
            "uart": dict(self.uarts),
            "uart_select": self.uart_select,
            "pins": self.pins,
            "outputs": self.outputs,
            "adc": self.adcs,
        }

    # The wake inputs (gpio name, Pin) and their levels now.
    def wake_inputs(self):
        return duty.wake_inputs(self.hw())

    def levels(self):
        return {name: pin.value() for name, pin in self.wake_inputs()}

    # When the first wake input changes after t0, if before t1, else None: a
    # world signal's next edge, or the accelerometer's INT1 rising (an
    # activity event while the part watches).
    def next_wake(self, t0, t1):
        first = None
        for name, pin in self.wake_inputs():
            if pin.signal is not None:
                e = self.world.next_edge(pin.signal, t0)
                t = None if e is None else e[0]
            elif name == "accel_int" and self.adxl is not None:
                t = self.accel_event(t0, t1)
            else:
                t = None
            if t is not None and t < t1 and (first is None or t < first):
                first = t
        return first

    def accel_event(self, t0, t1):
        a = self.adxl.next_int_ms(t0, 1)
        while a is not None and a < t1:
            if self.adxl.int_at(a, 1):
                return a
            a = self.adxl.next_int_ms(a, 1)
        return None


# Switches faults at scenario times: [[t_ms, "chip:fault", on], ...] (a vclock
# hook, so it acts at its exact time whoever moves the clock).
class FaultSchedule:
    def __init__(self, rig, schedule):
        self.rig = rig
        self.todo = sorted(schedule)
        vclock.add_hook(self)

    def next_event(self, after):
        if not self.todo:
            return None
        t = vclock.to_ticks(self.todo[0][0])
        return t if t > after else after + 1

    def fire(self, t):
        while self.todo and vclock.to_ticks(self.todo[0][0]) <= t:
            _, spec, on = self.todo.pop(0)
            self.rig.set_fault(spec, on)


class _Node:
    # What duty.finish_warmup() needs of the app's node.
    def __init__(self, kit, recorder):
        self.kit = kit
        self.recorder = recorder


# Runs a battery kit through [0, duration) as firmware/app/duty.py does: a
# sample every period_ms (at k * period_ms), a run at every change of a wake
# input (a world signal's edge, an activity event of the accelerometer's
# watch) that handles the inputs that changed, and a run when a warm-up the
# kit held through the sleep is over; a new kit object per run, its state
# through JSON between runs. "wakes" counts the samples, "runs" every run.
def run_battery(rig, thresholds, period_ms, duration_ms, *, recorder=None, health=None):
    rec = recorder or Recorder()
    health = health or Health()
    state = {}
    levels = {}
    nxt = 0
    warm_at = -1
    wakes = 0
    runs = 0
    while True:
        now = vclock.scenario_ms()
        t = nxt if warm_at < 0 else min(nxt, warm_at)
        wake = rig.next_wake(now, t) if runs else None
        if wake is not None:
            t = wake
        if t >= duration_ms:
            break
        if now < t:
            vclock.sleep_ms(t - now)
        woken = [n for n, pin in rig.wake_inputs() if n in levels and pin.value() != levels[n]]
        kit = make_kit(rig.kit_name, rig.hw(), thresholds, rec, health)
        node = _Node(kit, rec)
        kit.restore(state)
        kit.start()
        if warm_at >= 0:
            kit.warm(max(0, warm_at - t))
        for name in woken:
            kit.on_wake(name)
        duty.finish_warmup(node)
        if t >= nxt:
            kit.sample()
            rec.flush()
            duty.finish_warmup(node)
            wakes += 1
            while nxt <= t:
                nxt += period_ms
        w = kit.warming()
        warm_at = -1 if w < 0 else vclock.scenario_ms() + w
        state = json.loads(json.dumps(kit.state()))
        kit.sleep()
        levels = rig.levels()
        runs += 1
    return {"wakes": wakes, "runs": runs, "state": state, "switches": rig.switch_log}


# Runs a mains kit: poll() stepping in virtual time, sample() every period_ms.
def run_mains_polled(rig, thresholds, period_ms, duration_ms, *, recorder=None, health=None):
    rec = recorder or Recorder()
    health = health or Health()
    kit = make_kit(rig.kit_name, rig.hw(), thresholds, rec, health)
    kit.start()
    kit._arm()
    next_sample = period_ms
    while vclock.scenario_ms() < duration_ms:
        delay = kit.poll()
        if vclock.scenario_ms() + delay >= next_sample:
            vclock.sleep_ms(next_sample - vclock.scenario_ms())
            kit.sample()
            next_sample += period_ms
        else:
            vclock.sleep_ms(delay)
    return kit


# The same under asyncio: watch() and a sampler task, as the app runs them.
def run_mains_async(rig, thresholds, period_ms, duration_ms, *, recorder=None, health=None):
    import asyncio

    rec = recorder or Recorder()
    health = health or Health()
    kit = make_kit(rig.kit_name, rig.hw(), thresholds, rec, health)
    kit.start()

    async def sampler():
        while True:
            await asyncio.sleep_ms(period_ms)
            kit.sample()

    async def main():
        watcher = asyncio.create_task(kit.watch())
        s = asyncio.create_task(sampler())
        await asyncio.sleep_ms(duration_ms - vclock.scenario_ms())
        watcher.cancel()
        s.cancel()
        await asyncio.sleep_ms(0)

    asyncio.run(main())
    return kit
