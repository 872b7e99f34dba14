# Flash for the firmware tests under MicroPython: the simulated NOR chip of
# hardware/flash/nor.py (file-backed) with the real littlefs (vfs.VfsLfs2)
# mounted at /flash, the working directory there, as on a virtual board.
# Also builds queue messages the way the recorder does (SenML pack + batch
# head with the idempotency key inside).
import os

import vfs

from firmware.wire import protocol as P
from firmware.wire.senml import PackWriter
from hardware.flash import nor

MOUNT = "/flash"
BLOCK_SIZE = 512
BLOCKS = 64


def create(image, blocks=BLOCKS, block_size=BLOCK_SIZE):
    nor.create(image, blocks, block_size)
    bdev = nor.NorFlash(image, block_size)
    vfs.VfsLfs2.mkfs(bdev, readsize=32, progsize=32, lookahead=32)
    bdev.close()


def mount(image, block_size=BLOCK_SIZE, quiet=True):
    # A "boot": a new chip object on the image, littlefs mounted, cwd /flash.
    bdev = nor.NorFlash(image, block_size, quiet=quiet)
    vfs.mount(vfs.VfsLfs2(bdev), MOUNT)
    os.chdir(MOUNT)
    return bdev


def unmount(bdev):
    # The power goes (or the board resets): whatever is not on the chip is lost.
    os.chdir("/")
    try:
        vfs.umount(MOUNT)
    except OSError:
        pass
    bdev.close()


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


_buf = bytearray(P.BATCH_HEAD_MAX + 600)
_scratch = bytearray(P.BATCH_HEAD_MAX)


# A batch (or an alarm) message with key (epoch, seq): readings records, each
# value derived from seq so every message is distinct.
def message(node, epoch, seq, alarm=False, readings=8):
    pack = PackWriter(_buf, P.BATCH_HEAD_MAX)
    for i in range(readings):
        if i == 0:
            pack.add("pressure", "Pa", 300000 + seq * 10 + i, 0, 0, node + ":", 1790000000 + seq)
        else:
            pack.add("pressure", "Pa", 300000 + seq * 10 + i, 0, i * 1000)
    start, end = pack.finish()
    if alarm:
        head = P.write_batch_head(_buf, start, _scratch, epoch, seq, "tamper", 2)
    else:
        head = P.write_batch_head(_buf, start, _scratch, epoch, seq)
    return bytes(_buf[head:end])
