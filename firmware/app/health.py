# The node's health: sensor faults (part -> reason) and counters, reported in
# status messages. A fault is recorded once per change, never raised further:
# a missing sensor must not stop the node.

import gc

from firmware.app import clock


class Health:
    def __init__(self, reset_cause=0, boot=0):
        self.faults = {}
        self.fault_events = 0
        self.reset_cause = reset_cause
        self.boot = boot
        self.started_ms = clock.ticks_ms()

    # Records a fault of a part (a SensorFault, or part and reason).
    def fault(self, part, reason=""):
        if self.faults.get(part) != reason:
            self.faults[part] = reason
            self.fault_events += 1

    def clear(self, part):
        if part in self.faults:
            del self.faults[part]

    def ok(self, part):
        return part not in self.faults

    # The status message body: text keys, integer and text values.
    def report(self, queue=None, link_stats=None, battery_mv=-1):
        gc.collect()
        report = {
            "uptime_s": clock.ticks_diff(clock.ticks_ms(), self.started_ms) // 1000,
            "reset_cause": self.reset_cause,
            "boot": self.boot,
            "heap_free": gc.mem_free() if hasattr(gc, "mem_free") else -1,
            "faults": ",".join(sorted("%s:%s" % (k, v) for k, v in self.faults.items())),
            "fault_events": self.fault_events,
        }
        free = report["heap_free"]
        report["heap_largest"] = largest_free_block(free) if free >= 0 else -1
        if battery_mv >= 0:
            report["battery_mv"] = battery_mv
        if queue is not None:
            report["queue_depth"] = queue.depth()
            report["queue_dropped"] = queue.dropped
            report["queue_rejected"] = queue.rejected
        if link_stats is not None:
            report["link_connects"] = link_stats.connects
            report["link_failures"] = link_stats.failures
            for reason, count in link_stats.errors.items():
                report["err_" + reason] = count
        return report


# The largest block the heap can hand out now, found by trying allocations
# (binary search, each freed at once); health reports are rare, so the probes
# cost nothing that matters.
def largest_free_block(free):
    lo = 0
    hi = free
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            probe = bytearray(mid)
            del probe
            lo = mid
        except MemoryError:
            hi = mid - 1
    gc.collect()
    return lo
