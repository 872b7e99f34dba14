# ADS1115 16-bit delta-sigma ADC (Texas Instruments), I2C 0x48-0x4B (ADDR
# pin to GND/VDD/SDA/SCL).
#
# Address pointer register (first byte of a write, bits 1:0):
#   0x00 conversion (read-only), 0x01 config, 0x02 Lo_thresh, 0x03 Hi_thresh.
# A write phase of 3 bytes writes the 16-bit register big-endian; a read
# phase returns the pointed register MSB first (no auto-increment: a longer
# read repeats the register - assumption).
#
# Config (reset 0x8583):
#   bit 15 OS: write 1 in single-shot mode starts a conversion; reads 0 while
#          converting, 1 when idle
#   14:12 MUX: 000 AIN0-AIN1, 001 AIN0-AIN3, 010 AIN1-AIN3, 011 AIN2-AIN3,
#          100..111 AIN0..AIN3 against GND
#   11:9 PGA full scale +-6.144, 4.096, 2.048 (reset), 1.024, 0.512, 0.256 V
#          (110 and 111 also 0.256 V)
#   8    MODE: 1 single-shot / power-down (reset), 0 continuous
#   7:5  DR: 8, 16, 32, 64, 128 (reset), 250, 475, 860 SPS
#   4:0  comparator bits: stored only (the ALERT/RDY pin is not modelled)
# Lo_thresh reset 0x8000, Hi_thresh 0x7FFF: stored only.
#
# Conversion: takes 1/DR (rounded up to the microsecond) from the clock;
# the result is the input at the end of the conversion, code =
# floor(uV * 32768 / FSR_uV) clipped to -32768..32767 (full scale). In
# continuous mode conversions follow back to back from the config write and
# the register holds the last completed one. The register reads 0 until the
# first conversion completes.
#
# Inputs: `inputs` names the world channel wired to AIN0..AIN3 (None =
# tied to GND). Voltages come from world.voltage(name, t_ms) in microvolts.
#
# Faults: "nack", "stuck", "eio" (bus-level), "wrong_id" (another chip at the
# address: every register reads 0x0000; the ADS1115 has no ID register, so
# drivers check the config reset value 0x8583), "saturate" (the result is
# pinned at the full-scale code of its sign), "disconnected" (all inputs
# open: 0 V, as a 4-20 mA loop shunt reads with the loop broken), "noise"
# (+-noise_lsb uniform from xorshift32).

from hardware.sim.device import I2CDevice

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from hardware.sim.world import World

REG_CONVERSION = 0
REG_CONFIG = 1
REG_LO_THRESH = 2
REG_HI_THRESH = 3

CONFIG_RESET = 0x8583
OS = 0x8000
MODE_SINGLE = 0x0100

FSR_UV = (6144000, 4096000, 2048000, 1024000, 512000, 256000, 256000, 256000)
DATA_RATES = (8, 16, 32, 64, 128, 250, 475, 860)
# MUX code -> (positive input, negative input or -1 for GND)
MUX = ((0, 1), (0, 3), (1, 3), (2, 3), (0, -1), (1, -1), (2, -1), (3, -1))


def conversion_us(dr_code: int) -> int:
    sps = DATA_RATES[dr_code & 7]
    return (1000000 + sps - 1) // sps


class ADS1115(I2CDevice):
    FAULTS = ("nack", "stuck", "eio", "wrong_id", "saturate", "disconnected", "noise")
    AUTO_INCREMENT = False
    NREGS = 4

    def __init__(
        self,
        clock: "Callable[[], int]",
        world: "World",
        addr: int = 0x48,
        inputs: tuple[str | None, ...] = (None, None, None, None),
        seed: int = 1115,
    ) -> None:
        I2CDevice.__init__(self, addr, seed)
        self.clock = clock
        self.world = world
        self.inputs = tuple(inputs) + (None,) * (4 - len(inputs))
        self.noise_lsb = 20
        self.reset()

    def reset(self) -> None:
        self.config = CONFIG_RESET & 0x7FFF
        self.lo = 0x8000
        self.hi = 0x7FFF
        self.result = 0
        self.busy_until_us = -1  # end of the running single-shot conversion
        self.t0_us = 0  # start of continuous conversions
        self.conversions = 0

    def general_call(self, data: bytes) -> None:
        # General call reset (0x00 then 0x06): back to power-on state.
        if data[:1] == b"\x06":
            self.reset()

    # --- conversion -----------------------------------------------------------

    def now_us(self) -> int:
        return self.clock() * 1000

    def input_uv(self, ch: int, t_ms: int) -> int:
        if ch < 0 or "disconnected" in self.faults:
            return 0
        name = self.inputs[ch]
        if name is None:
            return 0
        return self.world.voltage(name, t_ms)

    def convert_at(self, t_us: int) -> int:
        cfg = self.config
        pos, neg = MUX[(cfg >> 12) & 7]
        t_ms = t_us // 1000
        uv = self.input_uv(pos, t_ms) - self.input_uv(neg, t_ms)
        code = uv * 32768 // FSR_UV[(cfg >> 9) & 7]
        if "noise" in self.faults:
            code += self.rng.signed(self.noise_lsb)
        if "saturate" in self.faults:
            code = 32767 if code >= 0 else -32768
        if code > 32767:
            code = 32767
        elif code < -32768:
            code = -32768
        self.conversions += 1
        return code

    def update(self) -> None:
        now = self.now_us()
        if self.config & MODE_SINGLE:
            if self.busy_until_us >= 0 and now >= self.busy_until_us:
                self.result = self.convert_at(self.busy_until_us)
                self.busy_until_us = -1
            return
        period = conversion_us((self.config >> 5) & 7)
        n = (now - self.t0_us) // period
        if n >= 1:
            self.result = self.convert_at(self.t0_us + n * period)
            # Keep the phase but forget completed conversions.
            self.t0_us += n * period

    def converting(self) -> bool:
        if self.config & MODE_SINGLE:
            return self.busy_until_us >= 0
        return True

    # --- registers ------------------------------------------------------------

    def i2c_write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] & 0x03
        if len(data) < 3:
            return
        value = (data[1] << 8) | data[2]
        self.update()
        if self.pointer == REG_CONFIG:
            self.write_config(value)
        elif self.pointer == REG_LO_THRESH:
            self.lo = value
        elif self.pointer == REG_HI_THRESH:
            self.hi = value

    def write_config(self, value: int) -> None:
        now = self.now_us()
        self.config = value & 0x7FFF  # OS is not stored: it reads back the state
        if value & MODE_SINGLE:
            if value & OS and self.busy_until_us < 0:
                self.busy_until_us = now + conversion_us((value >> 5) & 7)
        else:
            self.busy_until_us = -1
            self.t0_us = now

    def register(self, reg: int) -> int:
        if "wrong_id" in self.faults:
            return 0
        if reg == REG_CONVERSION:
            return self.result & 0xFFFF
        if reg == REG_CONFIG:
            return self.config | (0 if self.converting() else OS)
        if reg == REG_LO_THRESH:
            return self.lo
        return self.hi

    def i2c_read(self, n: int) -> bytes:
        self.update()
        v = self.register(self.pointer)
        out = bytearray(n)
        for i in range(n):
            out[i] = (v >> 8) & 0xFF if i % 2 == 0 else v & 0xFF
        return bytes(out)
