# ADXL345 3-axis accelerometer on I2C (0x53, or 0x1D with SDO high).
# Full resolution (3.9 mg/LSB at every range); samples are little-endian
# two's complement. Readings come out in milli-g, integers only.

from firmware.app.compat import const
from firmware.app.drivers.fault import SensorFault, bus_error

_DEVID = const(0x00)
_DEVID_VALUE = const(0xE5)
_BW_RATE = const(0x2C)
_POWER_CTL = const(0x2D)
_INT_SOURCE = const(0x30)
_DATA_FORMAT = const(0x31)
_DATAX0 = const(0x32)
_FIFO_CTL = const(0x38)
_FIFO_STATUS = const(0x39)
_MEASURE = const(0x08)
_FULL_RES = const(0x08)
_FIFO_STREAM = const(0x80)

# output data rate in Hz -> BW_RATE code
RATES = {25: 0x08, 50: 0x09, 100: 0x0A, 200: 0x0B, 400: 0x0C, 800: 0x0D}
# range in g -> DATA_FORMAT range bits
RANGES = {2: 0, 4: 1, 8: 2, 16: 3}


def _s16(lo, hi):
    v = lo | (hi << 8)
    return v - 0x10000 if v & 0x8000 else v


class ADXL345:
    def __init__(self, i2c, address=0x53):
        self.i2c = i2c
        self.address = address
        self.one = bytearray(1)
        self.six = bytearray(6)
        self.range_g = 16

    def _read(self, reg, buf):
        try:
            self.i2c.readfrom_mem_into(self.address, reg, buf)
        except OSError as e:
            raise bus_error("adxl345", e) from None

    def _write(self, reg, value):
        self.one[0] = value
        try:
            self.i2c.writeto_mem(self.address, reg, self.one)
        except OSError as e:
            raise bus_error("adxl345", e) from None

    # Checks the identity and starts measuring; fifo=True streams into the
    # 32-sample FIFO (for high-rate windows read with read_fifo).
    def start(self, rate_hz=100, range_g=16, fifo=False):
        self._read(_DEVID, self.one)
        if self.one[0] != _DEVID_VALUE:
            raise SensorFault("adxl345", "DEVID reads 0x%02x, expected 0xe5" % self.one[0])
        if rate_hz not in RATES or range_g not in RANGES:
            raise SensorFault("adxl345", "unsupported rate %r or range %r" % (rate_hz, range_g))
        self.range_g = range_g
        self._write(_POWER_CTL, 0)
        self._write(_DATA_FORMAT, _FULL_RES | RANGES[range_g])
        self._write(_BW_RATE, RATES[rate_hz])
        self._write(_FIFO_CTL, _FIFO_STREAM if fifo else 0)
        self._write(_POWER_CTL, _MEASURE)

    def stop(self):
        self._write(_POWER_CTL, 0)

    # Fills out[0..2] (an array of ints, or a list) with x, y, z in milli-g.
    def read_mg(self, out):
        b = self.six
        self._read(_DATAX0, b)
        # full resolution: 3.9 mg per LSB
        out[0] = _s16(b[0], b[1]) * 39 // 10
        out[1] = _s16(b[2], b[3]) * 39 // 10
        out[2] = _s16(b[4], b[5]) * 39 // 10

    # Samples waiting in the FIFO (0..32).
    def fifo_count(self):
        self._read(_FIFO_STATUS, self.one)
        return self.one[0] & 0x3F

    # Reads up to len(out) // 3 samples from the FIFO into out (x, y, z, ...);
    # returns how many samples were read.
    def read_fifo(self, out):
        n = min(self.fifo_count(), len(out) // 3)
        for i in range(n):
            self.read_mg_at(out, 3 * i)
        return n

    def read_mg_at(self, out, at):
        b = self.six
        self._read(_DATAX0, b)
        out[at] = _s16(b[0], b[1]) * 39 // 10
        out[at + 1] = _s16(b[2], b[3]) * 39 // 10
        out[at + 2] = _s16(b[4], b[5]) * 39 // 10

    # Full scale in milli-g: a reading at or beyond it is saturated.
    def full_scale_mg(self):
        return self.range_g * 1000
