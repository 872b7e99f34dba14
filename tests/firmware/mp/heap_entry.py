# The entry of a virtual board whose heap is measured: hardware/hal/boot.py
# imports this module instead of the flash's main.py. It samples the live heap
# (after a collection) every PERIOD_MS of simulated time (1000, or
# $FWTEST_HEAP_PERIOD_MS) from a simclock
# ticker, i.e. whenever the firmware waits, then runs the node exactly as the
# board would (import main -> loader.boot()), and prints what it saw every
# REPORT_EVERY samples (a mains node runs until it is stopped) and when the
# process ends (deep sleep, watchdog and resets end it with SystemExit):
#   @@HEAP@@ {"base": live heap before the firmware started (HAL + simulators),
#             "peak": highest live heap so far, "samples": n, "heap": total,
#             "t": scenario ms}
import gc
import json
import os
import sys

import simclock

PERIOD_MS = int(os.getenv("FWTEST_HEAP_PERIOD_MS") or "1000")
REPORT_EVERY = 60


class HeapProbe:
    fd = None

    def __init__(self):
        self.due = 0
        self.peak = 0
        self.samples = 0

    def next_ms(self, now):
        return self.due

    def service(self, now):
        gc.collect()
        live = gc.mem_alloc()
        self.peak = max(self.peak, live)
        self.samples += 1
        self.due = now + PERIOD_MS
        if self.samples % REPORT_EVERY == 0:
            self.report()

    def report(self):
        gc.collect()
        record = {
            "base": BASE,
            "peak": max(self.peak, gc.mem_alloc()),
            "samples": self.samples,
            "heap": gc.mem_alloc() + gc.mem_free(),
            "t": simclock.now_ms(),
        }
        sys.stdout.write("@@HEAP@@ " + json.dumps(record) + "\n")


gc.collect()
BASE = gc.mem_alloc()
probe = HeapProbe()
simclock.add_ticker(probe)
try:
    __import__("main")
except MemoryError:
    sys.stdout.write("@@HEAP@@ MemoryError\n")
    raise
finally:
    probe.report()
