# The entry of a virtual battery node whose duty cycle is measured for the
# energy model (benchmarks/node.py): hardware/hal/boot.py imports this module
# instead of the flash's main.py. It reads the load switches' meters (the
# board's outputs that power parts: hardware/sim/attach.py), the
# accelerometer's charge (its simulator integrates the current of the modes
# the firmware sets) and the conversions of the DS18B20 and the ADS1115,
# times the link's connection (drain: connect, hello/welcome, send until the
# queue is empty, close) in simulated and in real ms, then runs the node
# exactly as the board would (import main -> loader.boot()) and prints, when
# the process ends (deep sleep):
#   @@DUTY@@ {"start_ms", "awake_ms", "awake_real_ms", "reset_cause",
#             "wake_reason", "switch_on_ms": {gpio: ms}, "held": [gpio, ...],
#             "accel_nams", "accel_sleep_na", "conversions": {part: n},
#             "links": [{"start_ms", "ms", "real_ms", "welcome_ms", "ok"}],
#             "frames_out", "sleep_ms"}
# start_ms is scenario time; a switch in "held" stays on through the sleep.
import json
import sys

import machine
import simclock

from hardware.sim import attach

_real = simclock._rt

T0 = simclock.now_ms()
R0 = _real.ticks_ms()
parts = attach.parts
accel = parts.get("accel")
A0 = accel.charge_nams() if accel is not None else 0
# the parts (keys of hardware/kits.py) whose conversions the energy model charges
C0 = {key: parts[key].conversions for key in ("temp", "adc") if key in parts}
record = {
    "start_ms": T0,
    "reset_cause": machine.reset_cause(),
    "wake_reason": machine.wake_reason(),
    "links": [],
}

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
    switches = parts.get("power", {})
    record["switch_on_ms"] = {name: sw.total(now) for name, sw in switches.items()}
    record["held"] = [name for name, sw in switches.items() if sw.on_at is not None]
    if accel is not None:
        record["accel_nams"] = accel.charge_nams() - A0
        record["accel_sleep_na"] = accel.current_na()
    record["conversions"] = {k: parts[k].conversions - n for k, n in C0.items()}
    record["sleep_ms"] = ms
    sys.stdout.write("@@DUTY@@ " + json.dumps(record) + "\n")
    _deepsleep(ms)


machine.deepsleep = deepsleep
__import__("main")
