# The node's power-loss-safe queue of batches and alarms on flash (littlefs).
#
# Each item is one file holding the complete encoded message (batch or alarm,
# with its idempotency key inside), written under a temp name and renamed into
# place, so after a power cut at any instant an item is either whole or absent.
# An item is deleted only when an authenticated ack for its key arrives.
#
# Idempotency keys are (epoch, seq). seq rises by one per queued item and is
# never reused: the state file records a high-water mark MARK_STEP ahead of the
# last seq handed out, and after a reboot numbering resumes at that mark (a few
# numbers may be skipped, none repeated). When the state file is lost the queue
# starts a new random epoch, so a key is never reused either way.
#
# Bounds and drop policy: at most max_batches periodic batches and max_alarms
# alarms. A new batch over the limit deletes the oldest batch, counted in
# "dropped". Alarms are never dropped: when the alarm area is full, the oldest
# periodic batch is dropped to make room (counted); with no batch left, put()
# raises QueueFull and the caller keeps the alarm in RAM and retries. The same
# holds when the flash fills up before the count limits are reached (ENOSPC):
# the oldest batch makes room; a batch that finds none is dropped (counted).
#
# File names: kind ("a" alarm, "b" batch) + epoch (8 hex) + seq (8 hex).
# Send order: alarms by seq, then batches by seq; items of an earlier epoch
# (kept when the state file was lost) go first within their kind.

import os
from array import array

from firmware.app import store

try:
    from micropython import const
except ImportError:

    def const(x: int) -> int:  # type: ignore[misc]
        return x


MARK_STEP = const(64)
_SEQ_MASK = 0xFFFFFFFF
# a full flash: ENOSPC, or ENAMETOOLONG, which littlefs reports instead when
# the full flash has no room for a new file's name
_FULL = (28, 36)


class QueueFull(Exception):
    pass


