# Power cut at every block write (program or erase) of a workload on the
# node's flash: the queue (put, ack, drop, the state file's mark), the config
# save and the loader's boot state. Real littlefs (vfs.VfsLfs2) on the
# simulated NOR chip (hardware/flash/nor.py), real MicroPython.
#
# stdin: {"dir": DIR, "workload": NAME, "keeps": [null, 0, -1], "blocks": N}
# For each keep (bytes of the torn write that land: null = half, 0 = none,
# -1 = all but the last) and each k = 1, 2, ...: copy the base image, boot,
# cut the power at the k-th write of the workload, boot again (a new chip
# object, littlefs mounted again) and check what the node finds against a
# model of what the workload had done when the power went. Until k passes the
# workload's write count. Prints "@@RESULT@@ " + {"runs": [...], "violations": [...]}.
import json
import os
import sys

import fwflash

from firmware import loader
from firmware.app import config
from firmware.app.queue import FlashQueue, QueueFull

REQ = json.loads(sys.stdin.read())
WORK = REQ["dir"]
BASE = WORK + "/base.img"
IMG = WORK + "/work.img"
BLOCKS = REQ.get("blocks", 64)
NODE = "ja-hyd-000001"
violations = []


def violation(text):
    if len(violations) < 20:
        violations.append(text)


_chunk = bytearray(8192)


def copy(src, dst):
    with open(src, "rb") as f, open(dst, "wb") as g:
        while True:
            n = f.readinto(_chunk)
            if not n:
                break
            g.write(memoryview(_chunk)[:n])


def key_of(name):
    return name[0], int(name[1:9], 16), int(name[9:17], 16)


# -- the queue -----------------------------------------------------------------

LIMITS = {"max_batches": 4, "max_alarms": 2}


class QueueModel:
    # What the workload did, as far as the node could know when the power went.
    def __init__(self, q):
        self.epoch = q.epoch
        self.present = set()  # put() returned, not acked: must survive
        self.maybe = set()  # put, ack or drop interrupted: whole or absent
        self.acked = set()  # ack() returned: must stay deleted
        self.handed = -1  # highest seq handed out
        for path in q.head(1000):
            self.present.add(path.split("/")[-1])

    def name(self, kind, epoch, seq):
        return "%s%08x%08x" % (kind, epoch, seq)


def q_put(q, m, bdev, alarm):
    epoch, seq = q.reserve()
    m.handed = max(m.handed, seq)
    kind = "a" if alarm else "b"
    name = m.name(kind, epoch, seq)
    victim = None
    full = len(q.alarms) >= q.max_alarms if alarm else len(q.batches) >= q.max_batches
    if full and len(q.batches):
        victim = m.name("b", q.epoch, q.batches[0])
        m.present.discard(victim)
        m.maybe.add(victim)
    m.maybe.add(name)
    try:
        q.put(seq, fwflash.message(NODE, epoch, seq, alarm), alarm)
    except QueueFull:
        m.maybe.discard(name)
        return
    if bdev.powered:
        m.maybe.discard(name)
        m.present.add(name)
        if victim is not None:
            m.maybe.discard(victim)
            m.acked.add(victim)  # dropped for good: must not come back


def q_ack(q, m, bdev, name):
    _kind, epoch, seq = key_of(name)
    m.present.discard(name)
    m.maybe.add(name)
    q.ack(epoch, seq)
    if bdev.powered:
        m.maybe.discard(name)
        m.acked.add(name)


def q_check(m, bdev):
    try:
        q = FlashQueue("q", **LIMITS)
    except Exception as e:
        violation("queue does not open: %r" % (e,))
        return
    files = [n for n in os.listdir("q") if n != "state.json"]
    for name in files:
        if name.endswith(".tmp"):
            violation("temp file left after open: %s" % name)
            continue
        kind, epoch, seq = key_of(name)
        data = fwflash.read("q/" + name)
        if data != fwflash.message(NODE, epoch, seq, kind == "a"):
            violation("%s holds something else (%d bytes)" % (name, len(data or b"")))
        if name in m.acked:
            violation("%s was acked (or dropped) and is back" % name)
        elif name not in m.present and name not in m.maybe:
            violation("%s is an item nobody put" % name)
    for name in m.present:
        if name not in files:
            violation("%s was stored (put returned) and is lost" % name)
    if q.epoch != m.epoch:
        violation("the epoch changed: the state file was lost")
    epoch, seq = q.reserve()
    if epoch == m.epoch and seq <= m.handed:
        violation("seq %d reused (handed out up to %d)" % (seq, m.handed))
    try:
        q.put(seq, fwflash.message(NODE, epoch, seq), False)
        if not q.ack(epoch, seq):
            violation("the queue lost an item put after the reboot")
    except OSError as e:
        violation("the queue does not take writes after the reboot: %r" % (e,))


def q_setup(legacy):
    def setup():
        q = FlashQueue("q", **LIMITS)
        if legacy:
            # two items of an earlier epoch whose state file was lost
            for alarm in (False, True):
                epoch, seq = q.reserve()
                q.put(seq, fwflash.message(NODE, epoch, seq, alarm), alarm)
            os.remove("q/state.json")
            q = FlashQueue("q", **LIMITS)
        for alarm in (False, True, False, False):
            epoch, seq = q.reserve()
            q.put(seq, fwflash.message(NODE, epoch, seq, alarm), alarm)

    return setup


def wl_put(q, m, bdev):
    # appends, one of them over the batch limit (drops the oldest batch), and
    # an alarm into a full alarm area (drops a batch for it)
    for alarm in (False, True, False, True):
        q_put(q, m, bdev, alarm)


