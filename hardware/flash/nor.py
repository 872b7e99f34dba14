# A simulated NOR flash chip, usable as a littlefs block device.
#
# Runs under MicroPython (unix port) and CPython. The chip's content lives in a
# file (never on the heap): the file is opened once and accessed with
# seek/readinto/write. NOR semantics:
# - erase (ioctl 6) sets a whole block to 0xFF;
# - a write (program) can only clear bits: the stored byte becomes old & new. A
#   write that tries to set a bit is a bug in the caller (littlefs programs only
#   erased areas): it is counted in `bad_writes` and applied with AND semantics,
#   as the real chip would;
# - power cut: after cut_after_writes(n), the n-th following write or erase lands
#   only partly (a deterministic prefix of its bytes, a torn page) and raises
#   OSError(EIO); every later write or erase raises OSError(EIO) too, until
#   power_on() (or a new NorFlash on the same file, i.e. a reboot). With
#   quiet=True the failing calls return -EIO instead of raising: littlefs sees
#   the same error, but MicroPython's block-device glue prints a traceback for
#   every exception a callback raises, which floods a power-cut sweep's output.
#
# Block device protocol (MicroPython's extended interface, so littlefs erases
# separately): readblocks(n, buf, off=0), writeblocks(n, buf, off=None),
# ioctl(op, arg) with 1 init, 2 deinit, 3 sync, 4 block count, 5 block size,
# 6 erase block.

# Plain module constants (no const(): this module is also typed for CPython).
BLOCK_SIZE = 4096
BLOCKS = 512
EIO = 5
EINVAL = 22

IOCTL_INIT = 1
IOCTL_DEINIT = 2
IOCTL_SYNC = 3
IOCTL_BLOCK_COUNT = 4
IOCTL_BLOCK_SIZE = 5
IOCTL_BLOCK_ERASE = 6


def create(path: str, blocks: int = BLOCKS, block_size: int = BLOCK_SIZE) -> None:
    # Make (or overwrite) an image of `blocks` erased blocks.
    if blocks < 2 or block_size < 128:
        raise ValueError("flash image needs >= 2 blocks of >= 128 bytes")
    chunk = b"\xff" * block_size
    with open(path, "wb") as f:
        for _ in range(blocks):
            f.write(chunk)


