# The entry of a virtual battery node whose duty cycle is measured for the
# energy model (benchmarks/node.py): hardware/hal/boot.py imports this module
# instead of the flash's main.py. It meters the sensor power switch (the
# board's "sensor_power" output), times the link's connection (drain: connect,
# hello/welcome, send until the queue is empty, close) in simulated and in
# real ms, then runs the node exactly as the board would (import main ->
# loader.boot()) and prints, when the process ends (deep sleep):
#   @@DUTY@@ {"awake_ms", "awake_real_ms", "sensor_on_ms", "links": [{"ms",
#             "real_ms", "welcome_ms", "ok"}], "frames_out", "sleep_ms"}
import json
import sys

import machine
import simclock

from hardware.hal import registry

_real = simclock._rt


class PowerSwitch:
    # a pin source that meters how long an output is driven high
    def __init__(self):
        self.on_at = None
        self.on_ms = 0

    def value(self, now):
        return 1 if self.on_at is not None else 0

    def drive(self, level, now):
        if level and self.on_at is None:
            self.on_at = now
        elif not level and self.on_at is not None:
            self.on_ms += now - self.on_at
            self.on_at = None

    def total(self, now):
        return self.on_ms + (0 if self.on_at is None else now - self.on_at)


T0 = simclock.now_ms()
R0 = _real.ticks_ms()
record = {"links": []}
switch = PowerSwitch()
with open("cfg/board.json") as _f:
    _board = json.loads(_f.read())
for _name, _gpio in _board.get("gpio", {}).items():
    if _gpio.get("dir") == "out" and _name == "sensor_power":
        registry.attach_pin(_gpio["pin"], switch)

# the firmware the loader will start, imported first from the same slot so
# that its link can be timed (the loader then finds it in sys.modules)
sys.path.insert(0, "a")
from firmware.app import link  # noqa: E402

sys.path.pop(0)
_drain = link.Link.drain
_connect = link.Link._connect


async def timed_drain(self, deadline_s):
    t = simclock.now_ms()
    r = _real.ticks_ms()
    entry = {"start_ms": t - T0}
    record["links"].append(entry)
    ok = await _drain(self, deadline_s)
    entry["ms"] = simclock.now_ms() - t
    entry["real_ms"] = _real.ticks_diff(_real.ticks_ms(), r)
    entry["ok"] = ok
    record["frames_out"] = self.stats.frames_out
    return ok


async def timed_connect(self):
    t = simclock.now_ms()
    up = await _connect(self)
    if record["links"]:
        record["links"][-1]["welcome_ms"] = simclock.now_ms() - t
    return up


link.Link.drain = timed_drain
link.Link._connect = timed_connect
_deepsleep = machine.deepsleep


def deepsleep(ms=None):
    now = simclock.now_ms()
    record["awake_ms"] = now - T0
    record["awake_real_ms"] = _real.ticks_diff(_real.ticks_ms(), R0)
    record["sensor_on_ms"] = switch.total(now)
    record["sleep_ms"] = ms
    sys.stdout.write("@@DUTY@@ " + json.dumps(record) + "\n")
    _deepsleep(ms)


machine.deepsleep = deepsleep
__import__("main")
