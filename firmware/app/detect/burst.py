# Pressure bursts with a pre-trigger ring buffer (hydrant water hammer).
#
# A burst samples the pressure as fast as the ADC allows (single-shot
# conversions at 860 SPS: about 500 samples/s) into a preallocated ring of
# SIZE samples (array('i'), pascals). The first `lead` samples only prime a
# high-pass filter (an exponential moving average with a time constant of 32
# samples, about 64 ms, corner near 2.5 Hz: it follows the slow part - a
# valve being shut over seconds, a network pressure drift - and leaves the
# transient, whose oscillation is 5-20 Hz in a district main). After the
# lead-in, a high-passed excursion of at least `trigger` pascals triggers
# the capture: PRE samples from before the trigger are already in the ring,
# SIZE - PRE more are taken after it, then the burst ends. Without a trigger
# the burst runs for its whole window.
#
# swing: peak-to-peak of the high-passed pressure after the lead-in (the
# detection metric: a water hammer is an oscillation, a valve closing over
# seconds is not); low/high: the raw minimum and maximum over the captured
# ring (what the pipe saw, with the moments before the trigger); mean: the
# raw mean of the burst (the periodic pressure reading).

from array import array

from firmware.app.compat import const

SIZE = const(256)
PRE = const(64)
_SHIFT = const(5)


class Burst:
    def __init__(self):
        self.ring = array("i", [0] * SIZE)
        self.begin(0)

    def begin(self, lead):
        self.lead = lead
        self.n = 0
        self.pos = 0
        self.lp = 0
        self.first = 0
        self.total = 0
        self.trig_at = -1
        self.hp_min = 0
        self.hp_max = 0
        self.low = 0
        self.high = 0

    # One sample; True when a triggered capture is complete.
    def add(self, p, trigger):
        ring = self.ring
        ring[self.pos] = p
        self.pos += 1
        if self.pos == SIZE:
            self.pos = 0
        n = self.n
        if n == 0:
            self.first = p
            self.lp = p << _SHIFT
        hp = p - (self.lp >> _SHIFT)
        self.lp += hp
        self.total += p - self.first
        n += 1
        self.n = n
        if n <= self.lead:
            return False
        if n == self.lead + 1:
            self.hp_min = hp
            self.hp_max = hp
        elif hp > self.hp_max:
            self.hp_max = hp
        elif hp < self.hp_min:
            self.hp_min = hp
        if self.trig_at < 0:
            if hp >= trigger or hp <= -trigger:
                self.trig_at = n
            return False
        return n - self.trig_at >= SIZE - PRE

    def triggered(self):
        return self.trig_at >= 0

    def swing(self):
        return self.hp_max - self.hp_min

    def mean(self):
        if self.n == 0:
            return 0
        return self.first + self.total // self.n

    # Raw low and high over the samples held in the ring.
    def extremes(self):
        ring = self.ring
        held = self.n if self.n < SIZE else SIZE
        lo = ring[0]
        hi = lo
        for i in range(held):
            v = ring[i]
            if v < lo:
                lo = v
            elif v > hi:
                hi = v
        self.low = lo
        self.high = hi
        return lo, hi
