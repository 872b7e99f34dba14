# The flash queue (firmware/app/queue.py + store.py) on real littlefs over the
# simulated NOR chip, under the real MicroPython. Reads {"case": NAME, "dir":
# DIR} on stdin and prints "@@RESULT@@ " + JSON: what the case observed (the
# pytest side asserts on it). A "reboot" is a new chip object on the same
# image file, littlefs mounted again and a new FlashQueue.
import json
import os
import sys

import fwflash

from firmware.app.queue import MARK_STEP, FlashQueue, QueueFull

REQ = json.loads(sys.stdin.read())
IMAGE = REQ["dir"] + "/q.img"
NODE = "ja-hyd-000001"
sent = {}  # file name -> message bytes


class Board:
    def __init__(self, blocks=128, **limits):
        self.limits = limits
        fwflash.create(IMAGE, blocks)
        self.bdev = fwflash.mount(IMAGE)
        self.q = FlashQueue("q", **limits)

    def reboot(self):
        fwflash.unmount(self.bdev)
        self.bdev = fwflash.mount(IMAGE)
        self.q = FlashQueue("q", **self.limits)
        return self.q

    def put(self, alarm=False):
        q = self.q
        epoch, seq = q.reserve()
        msg = fwflash.message(NODE, epoch, seq, alarm)
        q.put(seq, msg, alarm)
        sent["%s%08x%08x" % ("a" if alarm else "b", epoch, seq)] = msg
        return seq

    def files(self):
        return sorted(n for n in os.listdir("q") if n != "state.json")

    def head(self, n=100):
        return [p.split("/")[-1] for p in self.q.head(n)]

    def contents_ok(self):
        buf = bytearray(1024)
        for path in self.q.head(1000):
            n = self.q.read_into(path, buf)
            if bytes(buf[:n]) != sent.get(path.split("/")[-1]):
                return False
        return True

    def state(self):
        return json.loads(fwflash.read("q/state.json"))


def case_order(b):
    b.put()
    b.put()
    b.put(alarm=True)
    b.put()
    b.put(alarm=True)
    q = b.q
    return {
        "head": b.head(),
        "head2": b.head(2),
        "files": b.files(),
        "epoch": q.epoch,
        "depth": q.depth(),
        "contents_ok": b.contents_ok(),
        "messages": {name: sent[name].hex() for name in b.files()},
    }


def case_ack(b):
    seqs = [b.put(), b.put(alarm=True), b.put(), b.put()]
    q = b.q
    out = {"epoch": q.epoch, "seqs": seqs}
    out["ack_batch"] = q.ack(q.epoch, seqs[2])
    out["after_batch"] = b.files()
    out["ack_alarm"] = q.ack(q.epoch, seqs[1])
    out["ack_again"] = q.ack(q.epoch, seqs[1])
    out["ack_unknown"] = q.ack(q.epoch, 999)
    out["ack_other_epoch"] = q.ack(q.epoch ^ 1, seqs[0])
    out["ack_rejected"] = q.ack(q.epoch, seqs[3], True)
    out["rejected"] = q.rejected
    out["left"] = b.files()
    out["head"] = b.head()
    q = b.reboot()
    out["after_reboot"] = b.files()
    out["rejected_after_reboot"] = q.rejected
    return out


def case_reboot(b):
    out = {"seqs": [b.put(), b.put(alarm=True), b.put()]}
    epoch = b.q.epoch
    out["head_before"] = b.head()
    q = b.reboot()
    out["epoch_same"] = q.epoch == epoch
    out["head_after"] = b.head()
    out["contents_ok"] = b.contents_ok()
    out["seq_after_reboot"] = b.put()
    # ack everything: the queue is empty, the numbering must still go on
    for name in b.head():
        q.ack(int(name[1:9], 16), int(name[9:17], 16))
    out["empty_depth"] = q.depth()
    out["empty_files"] = b.files()
    seqs = []
    for _ in range(4):
        q = b.reboot()
        seqs.append(b.put())  # one item per boot (a battery node's cycle)
        q.ack(q.epoch, seqs[-1])
    # boots that queue nothing
    for _ in range(3):
        q = b.reboot()
    seqs.append(b.put())
    out["seqs_later"] = seqs
    out["epoch_same_later"] = q.epoch == epoch
    out["mark_step"] = MARK_STEP
    # a long run without reboots: the mark moves ahead of the numbers
    many = [b.put() for _ in range(MARK_STEP + 5)]
    for s in many:
        q.ack(q.epoch, s)
    out["many_last"] = many[-1]
    out["mark_after_many"] = b.state()["mark"]
    q = b.reboot()
    out["seq_after_many"] = b.put()
    out["restarts"] = q.epoch_restarts
    return out


