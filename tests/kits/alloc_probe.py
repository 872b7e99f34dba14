# Measures heap allocation per sample of the kits' high-rate paths under
# MicroPython, with the firmware drivers on an I2C bus stub that allocates
# nothing itself (the chip simulators allocate on every transfer, and they
# share the heap). Prints "@@RESULT@@ " + {path: bytes per sample}.

import gc
import json
from array import array

import vclock

from firmware.app.detect.accel import Vibration, Window
from firmware.app.detect.burst import Burst
from firmware.app.drivers.adxl345 import ADXL345
from firmware.app.kits import make_kit


class StubI2C:
    # Registers per (address, register); writes to ADS1115 Hi_thresh are
    # kept (its identity check reads them back), other writes are ignored.
    def __init__(self):
        self.regs = {}

    def set(self, addr, reg, data):
        self.regs[addr * 256 + reg] = bytearray(data)

    def readfrom_mem_into(self, addr, reg, buf):
        data = self.regs.get(addr * 256 + reg)
        for i in range(len(buf)):
            buf[i] = data[i] if data is not None and i < len(data) else 0

    def writeto_mem(self, addr, reg, buf):
        if addr == 0x48 and reg == 3:
            d = self.regs.get(addr * 256 + reg)
            d[0] = buf[0]
            d[1] = buf[1]


def bus(conversion):
    b = StubI2C()
    b.set(0x53, 0x00, b"\xe5")
    b.set(0x53, 0x32, b"\x01\x00\x02\x00\x00\x01")
    b.set(0x53, 0x39, b"\x20")
    b.set(0x48, 0x01, b"\x80\x00")
    b.set(0x48, 0x00, conversion)
    b.set(0x48, 0x03, b"\x7f\xff")
    return b


class Rec:
    def reading(self, name, v):
        pass

    def flag(self, name, v):
        pass

    def alarm(self, kind, severity, records):
        pass


class Health:
    def fault(self, part, reason=""):
        pass

    def clear(self, part):
        pass


def measure(fn, samples):
    fn()  # warm up (first-call allocations: caches, attribute tables)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn()
    after = gc.mem_alloc()
    gc.enable()
    return (after - before) / samples


def board(kit):
    parts = {
        "accel": {"address": 0x53, "facts": {}},
        "adc": {"address": 0x48, "facts": {"inputs": {"AIN0": "pressure"}}},
    }
    if kit == "hydrant":
        facts = {"shunt_ohm": 150, "loop_ua": [4000, 20000], "range_kpa": 1600}
        parts["adc"]["facts"].update(facts)
        parts["loop_power"] = {"facts": {"warmup_ms": 100}}
    else:
        parts["adc"]["facts"]["inputs"] = {"AIN0": "motor_current"}
        parts["adc"]["facts"]["uv_per_ma"] = 50
    return {"kit": kit, "parts": parts, "gpio": {}, "adc": {}, "uart": {}, "onewire": None}


def main():
    out = {}
    b = bus(b"\x23\x28")
    acc = ADXL345(b)
    acc.start(100, 16, False)
    win = Window(16)
    base = array("i", [0, 0, 1000])

    def windows():
        for _ in range(50):
            win.capture(acc, 10)
            win.analyse(base, 16000)

    out["accel_window_per_sample"] = measure(windows, 50 * 16)

    vib = Vibration()
    vib.begin(0, 0, 1000)
    buf = array("h", [3, -2, 1010] * 32)

    def feed():
        for _ in range(100):
            vib.feed(buf, 32)

    out["vibration_feed_per_sample"] = measure(feed, 100 * 32)

    burst = Burst()

    def bursts():
        for _ in range(20):
            burst.begin(96)
            for i in range(250):
                burst.add(350000 + (i & 7) * 1000, 125000)

    out["burst_add_per_sample"] = measure(bursts, 20 * 250)

    hw = {"board": board("hydrant"), "i2c": b, "pins": {}, "outputs": {}, "adc": {}, "uart": {}}
    hyd = make_kit("hydrant", hw, {}, Rec(), Health())
    hyd.adc.start()
    counted = [0]

    def hydrant_bursts():
        for _ in range(10):
            hyd._burst(500, 96)
            counted[0] += hyd.burst.n

    per = measure(hydrant_bursts, 1)
    out["hydrant_burst_per_sample"] = per / (counted[0] / 2)  # measure() ran it twice

    hw = {"board": board("elevator"), "i2c": b, "pins": {}, "outputs": {}, "adc": {}, "uart": {}}
    el = make_kit("elevator", hw, {}, Rec(), Health())
    el.start()

    def idle():
        for _ in range(200):
            el.poll()
            vclock.sleep_ms(250)

    out["elevator_idle_check"] = measure(idle, 200)
    el._begin_trip(vclock.ticks_ms(), 20000)
    el.in_trip = True

    def trip():
        for _ in range(100):
            el._trip_step(vclock.ticks_ms(), 20000)
            vclock.sleep_ms(200)

    out["elevator_trip_step_per_sample"] = measure(trip, 100 * 32)
    print("@@RESULT@@ " + json.dumps(out))


main()
