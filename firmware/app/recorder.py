# Turns readings and alarms into queued messages. Periodic readings accumulate
# in one SenML pack (preallocated buffer, nothing allocated per reading) until
# batch_readings are in it; then the batch gets its idempotency key from the
# queue, its head is written in front of the pack, and it is stored on flash.
# An alarm is encoded and stored at once (before anything is sent) and the link
# is woken to send it ahead of every batch.
#
# Times: the first record of a pack carries the base time (whole seconds); each
# record its offset in ms. Until the edge's welcome has set the clock the base
# time is 0, which the edge reads as "time unknown" (it stamps the batch with
# its arrival time); an alarm is never held back for the clock.

from firmware.app import clock
from firmware.app.queue import FlashQueue
from firmware.wire import protocol as P
from firmware.wire.senml import QUANTITIES, PackWriter


class Recorder:
    def __init__(
        self,
        queue: FlashQueue,
        node_id: str,
        batch_readings: int,
        on_alarm: object = None,
        buf_size: int = 1024,
    ) -> None:
        self.queue = queue
        self.base_name = node_id + ":"
        self.batch_readings = batch_readings
        self.on_alarm = on_alarm
        self.buf = bytearray(P.BATCH_HEAD_MAX + buf_size)
        self.alarm_buf = bytearray(P.BATCH_HEAD_MAX + 512)
        self.scratch = bytearray(P.BATCH_HEAD_MAX)
        self.pack = PackWriter(self.buf, P.BATCH_HEAD_MAX)
        self.alarm_pack = PackWriter(self.alarm_buf, P.BATCH_HEAD_MAX)
        self.base_ms = 0
        self.readings = 0  # total recorded
        self.batches = 0  # total queued
        self.alarms = 0
        self.alarm_overflow = 0

    def _add(
        self, pack: PackWriter, base_ms: int, name: str, mantissa: int, exponent: int | None = None
    ) -> int:
        unit, exp = QUANTITIES[name]
        if exponent is not None:
            exp = exponent
        now = clock.wall_ms()
        if pack.count == 0:
            base_ms = now - now % 1000
            pack.add(name, unit, mantissa, exp, now - base_ms, self.base_name, base_ms // 1000)
        else:
            pack.add(name, unit, mantissa, exp, now - base_ms)
        return base_ms

    def _add_flag(self, pack: PackWriter, base_ms: int, name: str, value: bool) -> int:
        now = clock.wall_ms()
        if pack.count == 0:
            base_ms = now - now % 1000
            pack.add_bool(name, value, now - base_ms, self.base_name, base_ms // 1000)
        else:
            pack.add_bool(name, value, now - base_ms)
        return base_ms

    # A periodic reading of a quantity from senml.QUANTITIES (value as an integer
    # mantissa in that quantity's scale).
    def reading(self, name: str, mantissa: int) -> None:
        self.base_ms = self._add(self.pack, self.base_ms, name, mantissa)
        self.readings += 1
        if self.pack.count >= self.batch_readings:
            self.flush()

    def flag(self, name: str, value: bool) -> None:
        self.base_ms = self._add_flag(self.pack, self.base_ms, name, value)
        self.readings += 1
        if self.pack.count >= self.batch_readings:
            self.flush()

    # Queues what the current pack holds (at a deep sleep, or on a timer).
    def flush(self) -> bool:
        if self.pack.count == 0:
            return False
        start, end = self.pack.finish()
        epoch, seq = self.queue.reserve()
        head = P.write_batch_head(self.buf, start, self.scratch, epoch, seq)
        self.queue.put(seq, memoryview(self.buf)[head:end])
        self.pack.reset()
        self.batches += 1
        return True

    # An alarm with the readings that explain it: records is a sequence of
    # (name, mantissa) for numbers and (name, True/False) for flags. Stored on
    # flash before this returns; raises QueueFull only when flash holds nothing
    # that may be dropped for it (the caller keeps it and retries).
    def alarm(self, kind: str, severity: int, records: list[tuple[str, object]]) -> None:
        pack = self.alarm_pack
        pack.reset()
        base_ms = 0
        for name, value in records:
            if value is True or value is False:
                base_ms = self._add_flag(pack, base_ms, name, value)
            elif isinstance(value, int):
                base_ms = self._add(pack, base_ms, name, value)
        start, end = pack.finish()
        epoch, seq = self.queue.reserve()
        head = P.write_batch_head(self.alarm_buf, start, self.scratch, epoch, seq, kind, severity)
        self.queue.put(seq, memoryview(self.alarm_buf)[head:end], True)
        self.alarms += 1
        if callable(self.on_alarm):
            self.on_alarm()
