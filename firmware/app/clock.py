# Monotonic milliseconds and wall time that work on the board (MicroPython's
# time.ticks_*) and under CPython (the load-generator path). Wall time starts
# unset (boards have no battery-backed clock) and is set from the edge's
# welcome; until then wall() returns 0 and readings wait for it.

import time

try:
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
except AttributeError:
    # CPython: no wrap-around
    def ticks_ms() -> int:  # type: ignore[misc]
        return time.monotonic_ns() // 1000000  # type: ignore[attr-defined]

    def ticks_diff(a: int, b: int) -> int:  # type: ignore[misc]
        return a - b

    def ticks_add(a: int, b: int) -> int:  # type: ignore[misc]
        return a + b


# Wall time = _base_ms + ticks elapsed since _base_ticks. ticks wrap on boards
# (period 2**30 ms), and ticks_diff is exact only within half a period, so the
# base moves forward whenever an hour has passed.
_base_ms = 0
_base_ticks = ticks_ms()
_set = False
_REANCHOR_MS = 3600000


def set_wall(epoch_s: int) -> None:
    global _base_ms, _base_ticks, _set
    _base_ticks = ticks_ms()
    _base_ms = epoch_s * 1000
    _set = True


def wall_is_set() -> bool:
    return _set


# Milliseconds since 1970-01-01 UTC, or 0 while the clock is unset.
def wall_ms() -> int:
    global _base_ms, _base_ticks
    if not _set:
        return 0
    now = ticks_ms()
    elapsed = ticks_diff(now, _base_ticks)
    if elapsed > _REANCHOR_MS:
        _base_ms += elapsed
        _base_ticks = now
        elapsed = 0
    return _base_ms + elapsed


# Whole seconds since 1970-01-01 UTC, or 0 while the clock is unset.
def wall() -> int:
    return wall_ms() // 1000


# Milliseconds of the RTC, which keeps running through deep sleep (ticks
# start again at every boot). It jumps when the wall clock is set: compare
# two readings only across a sleep, never across a welcome.
def rtc_ms() -> int:
    try:
        return time.time_ns() // 1000000
    except AttributeError:
        return int(time.time() * 1000)