class NorFlash:
    # path: the image file, made by create(). blocks: None takes the file's size.
    def __init__(
        self,
        path: str,
        block_size: int = BLOCK_SIZE,
        blocks: int | None = None,
        quiet: bool = False,
    ) -> None:
        self.path = path
        self.quiet = quiet
        self.block_size = block_size
        try:
            f = open(path, "r+b")  # noqa: SIM115 (kept open: the chip's content)
        except OSError as e:
            raise OSError(
                e.args[0] if e.args else EIO, "flash image %s: cannot open" % path
            ) from None
        f.seek(0, 2)
        size = f.tell()
        if blocks is None:
            blocks = size // block_size
        if blocks < 2 or size < blocks * block_size:
            f.close()
            raise ValueError(
                "flash image %s: %d bytes, too small for %s blocks of %d"
                % (path, size, blocks, block_size)
            )
        self._f = f
        self._open = True
        self.blocks = blocks
        self.reads = 0
        self.writes = 0
        self.erases = 0
        self.bytes_read = 0
        self.bytes_written = 0
        self.bad_writes = 0
        self.wear = [0] * blocks
        self.powered = True
        self.cuts = 0
        self._cut_in = 0
        self._keep: int | None = None

    # -- power cut ---------------------------------------------------------

    def cut_after_writes(self, n: int, keep: int | None = None) -> None:
        # The n-th subsequent write or erase (n >= 1) lands partly, then power is
        # lost. keep: how many bytes of that operation land (default: half,
        # rounded down, so a multi-page write tears mid-page); a negative keep
        # means all but that many bytes; clamped to the operation's size.
        if n < 1:
            raise ValueError("cut_after_writes: n must be >= 1")
        self._cut_in = n
        self._keep = keep

    def power_on(self) -> None:
        # Power is back (the caller remounts): writes work again.
        self.powered = True
        self._cut_in = 0
        self._keep = None

    def _gate(self, size: int) -> int:
        # Returns how many bytes of the next operation land; raises when none do.
        if not self.powered:
            raise OSError(EIO)
        if self._cut_in:
            self._cut_in -= 1
            if self._cut_in == 0:
                self.powered = False
                self.cuts += 1
                keep = self._keep
                if keep is None:
                    keep = size // 2
                elif keep < 0:
                    keep = size + keep
                return max(0, min(size, keep))
        return -1

    # -- block device protocol ------------------------------------------------

    def _check(self, block: int, off: int, size: int) -> int:
        if not self._open:
            raise OSError(EIO)
        if (
            block < 0
            or off < 0
            or block * self.block_size + off + size > self.blocks * self.block_size
        ):
            raise OSError(EINVAL)
        return block * self.block_size + off

    def readblocks(self, block: int, buf: bytearray | memoryview, off: int = 0) -> int:
        try:
            addr = self._check(block, off, len(buf))
            self._f.seek(addr)
            if self._f.readinto(buf) != len(buf):
                raise OSError(EIO)
        except OSError as e:
            if not self.quiet:
                raise
            return -(e.args[0] if e.args else EIO)
        self.reads += 1
        self.bytes_read += len(buf)
        return 0

    def writeblocks(
        self, block: int, buf: bytes | bytearray | memoryview, off: int | None = None
    ) -> int:
        try:
            if off is None:
                # Simple interface: erase the blocks first, then program them.
                for i in range((len(buf) + self.block_size - 1) // self.block_size):
                    self.erase(block + i)
                off = 0
            self.program(self._check(block, off, len(buf)), buf)
        except OSError as e:
            if not self.quiet:
                raise
            return -(e.args[0] if e.args else EIO)
        return 0

    def ioctl(self, op: int, arg: int) -> int | None:
        if op == IOCTL_BLOCK_COUNT:
            return self.blocks
        if op == IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == IOCTL_BLOCK_ERASE:
            try:
                self.erase(arg)
            except OSError as e:
                if not self.quiet:
                    raise
                return -(e.args[0] if e.args else EIO)
            return 0
        if op == IOCTL_SYNC:
            if self._open:
                self._f.flush()
            return 0
        if op in (IOCTL_INIT, IOCTL_DEINIT):
            return 0
        return None

    # -- chip operations -----------------------------------------------------

    def erase(self, block: int) -> None:
        addr = self._check(block, 0, self.block_size)
        land = self._gate(self.block_size)
        size = self.block_size if land < 0 else land
        if size:
            self._f.seek(addr)
            self._f.write(b"\xff" * size)
            self._f.flush()
        self.erases += 1
        self.wear[block] += 1
        if land >= 0:
            raise OSError(EIO)

    def program(self, addr: int, buf: bytes | bytearray | memoryview) -> None:
        n = len(buf)
        land = self._gate(n)
        size = n if land < 0 else land
        if size:
            old = bytearray(size)
            self._f.seek(addr)
            self._f.readinto(old)
            data = buf if size == n else buf[:size]
            want = int.from_bytes(data, "big")
            new = int.from_bytes(old, "big") & want
            self._f.seek(addr)
            if new == want:
                self._f.write(data)
            else:
                self.bad_writes += 1
                self._f.write(new.to_bytes(size, "big"))
            self._f.flush()
        self.writes += 1
        self.bytes_written += size
        if land >= 0:
            raise OSError(EIO)

    # -- inspection ------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        worn = 0
        most = 0
        for w in self.wear:
            worn += w
            most = max(most, w)
        return {
            "reads": self.reads,
            "writes": self.writes,
            "erases": self.erases,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "bad_writes": self.bad_writes,
            "cuts": self.cuts,
            "wear_max": most,
            "wear_total": worn,
        }

    def close(self) -> None:
        if self._open:
            self._f.close()
            self._open = False
