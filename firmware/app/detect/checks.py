# Plausibility scores for faults that no single reading shows (a noisy
# accelerometer, a noisy thermometer): each check adds 2 for a suspicious
# reading and takes 1 off for a good one (never below 0); the part counts as
# faulty from LIMIT up and healthy again at 0. One suspicious reading (a real
# jolt, a knee in a temperature curve) never makes a fault; a persistent
# problem does within a few readings. The score is one small int, kept in
# the kit state across deep sleep.

from firmware.app.compat import const

LIMIT = const(4)
_CAP = const(8)


class Score:
    def __init__(self):
        self.score = 0
        self.faulty = False

    # Feeds one verdict; returns True while the part counts as faulty.
    def update(self, suspicious):
        if suspicious:
            self.score = min(self.score + 2, _CAP)
        elif self.score:
            self.score -= 1
        if self.score >= LIMIT:
            self.faulty = True
        elif self.score == 0:
            self.faulty = False
        return self.faulty

    def get(self):
        return self.score | (256 if self.faulty else 0)

    def set(self, value):
        if isinstance(value, int):
            self.score = min(value & 255, _CAP)
            self.faulty = (value & 256) != 0


# A smooth signal (a temperature sampled every minute or more) has a small
# second difference; sensor noise does not. Returns the second difference of
# the last three values, or 0 until three are known.
def second_difference(now, prev, prev2, known):
    if known < 2:
        return 0
    return now - 2 * prev + prev2
