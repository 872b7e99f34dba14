# Tilt: the angle between the gravity vector now and the one measured at
# install (the baseline), in centi-degrees. Inputs are milli-g integers; the
# angle is computed once per window with floats, the result is an integer.

import math


def tilt_cdeg(base, x, y, z):
    bx = base[0]
    by = base[1]
    bz = base[2]
    nb = math.sqrt(bx * bx + by * by + bz * bz)
    na = math.sqrt(x * x + y * y + z * z)
    if nb == 0 or na == 0:
        return -1
    c = (bx * x + by * y + bz * z) / (nb * na)
    if c > 1.0:
        c = 1.0
    elif c < -1.0:
        c = -1.0
    return int(math.acos(c) * 18000.0 / math.pi + 0.5)


# milli-g -> mm/s^2 (the unit of the accel_* quantities), integers only
# (products stay below 2**30 up to 100 g).
def mg_to_mm_s2(mg):
    return mg * 9807 // 1000