def wl_ack(q, m, bdev):
    names = [p.split("/")[-1] for p in q.head(100)]
    for name in (names[0], names[3], names[2], names[-1], names[1]):
        q_ack(q, m, bdev, name)
    q_put(q, m, bdev, False)


def wl_mark(q, m, bdev):
    # a reboot's state rewrite, then reserves across the high-water mark
    q.open()
    for _ in range(66):
        _epoch, seq = q.reserve()
        m.handed = max(m.handed, seq)
    q_put(q, m, bdev, False)


def wl_cycle(q, m, bdev):
    # a node's life in fast motion: readings and alarms queued, acks deleting
    # them, over and over, so littlefs compacts and relocates its metadata
    for _ in range(10):
        q_put(q, m, bdev, False)
        q_put(q, m, bdev, True)
        names = [p.split("/")[-1] for p in q.head(3)]
        for name in names[:2]:
            q_ack(q, m, bdev, name)


# -- config and loader state -------------------------------------------------------

CFG = {"format": 1, "node_id": NODE, "kit": "hydrant", "edge": {"tcp": ["10.0.0.1:7000"]}}


def cfg_variant(i):
    c = json.loads(json.dumps(CFG))
    c["sample_s"] = 900 + i
    c["config_version"] = i
    c["thresholds"] = {"pressure_low_pa": 150000 + i}
    return c


def cfg_setup():
    config.save(cfg_variant(0))
    os.mkdir("cfg") if "cfg" not in os.listdir() else None
    fwflash.write("cfg/key.bin", b"k" * 32)
    fwflash.write("cfg/board.json", json.dumps({"format": 1, "board": "x", "kit": "hydrant"}))


def cfg_steps():
    return [lambda i=i: config.save(cfg_variant(i)) for i in (1, 2)]


def cfg_read():
    try:
        cfg, _key, _board = config.load()
    except config.ConfigError as e:
        return "ConfigError: %s" % e
    return cfg["config_version"]


def boot_state_0():
    st = loader.read_state()
    st["boots"] = 41
    st["failures"] = 1
    st["active"] = "b"
    st["bad"] = ["a"]
    return st


def loader_setup():
    loader.write_state(boot_state_0())


def loader_boot():
    st = loader.read_state()
    loader.decide(st, 1)
    loader.write_state(st)


def loader_steps():
    return [lambda: loader.set_trial("a"), loader_boot, loader.confirm, loader_boot]


def loader_read():
    text = fwflash.read("boot.json")
    if text is None:
        return "missing"
    try:
        return json.loads(text)
    except ValueError:
        return "corrupt"


# -- the sweep -------------------------------------------------------------------------


def make_base(setup):
    fwflash.create(BASE, BLOCKS)
    bdev = fwflash.mount(BASE)
    setup()
    fwflash.unmount(bdev)


def sweep_queue(setup, work, keep):
    make_base(setup)
    k = 0
    while True:
        k += 1
        copy(BASE, IMG)
        bdev = fwflash.mount(IMG)
        q = FlashQueue("q", **LIMITS)
        m = QueueModel(q)
        bdev.cut_after_writes(k, keep)
        try:
            work(q, m, bdev)
        except OSError:
            pass
        done = bdev.powered
        writes = bdev.writes
        erases = bdev.erases
        if bdev.bad_writes:
            violation("k=%d: littlefs programmed unerased flash" % k)
        fwflash.unmount(bdev)
        bdev = fwflash.mount(IMG)
        before = len(violations)
        q_check(m, bdev)
        for i in range(before, len(violations)):
            violations[i] = "keep=%r k=%d: %s" % (keep, k, violations[i])
        fwflash.unmount(bdev)
        if done:
            return {"keep": keep, "cuts": k - 1, "writes": writes, "erases": erases}


def sweep_steps(setup, steps, read):
    # Each step rewrites one record; after a cut the record must be the one
    # before the interrupted step or the one after it, never anything else.
    make_base(setup)
    copy(BASE, IMG)
    bdev = fwflash.mount(IMG)
    states = [read()]
    for step in steps():
        step()
        states.append(read())
    fwflash.unmount(bdev)
    runs = []
    for keep in REQ["keeps"]:
        k = 0
        while True:
            k += 1
            copy(BASE, IMG)
            bdev = fwflash.mount(IMG)
            bdev.cut_after_writes(k, keep)
            done_steps = 0
            try:
                for step in steps():
                    step()
                    if not bdev.powered:
                        break
                    done_steps += 1
            except OSError:
                pass
            done = bdev.powered
            writes = bdev.writes
            erases = bdev.erases
            fwflash.unmount(bdev)
            bdev = fwflash.mount(IMG)
            got = read()
            allowed = states[done_steps : done_steps + 2]
            if got not in allowed:
                violation(
                    "keep=%r k=%d after %d steps: found %r, allowed %r"
                    % (keep, k, done_steps, got, allowed)
                )
            fwflash.unmount(bdev)
            if done:
                runs.append({"keep": keep, "cuts": k - 1, "writes": writes, "erases": erases})
                break
    return runs, states


workload = REQ["workload"]
out = {"workload": workload}
if workload in ("put", "ack", "mark", "cycle"):
    work = {"put": wl_put, "ack": wl_ack, "mark": wl_mark, "cycle": wl_cycle}[workload]
    setup = q_setup(workload == "ack")
    out["runs"] = [sweep_queue(setup, work, keep) for keep in REQ["keeps"]]
elif workload == "config":
    out["runs"], out["states"] = sweep_steps(cfg_setup, cfg_steps, cfg_read)
elif workload == "loader":
    out["runs"], out["states"] = sweep_steps(loader_setup, loader_steps, loader_read)
out["violations"] = violations
print("@@RESULT@@ " + json.dumps(out))
