# Accelerometer windows and trip vibration statistics (ADXL345 in milli-g).
#
# Window: n samples read into a preallocated array('h') (x, y, z, ...), then
# integer statistics: the mean vector (tilt), the largest deviation from a
# reference vector (impact), a noise metric and a saturation count. Nothing is
# allocated per sample.
#
# Noise metric ("roughness"): the mean over the window of the summed absolute
# differences of consecutive samples on the three axes, in milli-g. A resting
# part reads a few mg (the sensor's own noise); a noisy or failing part reads
# tens of mg; a real shake also does, which is why noise becomes a fault only
# through checks.Score (persistent, not one window).
#
# Vibration: the dynamic part of the acceleration during an elevator trip.
# Each axis is high-passed by subtracting an exponential moving average
# (time constant 16 samples: 160 ms at 100 Hz, corner about 1 Hz), which
# removes gravity and the slow trip accelerations but keeps ride vibration
# (guide rollers, ropes: 2-20 Hz). RMS is over the whole trip of the
# high-passed vector magnitude; peak is its largest magnitude. The sum of
# squares is kept in two integers (carry every block) so no intermediate
# passes 2**30 (a heap big int on a board). The low-passed z deviation from
# the rest value gives the trip's acceleration phases and an emergency stop.

import math
from array import array

from firmware.app.compat import const, sleep_ms

_DEV_CLIP = const(17000)  # largest per-axis deviation counted (mg)
_HP_CLIP = const(2000)  # largest per-axis vibration counted (mg)
_SAT_MARGIN = const(100)
_CARRY = const(0xFFFFFF)


class Window:
    def __init__(self, n):
        self.n = n
        self.buf = array("h", [0] * (3 * n))
        self.count = 0
        self.mean = array("i", [0, 0, 0])
        self.peak_mg = 0
        self.rough_mg = 0
        self.saturated = 0

    # Reads n samples period_ms apart (the driver in bypass mode at an output
    # rate of at least 1000/period_ms Hz), the first one period_ms from now
    # (a part just started has no sample before that).
    def capture(self, drv, period_ms):
        buf = self.buf
        for i in range(self.n):
            sleep_ms(period_ms)
            drv.read_mg_at(buf, 3 * i)
        self.count = self.n

    # Statistics of the captured samples; ref is the vector deviations are
    # measured from (the baseline), or None for the window's own mean.
    def analyse(self, ref, full_scale_mg):
        buf = self.buf
        n = self.count
        if n == 0:
            return
        sx = 0
        sy = 0
        sz = 0
        sat = 0
        rail = full_scale_mg - _SAT_MARGIN
        rough = 0
        px = buf[0]
        py = buf[1]
        pz = buf[2]
        for i in range(n):
            x = buf[3 * i]
            y = buf[3 * i + 1]
            z = buf[3 * i + 2]
            sx += x
            sy += y
            sz += z
            if x >= rail or x <= -rail or y >= rail or y <= -rail or z >= rail or z <= -rail:
                sat += 1
            rough += abs(x - px) + abs(y - py) + abs(z - pz)
            px = x
            py = y
            pz = z
        m = self.mean
        m[0] = sx // n
        m[1] = sy // n
        m[2] = sz // n
        if ref is None:
            ref = m
        rx = ref[0]
        ry = ref[1]
        rz = ref[2]
        peak = 0
        for i in range(n):
            dx = _clip(buf[3 * i] - rx, _DEV_CLIP)
            dy = _clip(buf[3 * i + 1] - ry, _DEV_CLIP)
            dz = _clip(buf[3 * i + 2] - rz, _DEV_CLIP)
            d = dx * dx + dy * dy + dz * dz
            peak = max(peak, d)
        self.peak_mg = isqrt(peak)
        self.rough_mg = rough // (n - 1) if n > 1 else 0
        self.saturated = sat


# Integer square root (floor) of a small non-negative int: no float.
def isqrt(n):
    if n <= 0:
        return 0
    x = n
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


def _clip(v, limit):
    if v > limit:
        return limit
    if v < -limit:
        return -limit
    return v


class Vibration:
    def __init__(self):
        self.begin(0, 0, 1000)

    def begin(self, rx, ry, rz):
        self.rz = rz
        self.mx = rx << 4
        self.my = ry << 4
        self.mz = rz << 4
        self.lo = 0
        self.hi = 0
        self.n = 0
        self.peak = 0
        self.zdev = 0  # low-passed z minus rest, mg (latest)
        self.zmax = 0
        self.zmin = 0

    # Feeds count samples (x, y, z, ...) from buf.
    def feed(self, buf, count):
        mx = self.mx
        my = self.my
        mz = self.mz
        lo = self.lo
        peak = self.peak
        zmax = self.zmax
        zmin = self.zmin
        rz = self.rz
        zdev = self.zdev
        for i in range(count):
            hx = buf[3 * i] - (mx >> 4)
            hy = buf[3 * i + 1] - (my >> 4)
            hz = buf[3 * i + 2] - (mz >> 4)
            mx += hx
            my += hy
            mz += hz
            hx = _clip(hx, _HP_CLIP)
            hy = _clip(hy, _HP_CLIP)
            hz = _clip(hz, _HP_CLIP)
            s = hx * hx + hy * hy + hz * hz
            lo += s
            peak = max(peak, s)
            zdev = (mz >> 4) - rz
            if zdev > zmax:
                zmax = zdev
            elif zdev < zmin:
                zmin = zdev
        if lo > _CARRY:
            self.hi += lo >> 24
            lo &= _CARRY
        self.mx = mx
        self.my = my
        self.mz = mz
        self.lo = lo
        self.peak = peak
        self.zmax = zmax
        self.zmin = zmin
        self.zdev = zdev
        self.n += count

    def rms_mg(self):
        if self.n == 0:
            return 0
        total = (self.hi << 24) + self.lo
        return int(math.sqrt(total / self.n))

    def peak_mg(self):
        return int(math.sqrt(self.peak))
