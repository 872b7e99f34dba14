# ADXL345 3-axis accelerometer (Analog Devices), I2C address 0x53 (ALT
# ADDRESS low; 0x1D with it high).
#
# Registers modelled (datasheet Rev. G register map):
#   0x00 DEVID        reads 0xE5
#   0x1E-0x20 OFSX/Y/Z signed offsets, 15.6 mg/LSB, added to every sample
#   0x2C BW_RATE      low nibble = rate code, ODR = 100 Hz * 2^(code-10)
#                     (0x0F 3200 Hz ... 0x0A 100 Hz ... 0x00 0.10 Hz); reset 0x0A
#   0x2D POWER_CTL    bit 3 MEASURE: samples are produced only while set
#   0x2E INT_ENABLE, 0x2F INT_MAP: stored; int_pin(1|2) gives the INT line
#   0x30 INT_SOURCE   bit 7 DATA_READY, bit 1 WATERMARK, bit 0 OVERRUN
#   0x31 DATA_FORMAT  bits 1:0 range +-2/4/8/16 g, bit 3 FULL_RES, bit 2 JUSTIFY
#   0x32-0x37 DATAX0..DATAZ1  little-endian two's complement
#   0x38 FIFO_CTL     bits 7:6 mode (00 bypass, 01 FIFO, 10 stream, 11 trigger),
#                     bits 4:0 watermark ("samples")
#   0x39 FIFO_STATUS  bits 5:0 entries (0..32)
# Multi-byte reads auto-increment.
#
# Scale: 10-bit mode gives 256/128/64/32 LSB/g at +-2/4/8/16 g; FULL_RES
# gives 256 LSB/g (3.9 mg/LSB) with 10..13 bits. Values beyond the range
# clip at the full-scale code, as the part's output does.
#
# Sampling: sample k (k = 1, 2, ...) completes at t0 + k/ODR after MEASURE
# was set (or the rate changed) and takes the world's acceleration at that
# millisecond. Samples are produced lazily on each bus access from the
# clock; only the last 33 of a long gap are computed (the FIFO holds 32 plus
# the output registers), or, in FIFO mode, the first ones that fit.
#
# FIFO: bypass keeps only the output registers; FIFO mode collects up to 32
# samples then stops; stream keeps the newest 32 (OVERRUN when one is
# dropped). Trigger mode is modelled as stream (assumption: the trigger
# event is not simulated). With the FIFO in use the output registers show
# the oldest entry and a read phase touching any of 0x32-0x37 pops one entry
# at its end (the datasheet asks for a 6-byte burst per sample).
# DATA_READY: bypass - set by a new sample, cleared by reading the data
# registers; FIFO modes - set while entries > 0.
#
# Not modelled: tap, free-fall, activity/inactivity detection, sleep and
# auto-sleep (POWER_CTL bits 0-5 other than MEASURE are stored only), self
# test, SPI.
#
# Faults: "nack", "stuck", "eio" (bus-level, see i2c_bus.py), "wrong_id"
# (DEVID reads `wrong_id_value`, default 0x00), "saturate" (every axis pinned
# at the rail of its sign), "noise" (+-noise_mg uniform per axis from xorshift32).

from hardware.sim.device import I2CDevice

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from hardware.sim.world import World

DEVID = 0x00
OFSX = 0x1E
BW_RATE = 0x2C
POWER_CTL = 0x2D
INT_ENABLE = 0x2E
INT_MAP = 0x2F
INT_SOURCE = 0x30
DATA_FORMAT = 0x31
DATAX0 = 0x32
DATAZ1 = 0x37
FIFO_CTL = 0x38
FIFO_STATUS = 0x39

DEVID_VALUE = 0xE5
MEASURE = 0x08
FULL_RES = 0x08
JUSTIFY = 0x04
DATA_READY = 0x80
WATERMARK = 0x02
OVERRUN = 0x01

MODE_BYPASS = 0
MODE_FIFO = 1
MODE_STREAM = 2
MODE_TRIGGER = 3
FIFO_DEPTH = 32

# Writable registers (read-only ones ignore writes).
_WRITABLE = (0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29)
_WRITABLE2 = (0x2A, 0x2C, 0x2D, 0x2E, 0x2F, 0x31, 0x38)


def odr_millihertz(rate_code: int) -> int:
    # Output data rate in mHz for a BW_RATE rate code (0..15).
    code = rate_code & 0x0F
    if code >= 10:
        return 100000 << (code - 10)
    return 100000 >> (10 - code)


