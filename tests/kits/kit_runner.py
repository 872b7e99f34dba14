# Runs kit cases in one process, under MicroPython (the shadow time/select of
# tests/kits/shadow first on MICROPYPATH) or CPython (the virtual clock is
# patched into the time module before the firmware is imported). Reads a JSON
# request on stdin: {"cases": [CASE, ...]}, prints "@@CASE@@ " + the JSON
# result of each case, then "@@RESULT@@ " + the number of cases. CASE:
#   {"name": ..., "board": {board file}, "scenario": "hydrant.impact",
#    "mode": "battery" | "mains_async" | "mains_polled",
#    "thresholds": {...}, "period_ms": P, "duration_ms": D,
#    "faults": ["adxl345:nack", ...], "fault_schedule": [[t_ms, "chip:fault",
#    on], ...], "zero_ref": true, "e2e": false, "switches": false}
# switches: the battery run's log of the load switches, [t_ms, output, on].
# e2e (MicroPython): the real Recorder over a FlashQueue on littlefs in a RAM
# block device; the queued messages come back as hex.

import gc
import json
import sys

MICROPYTHON = sys.implementation.name == "micropython"
if not MICROPYTHON:
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    sys.path.insert(0, os.path.dirname(os.path.dirname(here)))
    import vclock

    vclock.patch_cpython_time()

import rig  # noqa: E402
import vclock  # noqa: E402

MARK = "@@RESULT@@ "
CASE = "@@CASE@@ "


class RamBlocks:
    def __init__(self, blocks, size=512):
        self.size = size
        self.blocks = blocks
        self.data = bytearray(blocks * size)

    def readblocks(self, n, buf, off=0):
        a = n * self.size + off
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, n, buf, off=None):
        if off is None:
            off = 0
        a = n * self.size + off
        self.data[a : a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.size
        if op == 6:
            a = arg * self.size
            for i in range(self.size):
                self.data[a + i] = 0xFF
            return 0
        return 0


def flash_recorder(node_id, batch):
    import os

    import vfs

    from firmware.app import clock
    from firmware.app.queue import FlashQueue
    from firmware.app.recorder import Recorder

    bdev = RamBlocks(256)
    vfs.VfsLfs2.mkfs(bdev)
    vfs.mount(vfs.VfsLfs2(bdev), "/flash")
    os.chdir("/flash")
    clock.set_wall(1700000000)
    q = FlashQueue("q", 64, 32)
    return Recorder(q, node_id, batch), q


def unmount():
    import os

    import vfs

    os.chdir("/")
    vfs.umount("/flash")


def queued(q):
    out = []
    buf = bytearray(2048)
    for path in q.head(1000):
        n = q.read_into(path, buf)
        out.append([path, bytes(buf[:n]).hex()])
    return out


def run_case(case):
    vclock.set_origin()
    vclock.hooks[:] = []
    r = rig.Rig(case["board"], case["scenario"], case.get("faults", ()), case.get("zero_ref", True))
    if case.get("fault_schedule"):
        rig.FaultSchedule(r, case["fault_schedule"])
    rec = rig.Recorder()
    health = rig.Health()
    q = None
    if case.get("e2e"):
        rec, q = flash_recorder("node-1", 16)
    mode = case["mode"]
    th = case.get("thresholds", {})
    period = case["period_ms"]
    duration = case["duration_ms"]
    out = {"name": case.get("name", "")}
    if mode == "battery":
        out["run"] = rig.run_battery(r, th, period, duration, recorder=rec, health=health)
        if not case.get("switches"):
            del out["run"]["switches"]
    elif mode == "mains_polled":
        kit = rig.run_mains_polled(r, th, period, duration, recorder=rec, health=health)
        out["run"] = {"state": kit.state(), "trips_total": kit.trips_total}
    else:
        kit = rig.run_mains_async(r, th, period, duration, recorder=rec, health=health)
        out["run"] = {"state": kit.state(), "trips_total": kit.trips_total, "presses": kit.presses}
        out["irqs"] = sum(p.fired for p in r.pins.values())
    out["faults"] = health.faults
    out["health_log"] = health.log
    if q is None:
        out["readings"] = rec.readings
        out["alarms"] = rec.alarms
    else:
        rec.flush()
        out["queued"] = queued(q)
        unmount()
    out["end_ms"] = vclock.scenario_ms()
    return out


# Each result is printed on its own line as it is done (one big JSON document
# of every case would need a large block of a fragmented heap).
def main():
    req = json.loads(sys.stdin.read())
    n = 0
    for case in req["cases"]:
        print(CASE + json.dumps(run_case(case)))
        n += 1
        gc.collect()
    print(MARK + json.dumps(n))


main()
