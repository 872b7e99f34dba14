# Power cut at every flash write (and erase) of three file updates, under the
# real littlefs (vfs.VfsLfs2) on hardware/flash/nor.py. Usage:
#   micropython powercut.py REPO WORKDIR [quiet]
# quiet: the chip returns -EIO instead of raising, and the sweep also tries
# cuts that land nothing (keep=0) and all but the last byte (keep=-1).
# Prints one JSON line per scenario and "OK" at the end; exits 1 on a violation.
import json
import sys

sys.path.insert(0, sys.argv[1])
import vfs

from hardware.flash import nor

WORK = sys.argv[2]
QUIET = len(sys.argv) > 3 and sys.argv[3] == "quiet"
KEEPS = (None, 0, -1) if QUIET else (None,)
BLOCKS = 32
BS = 4096
BASE = WORK + "/base.img"
IMG = WORK + "/work.img"

OLD = b"old:" + b"A" * 1500
NEW = b"new:" + b"B" * 2300
SMALL_OLD = b"o" * 40
SMALL_NEW = b"n" * 70
APPEND = b"+" * 900


def fail(msg):
    print("FAIL", msg)
    sys.exit(1)


def read(fs, name):
    try:
        with fs.open(name, "rb") as f:
            return f.read()
    except OSError:
        return None


def write(fs, name, data):
    with fs.open(name, "wb") as f:
        f.write(data)


def make_base(setup):
    nor.create(BASE, BLOCKS, BS)
    d = nor.NorFlash(BASE, BS)
    vfs.VfsLfs2.mkfs(d)
    fs = vfs.VfsLfs2(d)
    setup(fs)
    d.close()
    with open(BASE, "rb") as f:
        return f.read()


def op_new(fs):
    write(fs, "new.bin", NEW)


def check_new(fs, done):
    v = read(fs, "new.bin")
    if done and v != NEW:
        return "completed but new.bin is %r" % (None if v is None else len(v))
    if v not in (None, b"", NEW):
        return "new.bin is a mix (%d bytes)" % len(v)
    if read(fs, "keep.bin") != SMALL_OLD:
        return "untouched keep.bin changed"
    return None


def setup_rename(fs):
    write(fs, "data.bin", OLD)
    write(fs, "cfg", SMALL_OLD)


def op_rename(fs):
    write(fs, "data.tmp", NEW)
    fs.rename("data.tmp", "data.bin")
    write(fs, "cfg.tmp", SMALL_NEW)
    fs.rename("cfg.tmp", "cfg")


def check_rename(fs, done):
    d = read(fs, "data.bin")
    c = read(fs, "cfg")
    if d not in (OLD, NEW):
        return "data.bin is neither old nor new (%r bytes)" % (None if d is None else len(d))
    if c not in (SMALL_OLD, SMALL_NEW):
        return "cfg is neither old nor new: %r" % (c,)
    if c == SMALL_NEW and d != NEW:
        return "cfg renamed before data.bin"
    t = read(fs, "data.tmp")
    if t not in (None, b"", NEW):
        return "data.tmp is a mix (%d bytes)" % len(t)
    if done and (d != NEW or c != SMALL_NEW):
        return "completed but the old content is still there"
    return None


def setup_append(fs):
    write(fs, "log", OLD)
    write(fs, "keep.bin", SMALL_OLD)


def op_append(fs):
    with fs.open("log", "ab") as f:
        f.write(APPEND)


def check_append(fs, done):
    v = read(fs, "log")
    if v not in (OLD, OLD + APPEND):
        return "log is neither old nor old+appended (%r bytes)" % (None if v is None else len(v))
    if done and v != OLD + APPEND:
        return "completed but the append is missing"
    return None


def setup_new(fs):
    write(fs, "keep.bin", SMALL_OLD)


SCENARIOS = (
    ("new_file", setup_new, op_new, check_new),
    ("rename", setup_rename, op_rename, check_rename),
    ("append", setup_append, op_append, check_append),
)


def sweep(name, setup, op, check, keep):
    base = make_base(setup)
    k = 0
    torn = 0
    while True:
        k += 1
        with open(IMG, "wb") as f:
            f.write(base)
        d = nor.NorFlash(IMG, BS, quiet=QUIET)
        fs = vfs.VfsLfs2(d)
        d.cut_after_writes(k, keep)
        done = True
        try:
            op(fs)
        except OSError:
            done = False
        ops = d.writes + d.erases
        if d.bad_writes:
            fail("%s k=%d: littlefs set bits on unerased flash (%d)" % (name, k, d.bad_writes))
        d.close()
        # Reboot: a new chip object on the same image, littlefs mounts again.
        d2 = nor.NorFlash(IMG, BS)
        try:
            fs2 = vfs.VfsLfs2(d2)
        except OSError as e:
            fail("%s k=%d keep=%r: remount failed: %r" % (name, k, keep, e))
        err = check(fs2, done)
        if err:
            fail("%s k=%d keep=%r: %s" % (name, k, keep, err))
        # The filesystem still takes writes after the recovery.
        write(fs2, "after", b"x" * 100)
        if read(fs2, "after") != b"x" * 100:
            fail("%s k=%d: write after recovery failed" % (name, k))
        d2.close()
        if done:
            break
        torn += 1
    return {"scenario": name, "keep": keep, "cuts": torn, "ops": ops, "quiet": QUIET}


for name, setup, op, check in SCENARIOS:
    for keep in KEEPS:
        print(json.dumps(sweep(name, setup, op, check, keep)))
print("OK")