def case_lost_state(b):
    old = [b.put(), b.put(alarm=True), b.put()]
    old_epoch = b.q.epoch
    out = {"old_epoch": old_epoch, "old": old}
    results = []
    for damage in ("missing", "garbage", "format", "truncated"):
        q = b.q
        text = fwflash.read("q/state.json")
        if damage == "missing":
            os.remove("q/state.json")
        elif damage == "garbage":
            fwflash.write("q/state.json", b"\xff\x00 not json")
        elif damage == "format":
            fwflash.write("q/state.json", text.replace(b'"format": 1', b'"format": 99'))
        else:
            fwflash.write("q/state.json", text[: len(text) // 2])
        before = q.epoch
        q = b.reboot()
        new_seq = b.put()
        results.append(
            {
                "damage": damage,
                "new_epoch": q.epoch != before,
                "epoch": q.epoch,
                "restarts": q.epoch_restarts,
                "new_seq": new_seq,
                "head": b.head(),
                "legacy": list(q.legacy),
            }
        )
    out["results"] = results
    q = b.q
    out["contents_ok"] = b.contents_ok()
    # legacy items are acked by their own (old) key, in send order
    acked = []
    for name in b.head():
        epoch, seq = int(name[1:9], 16), int(name[9:17], 16)
        acked.append([name, q.ack(epoch, seq)])
    out["acked"] = acked
    out["files_after_acks"] = b.files()
    q = b.reboot()
    out["depth_after_reboot"] = q.depth()
    return out


def case_drop(b):
    q = b.q
    batches = [b.put() for _ in range(5)]  # limit 3: the two oldest go
    out = {"batches": batches, "after_batches": b.files(), "dropped": q.dropped}
    alarms = [b.put(alarm=True), b.put(alarm=True)]  # limit 2: room
    out["after_alarms"] = b.files()
    alarms.append(b.put(alarm=True))  # alarm area full: the oldest batch makes room
    out["after_third_alarm"] = b.files()
    out["dropped_after_third_alarm"] = q.dropped
    while len(q.batches):
        alarms.append(b.put(alarm=True))
    out["alarms"] = alarms
    out["only_alarms"] = b.files()
    try:
        b.put(alarm=True)
        out["full"] = None
    except QueueFull:
        out["full"] = "QueueFull"
    out["after_full"] = b.files()
    out["dropped"] = q.dropped
    # a batch is still accepted when only alarms fill the queue (batch area empty)
    out["batch_when_alarms_full"] = b.put()
    out["contents_ok"] = b.contents_ok()
    q = b.reboot()
    out["dropped_after_reboot"] = q.dropped
    out["head_after_reboot"] = b.head()
    return out


def case_full(b):
    # a flash too small for the count limits: ENOSPC comes first
    q = b.q
    batches = []
    for _ in range(60):
        batches.append(b.put())
    out = {"batches_kept": len(q.batches), "dropped": q.dropped, "last": batches[-1]}
    out["newest_kept"] = q.batches[len(q.batches) - 1] == batches[-1]
    alarms = []
    try:
        while len(alarms) < 60:
            alarms.append(b.put(alarm=True))
        out["alarm_full"] = None
    except QueueFull:
        out["alarm_full"] = "QueueFull"
    out["alarms_kept"] = len(q.alarms)
    out["alarms_put"] = len(alarms)
    out["batches_left"] = len(q.batches)
    before = q.dropped
    b.put()  # no room and no batch to drop: dropped, counted, no exception
    out["batch_dropped_when_full"] = q.dropped - before
    out["contents_ok"] = b.contents_ok()
    q = b.reboot()
    out["alarms_after_reboot"] = len(q.alarms)
    out["dropped_after_reboot"] = q.dropped
    for path in q.head(1000):
        name = path.split("/")[-1]
        q.ack(int(name[1:9], 16), int(name[9:17], 16))
    out["after_acks"] = b.files()
    out["put_after_acks"] = b.put() > 0
    return out


CASES = {
    "order": (case_order, {}),
    "ack": (case_ack, {}),
    "reboot": (case_reboot, {}),
    "lost_state": (case_lost_state, {}),
    "drop": (case_drop, {"max_batches": 3, "max_alarms": 2}),
    "full": (case_full, {"blocks": 24}),
}

fn, limits = CASES[REQ["case"]]
board = Board(**limits)
result = fn(board)
result["bad_writes"] = board.bdev.bad_writes
fwflash.unmount(board.bdev)
print("@@RESULT@@ " + json.dumps(result))
