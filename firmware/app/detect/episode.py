# Alarm episodes: each alarm kind is raised once per episode.
#
# raise_alarm() stores the alarm at once (Recorder.alarm writes it to flash
# before it returns and wakes the link) and marks the kind active; while it
# is active the same condition raises nothing more. How an episode ends:
# - condition alarms (a state that lasts: a door held open, a cover off, a
#   level above the threshold...) end with clear(kind) when the detector sees
#   the condition gone (with hysteresis): the kit records the boolean reading
#   "<kind>_alarm" = false ("overflow_alarm": false) into the periodic batch
#   (a name of its own: "tilt" or "h2s" are readings too). It does not wake
#   the radio; the platform pairs it with the open alarm;
# - momentary alarms (impact, water hammer, rough ride, alarm button) re-arm
#   silently with rearm(kind) once the detector has seen the quiet condition.
# An alarm the queue cannot take now (QueueFull: the alarm area is full and
# no batch is left to drop; or a flash error) is kept in RAM, at most
# MAX_PENDING of them, and retried by retry() at the next step; the kind
# counts as active meanwhile, so it is never raised twice.

from firmware.app.compat import const
from firmware.app.queue import QueueFull

MAX_PENDING = const(4)


class Episodes:
    def __init__(self, kinds, recorder):
        self.kinds = kinds
        self.recorder = recorder
        self.active = 0  # bit i set: kinds[i] is in an episode
        self.pending = []
        self.raised = 0
        self.lost = 0  # alarms that did not fit the RAM retry list either

    def bit(self, kind):
        return 1 << self.kinds.index(kind)

    def on(self, kind):
        return (self.active & self.bit(kind)) != 0

    # Raises kind unless it is already active; True when it was raised now.
    def raise_alarm(self, kind, severity, records):
        b = self.bit(kind)
        if self.active & b:
            return False
        self.active |= b
        self._store(kind, severity, records)
        return True

    def _store(self, kind, severity, records):
        try:
            self.recorder.alarm(kind, severity, records)
            self.raised += 1
        except (QueueFull, OSError):
            if len(self.pending) < MAX_PENDING:
                self.pending.append((kind, severity, records))
            else:
                self.lost += 1

    # Stores the alarms that did not fit earlier, oldest first.
    def retry(self):
        while self.pending:
            kind, severity, records = self.pending[0]
            try:
                self.recorder.alarm(kind, severity, records)
            except (QueueFull, OSError):
                return
            self.pending.pop(0)
            self.raised += 1

    # The active kinds to keep across a deep sleep: an alarm still waiting in
    # RAM is lost with it, so its kind is left inactive and raised again if
    # the condition still holds at the next wake.
    def saved(self):
        on = self.active
        for kind, _, _ in self.pending:
            on &= ~self.bit(kind)
        return on

    # Ends a condition episode: records <kind>_alarm = false in the batch.
    def clear(self, kind):
        b = self.bit(kind)
        if self.active & b:
            self.active &= ~b
            self.recorder.flag(kind + "_alarm", False)

    # Ends a momentary episode without a record.
    def rearm(self, kind):
        self.active &= ~self.bit(kind)
