# ADS1115 16-bit ADC on I2C (0x48..0x4B). Single-shot conversions: write the
# config with OS=1, wait for OS to read 1 again, read the conversion register
# (big-endian two's complement). Results in microvolts, integers only.

from firmware.app.compat import const, sleep_ms
from firmware.app.drivers.fault import SensorFault, bus_error

_CONVERSION = const(0x00)
_CONFIG = const(0x01)
_HI_THRESH = const(0x03)
_OS = const(0x8000)
_SINGLE = const(0x0100)
_COMP_DISABLE = const(0x0003)

# full-scale range in microvolts -> PGA bits
PGA = {6144000: 0, 4096000: 1, 2048000: 2, 1024000: 3, 512000: 4, 256000: 5}
# samples per second -> DR bits
DATA_RATES = {8: 0, 16: 1, 32: 2, 64: 3, 128: 4, 250: 5, 475: 6, 860: 7}


class ADS1115:
    def __init__(self, i2c, address=0x48):
        self.i2c = i2c
        self.address = address
        self.two = bytearray(2)

    def _read(self, reg):
        try:
            self.i2c.readfrom_mem_into(self.address, reg, self.two)
        except OSError as e:
            raise bus_error("ads1115", e) from None
        return (self.two[0] << 8) | self.two[1]

    def _write(self, reg, value):
        self.two[0] = value >> 8
        self.two[1] = value & 0xFF
        try:
            self.i2c.writeto_mem(self.address, reg, self.two)
        except OSError as e:
            raise bus_error("ads1115", e) from None

    # Identity check: the ADS1115 has no ID register, so write a pattern into
    # the high-threshold register, read it back and restore the default.
    def start(self):
        self._write(_HI_THRESH, 0x5A3C)
        got = self._read(_HI_THRESH)
        self._write(_HI_THRESH, 0x7FFF)
        if got != 0x5A3C:
            raise SensorFault("ads1115", "threshold register reads 0x%04x, not an ADS1115" % got)

    # One single-shot conversion of a single-ended channel (0..3), or of a
    # differential pair with diff=True (0: AIN0-AIN1 ... per the MUX table).
    def read_uv(self, channel, fsr_uv=4096000, rate=128, diff=False):
        if channel < 0 or channel > 3 or fsr_uv not in PGA or rate not in DATA_RATES:
            raise SensorFault(
                "ads1115", "bad channel/range/rate %d/%d/%d" % (channel, fsr_uv, rate)
            )
        mux = channel if diff else 4 + channel
        config = (
            _OS
            | (mux << 12)
            | (PGA[fsr_uv] << 9)
            | _SINGLE
            | (DATA_RATES[rate] << 5)
            | _COMP_DISABLE
        )
        self._write(_CONFIG, config)
        # a conversion takes 1/rate s; allow three times that
        wait_ms = 1000 // rate + 1
        for _ in range(3):
            sleep_ms(wait_ms)
            if self._read(_CONFIG) & _OS:
                break
        else:
            raise SensorFault("ads1115", "conversion did not complete")
        raw = self._read(_CONVERSION)
        if raw & 0x8000:
            raw -= 0x10000
        # raw * fsr_uv // 32768 without the intermediate above 2**30 (a heap
        # big int per sample on a board with 31-bit small ints): every full
        # scale is a multiple of 256, so the two forms are equal.
        return raw * (fsr_uv >> 8) // 128

    # True when a reading is at the end of the range (clipped). The top code
    # 32767 reads fsr_uv * 32767 // 32768, written without the product above
    # 2**30 (a heap big int per sample on a board).
    @staticmethod
    def saturated(uv, fsr_uv):
        return uv >= fsr_uv - ((fsr_uv + 32767) >> 15) or uv <= -fsr_uv