class ADXL345(I2CDevice):
    FAULTS = ("nack", "stuck", "eio", "wrong_id", "saturate", "noise")

    def __init__(
        self,
        clock: "Callable[[], int]",
        world: "World",
        addr: int = 0x53,
        seed: int = 345,
    ) -> None:
        I2CDevice.__init__(self, addr, seed)
        self.clock = clock
        self.world = world
        self.noise_mg = 50
        self.wrong_id_value = 0x00
        self.regs = bytearray(64)
        self.regs[DEVID] = DEVID_VALUE
        self.regs[BW_RATE] = 0x0A
        self.fifo: list[tuple[int, int, int]] = []
        self.data = (0, 0, 0)
        self.data_ready = False
        self.overrun = False
        self.t0 = 0
        self.done = 0
        self.samples = 0  # samples produced since power-on (all, even skipped)

    # --- conversion -----------------------------------------------------------

    def measuring(self) -> bool:
        return bool(self.regs[POWER_CTL] & MEASURE)

    def fifo_mode(self) -> int:
        return self.regs[FIFO_CTL] >> 6

    def bits(self) -> int:
        fmt = self.regs[DATA_FORMAT]
        if fmt & FULL_RES:
            return 10 + (fmt & 0x03)
        return 10

    def lsb_per_g(self) -> int:
        fmt = self.regs[DATA_FORMAT]
        if fmt & FULL_RES:
            return 256
        return 256 >> (fmt & 0x03)

    def convert(self, mg: int, offset: int) -> int:
        # Milli-g (plus the offset register, 15.6 mg/LSB) to an output code.
        q = (abs(offset) * 156 + 5) // 10
        mg = mg + (q if offset >= 0 else -q)
        if "noise" in self.faults:
            mg += self.rng.signed(self.noise_mg)
        code = (mg * self.lsb_per_g() * 2 + 1000) // 2000
        top = (1 << (self.bits() - 1)) - 1
        if "saturate" in self.faults:
            code = top if code >= 0 else -top - 1
        if code > top:
            code = top
        elif code < -top - 1:
            code = -top - 1
        if self.regs[DATA_FORMAT] & JUSTIFY:
            code <<= 16 - self.bits()
        return code

    def sample_at(self, t_ms: int) -> tuple[int, int, int]:
        x, y, z = self.world.accel(t_ms)
        r = self.regs
        return (
            self.convert(x, _s8(r[OFSX])),
            self.convert(y, _s8(r[OFSX + 1])),
            self.convert(z, _s8(r[OFSX + 2])),
        )

    def restart(self) -> None:
        self.t0 = self.clock()
        self.done = 0

    def update(self) -> None:
        if not self.measuring():
            return
        odr = odr_millihertz(self.regs[BW_RATE])
        total = (self.clock() - self.t0) * odr // 1000000
        new = total - self.done
        if new <= 0:
            return
        mode = self.fifo_mode()
        first = self.done + 1
        last = total
        if mode == MODE_FIFO:
            room = FIFO_DEPTH - len(self.fifo)
            last = min(total, self.done + max(room, 1))
        elif mode == MODE_BYPASS:
            first = total
        else:
            first = max(first, total - FIFO_DEPTH)
        for k in range(first, last + 1):
            s = self.sample_at(self.t0 + k * 1000000 // odr)
            self.push(s)
        if mode != MODE_FIFO and new > last - first + 1:
            self.overrun = True  # samples were replaced before anyone read them
        self.samples += new
        self.done = total

    def push(self, s: tuple[int, int, int]) -> None:
        mode = self.fifo_mode()
        if mode == MODE_BYPASS:
            if self.data_ready:
                self.overrun = True
            self.data = s
            self.data_ready = True
            return
        if len(self.fifo) >= FIFO_DEPTH:
            if mode == MODE_FIFO:
                return
            self.fifo.pop(0)
            self.overrun = True
        self.fifo.append(s)
        self.data = self.fifo[0]

    # --- registers ------------------------------------------------------------

    def begin_read(self) -> None:
        self.update()

    def int_source(self) -> int:
        v = 0
        if self.fifo_mode() == MODE_BYPASS:
            if self.data_ready:
                v |= DATA_READY
        else:
            n = len(self.fifo)
            if n:
                v |= DATA_READY
            if n >= (self.regs[FIFO_CTL] & 0x1F) and n:
                v |= WATERMARK
        if self.overrun:
            v |= OVERRUN
        return v

    def read_reg(self, reg: int) -> int:
        if reg == DEVID:
            return self.wrong_id_value if "wrong_id" in self.faults else DEVID_VALUE
        if DATAX0 <= reg <= DATAZ1:
            i = reg - DATAX0
            v = self.data[i >> 1] & 0xFFFF
            return v >> 8 if i & 1 else v & 0xFF
        if reg == INT_SOURCE:
            return self.int_source()
        if reg == FIFO_STATUS:
            return len(self.fifo)
        if reg < 64:
            return self.regs[reg]
        return 0

    def end_read(self, start: int, n: int) -> None:
        end = start + n - 1
        if end < DATAX0 or start > DATAZ1:
            return
        self.overrun = False
        if self.fifo_mode() == MODE_BYPASS:
            self.data_ready = False
        elif self.fifo:
            self.fifo.pop(0)
            if self.fifo:
                self.data = self.fifo[0]

    def write_reg(self, reg: int, value: int) -> None:
        if reg not in _WRITABLE and reg not in _WRITABLE2:
            return
        self.update()
        old = self.regs[reg]
        self.regs[reg] = value
        if reg == POWER_CTL and value & MEASURE and not old & MEASURE:
            self.restart()  # measurement starts: sample phase from now
        elif reg == BW_RATE and (value ^ old) & 0x0F:
            self.restart()  # new rate: new sample phase
        elif reg == FIFO_CTL and (value >> 6) != (old >> 6):
            self.fifo = []  # a mode change empties the FIFO
            self.overrun = False

    def int_pin(self, pin: int = 1) -> int:
        # Level of INT1/INT2 (active high, INT_INVERT not modelled): enabled
        # DATA_READY/WATERMARK/OVERRUN sources mapped to that pin.
        self.update()
        active = self.int_source() & self.regs[INT_ENABLE]
        mapped = self.regs[INT_MAP]
        if pin == 2:
            active &= mapped
        else:
            active &= ~mapped
        return 1 if active else 0


def _s8(b: int) -> int:
    return b - 256 if b & 0x80 else b
