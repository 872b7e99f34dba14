# Shadow `time` for the kit tests under MicroPython: first on MICROPYPATH, it
# replaces the built-in module for every importer (the firmware, MicroPython's
# asyncio) with the virtual clock of tests/kits/vclock.py. Wall-clock calls
# pass through to the real module.

import sys

import vclock


def _real(name):
    saved = list(sys.path)
    mine = sys.modules.get(name)
    if mine is not None:
        del sys.modules[name]
    sys.path.clear()
    try:
        mod = __import__(name)
    finally:
        sys.path.extend(saved)
        if mine is not None:
            sys.modules[name] = mine
    return mod


_rt = _real("time")
vclock.init(_rt.ticks_ms())

ticks_ms = vclock.ticks_ms
ticks_us = vclock.ticks_us
ticks_cpu = vclock.ticks_us
ticks_diff = vclock.ticks_diff
ticks_add = vclock.ticks_add
sleep_ms = vclock.sleep_ms
sleep_us = vclock.sleep_us
sleep = vclock.sleep
time = _rt.time
time_ns = _rt.time_ns
gmtime = _rt.gmtime
localtime = _rt.localtime
mktime = _rt.mktime
real = _rt
