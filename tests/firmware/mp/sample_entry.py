# Sampling throughput of a virtual node (benchmarks/node.py): under
# hardware/hal/boot.py with the kit's chip simulators attached, the firmware
# of app slot a (.mpy from mpy-cross) samples through its real drivers and
# kit, records SenML into its recorder and queues batches on littlefs, as fast
# as the unix port goes (simulated waits are short at a high speed). In the
# same process, two baselines: the recorder alone (encode + queue, no
# sampling) and the wire alone (PackWriter records, no queue).
# Prints "@@SAMPLE@@ " + {"samples", "readings", "seconds", "readings_per_s",
# "recorder_readings_per_s", "wire_readings_per_s"}.
import json
import sys

import simclock

SAMPLES = int(__import__("os").getenv("FWTEST_SAMPLES") or "200")
_real = simclock._rt

sys.path.insert(0, "a")
from firmware.app import clock  # noqa: E402
from firmware.app import config as config_mod  # noqa: E402
from firmware.app import hw as hw_mod  # noqa: E402
from firmware.app.health import Health  # noqa: E402
from firmware.app.kits import make_kit  # noqa: E402
from firmware.app.queue import FlashQueue  # noqa: E402
from firmware.app.recorder import Recorder  # noqa: E402
from firmware.wire import protocol as P  # noqa: E402
from firmware.wire.senml import PackWriter  # noqa: E402


def seconds_since(t0):
    return _real.ticks_diff(_real.ticks_us(), t0) / 1e6


cfg, key, board = config_mod.load()
clock.set_wall(1790000000)
queue = FlashQueue("q")
recorder = Recorder(queue, cfg["node_id"], cfg["batch_readings"])
health = Health()
kit = make_kit(cfg["kit"], hw_mod.build(board), cfg["thresholds"], recorder, health)
kit.start()


# A sample and, when it started a warm-up (the manhole's gas module, which a
# node sleeps through), the reading at its end.
def sample():
    kit.sample()
    if kit.warming() >= 0:
        kit.resume()


sample()  # first sample: baselines, identities
before = recorder.readings
t0 = _real.ticks_us()
for _ in range(SAMPLES):
    sample()
took = seconds_since(t0)
readings = recorder.readings - before
out = {
    "kit": cfg["kit"],
    "samples": SAMPLES,
    "readings": readings,
    "seconds": took,
    "readings_per_s": readings / took,
    "faults": health.faults,
}

n = 2000
t0 = _real.ticks_us()
for i in range(n):
    recorder.reading("pressure", 350000 + i)
out["recorder_readings_per_s"] = n / seconds_since(t0)

buf = bytearray(P.BATCH_HEAD_MAX + 1024)
pack = PackWriter(buf, P.BATCH_HEAD_MAX)
n = 20000
t0 = _real.ticks_us()
for i in range(n):
    if pack.count == 0:
        pack.add("pressure", "Pa", 350000 + i, 0, 0, "ja-hyd-000001:", 1790000000)
    else:
        pack.add("pressure", "Pa", 350000 + i, 0, i)
    if pack.count >= 20:
        pack.finish()
        pack.reset()
out["wire_readings_per_s"] = n / seconds_since(t0)
sys.stdout.write("@@SAMPLE@@ " + json.dumps(out) + "\n")