class FlashQueue:
    def __init__(self, root: str = "q", max_batches: int = 256, max_alarms: int = 64) -> None:
        self.root = root
        self.state_path = root + "/state.json"
        self.max_batches = max_batches
        self.max_alarms = max_alarms
        self.epoch = 0
        self.next_seq = 0
        self.mark = 0
        self.dropped = 0
        self.rejected = 0
        self.epoch_restarts = 0
        self.batches = array("I")
        self.alarms = array("I")
        self.legacy: list[str] = []  # file names from an earlier epoch, sent first of their kind
        self.open()

    # Reads the state and the directory; call again after a (simulated) reboot.
    def open(self) -> None:
        had_dir = store.exists(self.root)
        store.makedirs(self.root)
        store.sweep(self.root)
        state = store.read_json(self.state_path)
        if state is None:
            self.epoch = int.from_bytes(os.urandom(4), "big") & 0x3FFFFFFF
            self.next_seq = 0
            self.dropped = 0
            self.rejected = 0
            # a queue directory without a readable state: its epoch was lost
            self.epoch_restarts = 1 if had_dir else 0
        else:
            self.epoch = state["epoch"]
            self.next_seq = state["mark"]
            self.dropped = state.get("dropped", 0)
            self.rejected = state.get("rejected", 0)
            self.epoch_restarts = state.get("restarts", 0)
        batches: list[int] = []
        alarms: list[int] = []
        self.legacy = []
        for name in os.listdir(self.root):
            if len(name) != 17 or name[0] not in "ab":
                continue
            try:
                epoch = int(name[1:9], 16)
                seq = int(name[9:17], 16)
            except ValueError:
                continue
            if epoch != self.epoch:
                self.legacy.append(name)
            elif name[0] == "a":
                alarms.append(seq)
            else:
                batches.append(seq)
            if epoch == self.epoch and seq >= self.next_seq:
                self.next_seq = seq + 1
        batches.sort()
        alarms.sort()
        self.legacy.sort()
        self.batches = array("I", batches)
        self.alarms = array("I", alarms)
        try:
            self._save_mark()
        except OSError as e:
            # a flash full of alarms: boot anyway so the link can drain them;
            # the mark stays where it is on flash, reserve() tries again
            if e.args[0] not in _FULL:
                raise
            store.sweep(self.root)
            self.mark = self.next_seq

    def _save_mark(self) -> None:
        self.mark = self.next_seq + MARK_STEP
        while True:
            try:
                store.write_json(
                    self.state_path,
                    {
                        "epoch": self.epoch,
                        "mark": self.mark,
                        "dropped": self.dropped,
                        "rejected": self.rejected,
                        "restarts": self.epoch_restarts,
                    },
                )
                return
            except OSError as e:
                if not self._room(e):
                    raise

    # After a write failed: when the flash is full, drops the oldest batch
    # (counted) and returns True so that the write is tried again.
    def _room(self, e: OSError) -> bool:
        if e.args[0] not in _FULL or not len(self.batches):
            return False
        store.sweep(self.root)
        store.remove(self._name("b", self.epoch, self.batches[0]))
        self.batches = self.batches[1:]
        self.dropped += 1
        return True

    def _name(self, kind: str, epoch: int, seq: int) -> str:
        return "%s/%s%08x%08x" % (self.root, kind, epoch, seq)

    # Hands out the next idempotency key; the message must then be stored with put().
    def reserve(self) -> tuple[int, int]:
        seq = self.next_seq
        if seq >= self.mark:
            self._save_mark()
        if seq >= _SEQ_MASK:
            # the sequence space of this epoch is used up: start a new epoch
            self.epoch = (self.epoch + 1) & 0x3FFFFFFF
            self.next_seq = 0
            self._save_mark()
            seq = 0
        self.next_seq = seq + 1
        return self.epoch, seq

    def depth(self) -> int:
        return len(self.batches) + len(self.alarms) + len(self.legacy)

    def _drop_oldest_batch(self) -> bool:
        if not len(self.batches):
            return False
        seq = self.batches[0]
        store.remove(self._name("b", self.epoch, seq))
        self.batches = self.batches[1:]
        self.dropped += 1
        self._save_mark()  # persists the drop counter
        return True

    # Stores an encoded message under a key from reserve(); durable on return.
    def put(self, seq: int, message: bytes | bytearray | memoryview, alarm: bool = False) -> None:
        if alarm:
            if len(self.alarms) >= self.max_alarms and not self._drop_oldest_batch():
                raise QueueFull()
        elif len(self.batches) >= self.max_batches:
            self._drop_oldest_batch()
        name = self._name("a" if alarm else "b", self.epoch, seq)
        while True:
            try:
                store.write_bytes(name, message)
                break
            except OSError as e:
                # the flash filled up before the count limits: the oldest batch
                # makes room, as for the limits
                if self._room(e):
                    self._save_mark()  # persists the drop counter
                    continue
                if e.args[0] not in _FULL:
                    raise
                store.sweep(self.root)
                if alarm:
                    raise QueueFull() from None
                self.dropped += 1  # no room even for this batch: it is dropped
                return
        if alarm:
            self.alarms.append(seq)
        else:
            self.batches.append(seq)

    # The file names of the first n items in send order: alarms (an earlier
    # epoch's first), then batches (an earlier epoch's first).
    def head(self, n: int) -> list[str]:
        out: list[str] = []
        for kind in "ab":
            for name in self.legacy:
                if name[0] == kind:
                    if len(out) >= n:
                        return out
                    out.append(self.root + "/" + name)
            for seq in self.alarms if kind == "a" else self.batches:
                if len(out) >= n:
                    return out
                out.append(self._name(kind, self.epoch, seq))
        return out

    # Reads one item into buf; returns its length.
    def read_into(self, path: str, buf: bytearray) -> int:
        with open(path, "rb") as f:
            return f.readinto(buf)

    # An authenticated ack for (epoch, seq): the item is deleted. Returns True
    # when an item was found. rejected=True counts an item the edge refused.
    def ack(self, epoch: int, seq: int, rejected: bool = False) -> bool:
        found = self._delete(epoch, seq)
        if rejected:
            # persisted at once: a battery node reboots at every wake
            self.rejected += 1
            self._save_mark()
        return found

    def _delete(self, epoch: int, seq: int) -> bool:
        if epoch != self.epoch:
            for kind in "ab":
                name = "%s%08x%08x" % (kind, epoch, seq)
                if name in self.legacy:
                    store.remove(self.root + "/" + name)
                    self.legacy.remove(name)
                    return True
            return False
        for kind, items in (("a", self.alarms), ("b", self.batches)):
            for i in range(len(items)):
                if items[i] == seq:
                    store.remove(self._name(kind, epoch, seq))
                    if kind == "a":
                        self.alarms = items[:i] + items[i + 1 :]
                    else:
                        self.batches = items[:i] + items[i + 1 :]
                    return True
        return False
