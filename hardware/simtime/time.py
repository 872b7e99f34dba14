# mypy: ignore-errors
# Shadow `time` module: simulated time at CITYNERVE_SIM_SPEED (see simclock.py).
# With hardware/simtime first on sys.path, `import time` gives this module to
# every importer, MicroPython's asyncio included. Board-like behaviour:
# time() returns whole seconds (int), localtime() is gmtime() (no time zones on
# a board), epoch 1970 as on the ESP32 and RP2 ports.

import simclock

ticks_ms = simclock.ticks_ms
ticks_us = simclock.ticks_us
ticks_cpu = simclock.ticks_us
ticks_add = simclock.ticks_add
ticks_diff = simclock.ticks_diff
set_time = simclock.set_time
now_ms = simclock.now_ms


def sleep_ms(ms):
    simclock.wait(ms)


def sleep_us(us):
    simclock.wait_us(us)


def sleep(seconds):
    simclock.wait_us(int(seconds * 1000000))


def time():
    return simclock.epoch_ms() // 1000


def time_ns():
    return simclock.epoch_us() * 1000


def _days_from_civil(y, m, d):
    # Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant).
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def gmtime(secs=None):
    if secs is None:
        secs = time()
    secs = int(secs)
    days, rem = divmod(secs, 86400)
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    y += m <= 2
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    yday = days - _days_from_civil(y, 1, 1) + 1
    return (y, m, d, rem // 3600, rem // 60 % 60, rem % 60, weekday, yday)


localtime = gmtime


def mktime(t):
    y, m, d, hh, mm, ss = t[0], t[1], t[2], t[3], t[4], t[5]
    # Normalise the month like C mktime so out-of-range months roll over.
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    return _days_from_civil(y, m, 1) * 86400 + (d - 1) * 86400 + hh * 3600 + mm * 60 + ss
