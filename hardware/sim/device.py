# Base class of the simulated I2C chips: a register file behind an 8-bit
# register pointer. A write phase sets the pointer with its first byte and
# writes the rest at successive registers; a read phase returns bytes from
# the pointer on. Whether the pointer auto-increments is the chip's choice
# (AUTO_INCREMENT); subclasses override read_reg/write_reg for registers
# with side effects and begin_read/end_read around each read phase.

from hardware.sim.errors import FaultMixin
from hardware.sim.xorshift import XorShift32


class I2CDevice(FaultMixin):
    AUTO_INCREMENT = True
    NREGS = 256

    def __init__(self, addr: int, seed: int = 1) -> None:
        self.addr = addr
        self.faults: set[str] = set()
        self.pointer = 0
        self.rng = XorShift32(seed)

    def i2c_write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] % self.NREGS
        for b in data[1:]:
            self.write_reg(self.pointer, b)
            if self.AUTO_INCREMENT:
                self.pointer = (self.pointer + 1) % self.NREGS

    def i2c_read(self, n: int) -> bytes:
        self.begin_read()
        out = bytearray(n)
        start = self.pointer
        for i in range(n):
            out[i] = self.read_reg(self.pointer) & 0xFF
            if self.AUTO_INCREMENT:
                self.pointer = (self.pointer + 1) % self.NREGS
        self.end_read(start, n)
        return bytes(out)

    def begin_read(self) -> None:
        pass

    def end_read(self, start: int, n: int) -> None:
        pass

    def read_reg(self, reg: int) -> int:
        return 0

    def write_reg(self, reg: int, value: int) -> None:
        pass
