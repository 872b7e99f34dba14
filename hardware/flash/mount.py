# mypy: ignore-errors
# littlefs (VfsLfs2) helpers for MicroPython: format and mount a block device.
#
# mount(bdev) mounts at /flash; format_if_blank formats an image that holds no
# filesystem (a fresh, all-0xFF chip) but never one that fails to mount for
# another reason unless format_on_error is set.

import vfs

MOUNT_POINT = "/flash"


def format(bdev, readsize=32, progsize=32, lookahead=32):
    vfs.VfsLfs2.mkfs(bdev, readsize=readsize, progsize=progsize, lookahead=lookahead)


def _blank(bdev):
    # True when the first two blocks (littlefs's superblock pair) are erased.
    size = bdev.ioctl(5, 0)
    buf = bytearray(min(size, 256))
    for block in (0, 1):
        for off in range(0, size, len(buf)):
            bdev.readblocks(block, buf, off)
            for b in buf:
                if b != 0xFF:
                    return False
    return True


def open_fs(bdev, format_if_blank=True, format_on_error=False):
    # Returns a VfsLfs2 object (littlefs is mounted when it is made).
    try:
        return vfs.VfsLfs2(bdev)
    except OSError:
        if not (format_on_error or (format_if_blank and _blank(bdev))):
            raise
    format(bdev)
    return vfs.VfsLfs2(bdev)


def mount(bdev, path=MOUNT_POINT, format_if_blank=True, format_on_error=False, readonly=False):
    fs = open_fs(bdev, format_if_blank, format_on_error)
    vfs.mount(fs, path, readonly=readonly)
    return fs


def umount(path=MOUNT_POINT):
    try:
        vfs.umount(path)
    except OSError:
        pass
