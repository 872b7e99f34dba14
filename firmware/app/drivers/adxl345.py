# ADXL345 3-axis accelerometer on I2C (0x53, or 0x1D with SDO high).
# Full resolution (3.9 mg/LSB at every range); samples are little-endian
# two's complement. Readings come out in milli-g, integers only.
#
# While the MCU sleeps the part watches for activity (watch()): low-power
# mode, an ac-coupled threshold on all three axes, the activity interrupt on
# INT1 (a wake input of the board, latched until INT_SOURCE is read) and the
# FIFO in trigger mode, so that the samples around the event are still
# there when the node has woken up (event()).

from firmware.app.compat import const, sleep_ms
from firmware.app.drivers.fault import SensorFault, bus_error

_DEVID = const(0x00)
_DEVID_VALUE = const(0xE5)
_THRESH_ACT = const(0x24)
_ACT_INACT_CTL = const(0x27)
_BW_RATE = const(0x2C)
_POWER_CTL = const(0x2D)
_INT_ENABLE = const(0x2E)
_INT_MAP = const(0x2F)
_INT_SOURCE = const(0x30)
_DATA_FORMAT = const(0x31)
_DATAX0 = const(0x32)
_FIFO_CTL = const(0x38)
_FIFO_STATUS = const(0x39)
_MEASURE = const(0x08)
_LOW_POWER = const(0x10)
_FULL_RES = const(0x08)
_INT_INVERT = const(0x20)  # DATA_FORMAT: INT1/INT2 active low
_FIFO_STREAM = const(0x80)
_FIFO_TRIGGER = const(0xC0)  # trigger mode, trigger on INT1
_FIFO_TRIG = const(0x80)  # FIFO_STATUS: a trigger event occurred
_FIFO_DEPTH = const(32)
_ACTIVITY = const(0x10)
_ACT_AC_XYZ = const(0xF0)  # ac-coupled activity on x, y and z
_MG_PER_LSB_X10 = const(625)  # THRESH_ACT: 62.5 mg per LSB

# output data rate in Hz -> BW_RATE code (12: 12.5 Hz)
RATES = {12: 0x07, 25: 0x08, 50: 0x09, 100: 0x0A, 200: 0x0B, 400: 0x0C, 800: 0x0D}
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

    # Sets the level INT1 has while an interrupt is active (the part's default
    # is 1; 0 sets INT_INVERT), keeping the range. A board whose wake inputs
    # share one wake level (an ESP32-C3) turns INT1 to the level the others
    # need. start() sets it back to 1.
    def int_active(self, level):
        fmt = _FULL_RES | RANGES[self.range_g]
        self._write(_DATA_FORMAT, fmt if level else fmt | _INT_INVERT)

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
        self._write(_INT_ENABLE, 0)
        self._write(_DATA_FORMAT, _FULL_RES | RANGES[range_g])
        self._write(_BW_RATE, RATES[rate_hz])
        self._write(_FIFO_CTL, _FIFO_STREAM if fifo else 0)
        self._write(_POWER_CTL, _MEASURE)

    def stop(self):
        self._write(_POWER_CTL, 0)

    # Watches for activity while the MCU sleeps: measuring at rate_hz in
    # low-power mode, an activity event when any axis moves more than
    # thresh_mg from where it was when the watch began; the event latches
    # INT1 and triggers the FIFO, which keeps `before` samples from before
    # it and fills up with the ones after.
    def watch(self, thresh_mg, rate_hz, before):
        code = (thresh_mg * 10 + _MG_PER_LSB_X10 - 1) // _MG_PER_LSB_X10
        code = min(255, max(1, code))
        self._write(_POWER_CTL, 0)
        self._write(_INT_ENABLE, 0)
        self._write(_BW_RATE, RATES[rate_hz] | _LOW_POWER)
        self._write(_THRESH_ACT, code)
        self._write(_ACT_INACT_CTL, _ACT_AC_XYZ)
        self._write(_INT_MAP, 0)
        self._write(_FIFO_CTL, 0)  # bypass first: a trigger re-arms
        self._write(_FIFO_CTL, _FIFO_TRIGGER | min(before, _FIFO_DEPTH - 1))
        self._read(_INT_SOURCE, self.one)  # an old event must not wake the node
        self._write(_INT_ENABLE, _ACTIVITY)
        self._write(_POWER_CTL, _MEASURE)

    # After a wake: -1 when no activity event is latched; else the event is
    # cleared and the FIFO's samples around it (waited for until the FIFO
    # is full, at most max_wait_ms) are read into out (x, y, z, ...): returns
    # how many.
    def event(self, out, max_wait_ms):
        self._read(_INT_SOURCE, self.one)
        if not self.one[0] & _ACTIVITY:
            return -1
        self._read(_FIFO_STATUS, self.one)
        if not self.one[0] & _FIFO_TRIG:
            return 0
        waited = 0
        while self.fifo_count() < _FIFO_DEPTH and waited < max_wait_ms:
            sleep_ms(10)
            waited += 10
        return self.read_fifo(out)

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
