# ADXL345 3-axis accelerometer (Analog Devices), I2C address 0x53 (ALT
# ADDRESS low; 0x1D with it high).
#
# Registers modelled (datasheet Rev. G register map):
#   0x00 DEVID        reads 0xE5
#   0x1E-0x20 OFSX/Y/Z signed offsets, 15.6 mg/LSB, added to every sample
#   0x24 THRESH_ACT   activity threshold, 62.5 mg/LSB
#   0x25 THRESH_INACT inactivity threshold, 62.5 mg/LSB
#   0x26 TIME_INACT   inactivity time, 1 s/LSB
#   0x27 ACT_INACT_CTL bit 7 ACT ac/dc, bits 6:4 ACT_X/Y/Z enable, bit 3
#                     INACT ac/dc, bits 2:0 INACT_X/Y/Z enable
#   0x2B ACT_TAP_STATUS bits 6:4 the axes of the first activity event
#   0x2C BW_RATE      low nibble = rate code, ODR = 100 Hz * 2^(code-10)
#                     (0x0F 3200 Hz ... 0x0A 100 Hz ... 0x00 0.10 Hz); reset
#                     0x0A; bit 4 LOW_POWER (less current, more noise)
#   0x2D POWER_CTL    bit 3 MEASURE: samples are produced only while set
#   0x2E INT_ENABLE, 0x2F INT_MAP (a set bit sends the source to INT2)
#   0x30 INT_SOURCE   bit 7 DATA_READY, bit 4 Activity, bit 3 Inactivity,
#                     bit 1 WATERMARK, bit 0 OVERRUN; Activity and
#                     Inactivity are latched and cleared by reading INT_SOURCE
#   0x31 DATA_FORMAT  bits 1:0 range +-2/4/8/16 g, bit 3 FULL_RES, bit 2 JUSTIFY,
#                     bit 5 INT_INVERT (INT1/INT2 active low)
#   0x32-0x37 DATAX0..DATAZ1  little-endian two's complement
#   0x38 FIFO_CTL     bits 7:6 mode (00 bypass, 01 FIFO, 10 stream, 11 trigger),
#                     bit 5 trigger on INT2 (0: INT1), bits 4:0 samples
#   0x39 FIFO_STATUS  bit 7 FIFO_TRIG (a trigger event occurred), bits 5:0
#                     entries (0..32)
# Multi-byte reads auto-increment. INT1/INT2 are active high, active low with
# INT_INVERT.
#
# Scale: 10-bit mode gives 256/128/64/32 LSB/g at +-2/4/8/16 g; FULL_RES
# gives 256 LSB/g (3.9 mg/LSB) with 10..13 bits. Values beyond the range
# clip at the full-scale code, as the part's output does.
#
# Sampling: sample k (k = 1, 2, ...) completes at t0 + k/ODR after MEASURE
# was set (or the rate changed) and takes the world's acceleration at that
# millisecond. Samples are produced lazily on each bus access from the
# clock; only the last 33 of a long gap are computed (the FIFO holds 32 plus
# the output registers), or, in FIFO mode, the first ones that fit.
#
# Activity and inactivity (datasheet "Interrupts"): every sample is compared
# on the enabled axes. Dc-coupled: |a| against the threshold; ac-coupled:
# |a - reference|, the reference being the first sample after the function
# was enabled (measurement started, or ACT_INACT_CTL/INT_ENABLE written).
# Activity: any enabled axis above THRESH_ACT. Inactivity: every enabled
# axis below THRESH_INACT for TIME_INACT s (ac-coupled: the reference
# follows each sample that is above it); after an inactivity event the time
# starts again (simplification). A function runs while its axes and its
# INT_ENABLE bit are set. Over a long gap the comparison runs on every
# sample, skipping stretches in which the world's bounds (World.span) keep
# every axis on one side of the thresholds; the comparison uses the world's
# acceleration plus the offset registers (no noise, no clipping).
#
# FIFO: bypass keeps only the output registers; FIFO mode collects up to 32
# samples then stops; stream keeps the newest 32 (OVERRUN when one is
# dropped); trigger mode runs as stream until an interrupt event reaches the
# pin its trigger bit names, then keeps the last `samples` entries (the
# event's sample the newest of them), sets FIFO_TRIG and collects as FIFO
# mode until full; writing bypass (or another mode) re-arms it. With the
# FIFO in use the output registers show the oldest entry and a read phase
# touching any of 0x32-0x37 pops one entry at its end (the datasheet asks
# for a 6-byte burst per sample).
# DATA_READY: bypass - set by a new sample, cleared by reading the data
# registers; FIFO modes - set while entries > 0.
#
# Supply current (datasheet Tables 7 and 8, VS = 2.5 V, typical): by rate
# code while measuring, LOW_POWER where Table 8 lists the rate, 0.1 uA in
# standby. charge_nams(now) integrates it (nA * ms) for the energy model.
#
# The chip keeps its registers while the battery is connected: state() and
# load() carry them across a simulated deep sleep (a new process; see
# hardware/sim/attach.py).
#
# Not modelled: tap, free-fall, the link bit, sleep and auto-sleep
# (POWER_CTL bits other than MEASURE are stored only), self test, SPI.
#
# Faults: "nack", "stuck", "eio" (bus-level, see i2c_bus.py), "wrong_id"
# (DEVID reads `wrong_id_value`, default 0x00), "saturate" (every axis pinned
# at the rail of its sign), "noise" (+-noise_mg uniform per axis from xorshift32).

from hardware.sim.device import I2CDevice

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hardware.sim.world import World

DEVID = 0x00
OFSX = 0x1E
THRESH_ACT = 0x24
THRESH_INACT = 0x25
TIME_INACT = 0x26
ACT_INACT_CTL = 0x27
ACT_TAP_STATUS = 0x2B
BW_RATE = 0x2C
POWER_CTL = 0x2D
INT_ENABLE = 0x2E
INT_MAP = 0x2F
INT_SOURCE = 0x30
DATA_FORMAT = 0x31
INT_INVERT = 0x20
DATAX0 = 0x32
DATAZ1 = 0x37
FIFO_CTL = 0x38
FIFO_STATUS = 0x39

DEVID_VALUE = 0xE5
MEASURE = 0x08
LOW_POWER = 0x10
FULL_RES = 0x08
JUSTIFY = 0x04
DATA_READY = 0x80
ACTIVITY = 0x10
INACTIVITY = 0x08
WATERMARK = 0x02
OVERRUN = 0x01
ACT_AC = 0x80
INACT_AC = 0x08
FIFO_TRIG = 0x80
TRIGGER_INT2 = 0x20
MG_PER_THRESH_LSB_X10 = 625  # 62.5 mg per LSB of THRESH_ACT/THRESH_INACT

MODE_BYPASS = 0
MODE_FIFO = 1
MODE_STREAM = 2
MODE_TRIGGER = 3
FIFO_DEPTH = 32

# Supply current in uA by BW_RATE rate code (datasheet Table 7, normal
# power) and, where low-power mode saves current, with LOW_POWER (Table 8).
IDD_UA = (23, 23, 23, 23, 34, 40, 45, 50, 60, 90, 140, 140, 140, 140, 90, 140)
IDD_LOW_POWER_UA = {7: 34, 8: 40, 9: 45, 10: 50, 11: 60, 12: 90}
STANDBY_NA = 100

# Writable registers (read-only ones ignore writes).
_WRITABLE = (0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29)
_WRITABLE2 = (0x2A, 0x2C, 0x2D, 0x2E, 0x2F, 0x31, 0x38)
_AXES = ("accel_x", "accel_y", "accel_z")
_EVENTS = ACTIVITY | INACTIVITY
# how far ahead next_int_ms() looks per call (the caller asks again from there)
_HORIZON_MS = 3600000


def odr_millihertz(rate_code: int) -> int:
    # Output data rate in mHz for a BW_RATE rate code (0..15).
    code = rate_code & 0x0F
    if code >= 10:
        return 100000 << (code - 10)
    return 100000 >> (10 - code)


def current_na(bw_rate: int, measuring: bool) -> int:
    # Supply current in nA for a BW_RATE value, measuring or in standby.
    if not measuring:
        return STANDBY_NA
    code = bw_rate & 0x0F
    if bw_rate & LOW_POWER and code in IDD_LOW_POWER_UA:
        return IDD_LOW_POWER_UA[code] * 1000
    return IDD_UA[code] * 1000


class Detector:
    # The activity/inactivity state between samples (copied for look-ahead).
    def __init__(self) -> None:
        self.ref: list[int] | None = None  # ac-coupled activity reference
        self.iref: list[int] | None = None  # ac-coupled inactivity reference
        self.since = -1  # time the current inactive stretch began, -1: none
        self.since_event = -1  # when the last inactivity event came
        self.act = False  # latched Activity
        self.inact = False  # latched Inactivity
        self.axes = 0  # ACT_TAP_STATUS bits 6:4 of the first activity

    def copy(self) -> "Detector":
        d = Detector()
        d.ref = self.ref
        d.iref = self.iref
        d.since = self.since
        d.since_event = self.since_event
        d.act = self.act
        d.inact = self.inact
        d.axes = self.axes
        return d


class ADXL345(I2CDevice):
    FAULTS = ("nack", "stuck", "eio", "wrong_id", "saturate", "noise")

    def __init__(
        self,
        clock: "Callable[[], int]",
        world: "World",
        addr: int = 0x53,
        seed: int = 345,
    ) -> None:
        I2CDevice.__init__(self, addr, seed)
        self.clock = clock
        self.world = world
        self.noise_mg = 50
        self.wrong_id_value = 0x00
        self.regs = bytearray(64)
        self.regs[DEVID] = DEVID_VALUE
        self.regs[BW_RATE] = 0x0A
        self.fifo: list[tuple[int, int, int]] = []
        self.data = (0, 0, 0)
        self.data_ready = False
        self.overrun = False
        self.t0 = 0
        self.done = 0
        self.samples = 0  # samples produced since power-on (all, even skipped)
        self.det = Detector()
        self.trig_k = -1  # sample of the FIFO trigger event, -1: none yet
        self.charge = 0  # nA * ms since power-on, up to charge_t
        self.charge_t = clock()
        self._ahead: tuple[int, int, Detector, int] | None = None

    # --- conversion -----------------------------------------------------------

    def measuring(self) -> bool:
        return bool(self.regs[POWER_CTL] & MEASURE)

    def fifo_mode(self) -> int:
        return self.regs[FIFO_CTL] >> 6

    def bits(self) -> int:
        fmt = self.regs[DATA_FORMAT]
        if fmt & FULL_RES:
            return 10 + (fmt & 0x03)
        return 10

    def lsb_per_g(self) -> int:
        fmt = self.regs[DATA_FORMAT]
        if fmt & FULL_RES:
            return 256
        return 256 >> (fmt & 0x03)

    def offset_mg(self, axis: int) -> int:
        # The offset register of an axis in mg (15.6 mg/LSB).
        off = _s8(self.regs[OFSX + axis])
        q = (abs(off) * 156 + 5) // 10
        return q if off >= 0 else -q

    def convert(self, mg: int, offset: int) -> int:
        # Milli-g (plus the offset register, 15.6 mg/LSB) to an output code.
        q = (abs(offset) * 156 + 5) // 10
        mg = mg + (q if offset >= 0 else -q)
        if "noise" in self.faults:
            mg += self.rng.signed(self.noise_mg)
        code = (mg * self.lsb_per_g() * 2 + 1000) // 2000
        top = (1 << (self.bits() - 1)) - 1
        if "saturate" in self.faults:
            code = top if code >= 0 else -top - 1
        if code > top:
            code = top
        elif code < -top - 1:
            code = -top - 1
        if self.regs[DATA_FORMAT] & JUSTIFY:
            code <<= 16 - self.bits()
        return code

    def sample_at(self, t_ms: int) -> tuple[int, int, int]:
        x, y, z = self.world.accel(t_ms)
        r = self.regs
        return (
            self.convert(x, _s8(r[OFSX])),
            self.convert(y, _s8(r[OFSX + 1])),
            self.convert(z, _s8(r[OFSX + 2])),
        )

    def time_of(self, k: int) -> int:
        # Completion time (ms) of sample k of the current measurement.
        return self.t0 + k * 1000000 // odr_millihertz(self.regs[BW_RATE])

    def first_at(self, t_ms: int) -> int:
        # The first sample completing at or after t_ms.
        odr = odr_millihertz(self.regs[BW_RATE])
        return max(1, -(-(t_ms - self.t0) * odr // 1000000))

    def restart(self) -> None:
        self.t0 = self.clock()
        self.done = 0
        self.det.ref = None
        self.det.iref = None
        self.det.since = -1

    def update(self) -> None:
        if not self.measuring():
            return
        odr = odr_millihertz(self.regs[BW_RATE])
        total = (self.clock() - self.t0) * odr // 1000000
        new = total - self.done
        if new <= 0:
            return
        first = self.done + 1
        armed = self.trigger_armed()
        fire = self.scan(self.det, first, total)
        if armed and fire >= 0:
            # trigger mode: keep the last `samples` entries up to the event,
            # then collect as FIFO mode
            n = self.regs[FIFO_CTL] & 0x1F
            self.fifo = []
            for k in range(max(1, fire - n + 1), fire + 1):
                self.fifo.append(self.sample_at(self.time_of(k)))
            if self.fifo:
                self.data = self.fifo[0]
            self.trig_k = fire
            first = fire + 1
        mode = self.effective_mode()
        last = total
        if mode == MODE_FIFO:
            room = FIFO_DEPTH - len(self.fifo)
            last = min(total, first - 1 + max(room, 1))
        elif mode == MODE_BYPASS:
            first = total
        else:
            first = max(first, total - FIFO_DEPTH)
        for k in range(first, last + 1):
            self.push(self.sample_at(self.time_of(k)), mode)
        if mode != MODE_FIFO and new > last - first + 1:
            self.overrun = True  # samples were replaced before anyone read them
        self.samples += new
        self.done = total

    def effective_mode(self) -> int:
        mode = self.fifo_mode()
        if mode == MODE_TRIGGER:
            return MODE_FIFO if self.trig_k >= 0 else MODE_STREAM
        return mode

    def push(self, s: tuple[int, int, int], mode: int) -> None:
        if mode == MODE_BYPASS:
            if self.data_ready:
                self.overrun = True
            self.data = s
            self.data_ready = True
            return
        if len(self.fifo) >= FIFO_DEPTH:
            if mode == MODE_FIFO:
                return
            self.fifo.pop(0)
            self.overrun = True
        self.fifo.append(s)
        self.data = self.fifo[0]

    # --- activity and inactivity ------------------------------------------------

    def trigger_armed(self) -> bool:
        # Trigger mode waiting for its event, with an event source on its pin.
        if self.fifo_mode() != MODE_TRIGGER or self.trig_k >= 0:
            return False
        on_int2 = TRIGGER_INT2 if self.regs[FIFO_CTL] & TRIGGER_INT2 else 0
        mapped = self.regs[INT_MAP] if on_int2 else ~self.regs[INT_MAP]
        return bool(self.regs[INT_ENABLE] & mapped & _EVENTS)

    def mg_at(self, t_ms: int) -> list[int]:
        v = self.world.accel(t_ms)
        return [v[0] + self.offset_mg(0), v[1] + self.offset_mg(1), v[2] + self.offset_mg(2)]

    # Compares samples first..last with the activity/inactivity thresholds,
    # updating det. Returns the sample at which the first event of the scan
    # latched (-1: none); with stop, the scan ends there.
    def scan(self, det: Detector, first: int, last: int, stop: bool = False) -> int:
        r = self.regs
        ctl = r[ACT_INACT_CTL]
        act_axes = (ctl >> 4) & 7 if r[INT_ENABLE] & ACTIVITY else 0
        in_axes = ctl & 7 if r[INT_ENABLE] & INACTIVITY else 0
        if not act_axes and not in_axes:
            return -1
        thr = r[THRESH_ACT] * MG_PER_THRESH_LSB_X10 // 10
        ithr = r[THRESH_INACT] * MG_PER_THRESH_LSB_X10 // 10
        itime = r[TIME_INACT] * 1000
        act_ac = bool(ctl & ACT_AC)
        in_ac = bool(ctl & INACT_AC)
        fired = -1
        k = first
        while k <= last:
            if not in_axes and det.act:
                return fired  # latched: nothing left to find until it is read
            t = self.time_of(k)
            if det.ref is not None and det.iref is not None:
                end = self.quiet_until(t, det, (act_axes, thr, in_axes, ithr))
                if end > t:
                    k2 = min(last + 1, self.first_at(end))
                    if in_axes and self.inactive_until(det, t, self.time_of(k2 - 1), itime):
                        at = self.first_at(det.since_event)
                        if fired < 0:
                            fired = at
                        if stop:
                            return fired
                    k = k2
                    continue
            v = self.mg_at(t)
            if det.ref is None or det.iref is None:
                det.ref = v if act_ac else [0, 0, 0]
                det.iref = v if in_ac else [0, 0, 0]
                k += 1
                continue
            hit = _over(v, det.ref, act_axes, thr)
            new = False
            if hit and not det.act:
                det.act = True
                det.axes = hit << 4
                new = True
            if in_axes:
                if _over(v, det.iref, in_axes, ithr - 1):
                    det.since = -1
                    if in_ac:
                        det.iref = v
                elif self.inactive_until(det, t, t, itime):
                    new = True
            if new and fired < 0:
                fired = k
                if stop:
                    return fired
            k += 1
        return fired

    def quiet_until(self, t: int, det: Detector, limits: tuple[int, int, int, int]) -> int:
        # The end of the stretch from t in which no enabled axis can pass the
        # activity threshold and every inactivity axis stays below its own
        # (t itself when no such stretch begins at t). limits: activity axes
        # and threshold, inactivity axes and threshold.
        act_axes, thr, in_axes, ithr = limits
        end = 1 << 60
        ref = det.ref if det.ref is not None else [0, 0, 0]
        iref = det.iref if det.iref is not None else [0, 0, 0]
        for i in range(3):
            bit = 4 >> i
            if not (act_axes & bit or in_axes & bit):
                continue
            stop, lo, hi = self.world.span(_AXES[i], t)
            off = self.offset_mg(i)
            lo += off
            hi += off
            if act_axes & bit and max(abs(lo - ref[i]), abs(hi - ref[i])) > thr:
                return t
            if in_axes & bit and max(abs(lo - iref[i]), abs(hi - iref[i])) >= ithr:
                return t
            end = min(end, stop)
        return end

    def inactive_until(self, det: Detector, t_from: int, t_to: int, itime: int) -> bool:
        # Every inactivity axis stayed below its threshold from t_from to t_to;
        # True when that makes an event (at det.since_event).
        if det.since < 0:
            det.since = t_from
        if t_to - det.since < itime:
            return False
        det.since_event = det.since + itime
        det.since = -1
        if det.inact:
            return False
        det.inact = True
        return True

    # --- what a sleeping board asks ----------------------------------------------

    def int_sources(self, det: Detector) -> int:
        v = self.int_source() & ~_EVENTS
        if det.act:
            v |= ACTIVITY
        if det.inact:
            v |= INACTIVITY
        return v

    def pin_level(self, sources: int, pin: int) -> int:
        active = sources & self.regs[INT_ENABLE]
        mapped = self.regs[INT_MAP]
        active &= mapped if pin == 2 else ~mapped
        return 1 if active else 0

    def look_ahead(self, t_ms: int) -> tuple[int, Detector]:
        # The detector as it will be at t_ms (no register changes meanwhile),
        # and the last sample up to it; the chip itself is not changed.
        self.update()
        if not self.measuring():
            return self.done, self.det
        last = (t_ms - self.t0) * odr_millihertz(self.regs[BW_RATE]) // 1000000
        if last <= self.done:
            return self.done, self.det
        a = self._ahead
        if a is not None and a[0] == self.done and a[3] == self.clock() and a[1] <= last:
            k, det = a[1], a[2].copy()
        else:
            k, det = self.done, self.det.copy()
        if last > k:
            self.scan(det, k + 1, last)
        self._ahead = (self.done, last, det.copy(), self.clock())
        return last, det

    def int_at(self, t_ms: int, pin: int = 1) -> int:
        # The level of INT1/INT2 at scenario time t_ms >= now, as it would be
        # if nobody touched the chip until then.
        _k, det = self.look_ahead(t_ms)
        return self.pin_out(self.pin_level(self.int_sources(det), pin))

    def next_int_ms(self, t_ms: int, pin: int = 1) -> int | None:
        # When INT1/INT2 next goes active after t_ms (an activity or
        # inactivity event, or the next sample for a data source), looking
        # _HORIZON_MS ahead: returns the horizon when nothing happens before
        # it (ask again from there), None when the pin cannot change.
        self.update()
        if not self.measuring():
            return None
        mapped = self.regs[INT_MAP] if pin == 2 else ~self.regs[INT_MAP]
        enabled = self.regs[INT_ENABLE] & mapped
        if not enabled:
            return None
        if enabled & ~_EVENTS:
            return self.time_of(self.first_at(t_ms + 1))
        k, now_det = self.look_ahead(t_ms)
        if self.pin_level(self.int_sources(now_det), pin):
            return None  # active already: it stays so until INT_SOURCE is read
        horizon = t_ms + _HORIZON_MS
        last = (horizon - self.t0) * odr_millihertz(self.regs[BW_RATE]) // 1000000
        det = now_det.copy()
        k += 1
        while k <= last:
            at = self.scan(det, k, last, True)
            if at < 0:
                break
            if self.pin_level(self.int_sources(det), pin):
                return max(self.time_of(at), t_ms + 1)
            k = at + 1  # an event for the other pin
        return horizon

    # --- supply current --------------------------------------------------------------

    def current_na(self) -> int:
        return current_na(self.regs[BW_RATE], self.measuring())

    def account(self) -> None:
        now = self.clock()
        if now > self.charge_t:
            self.charge += self.current_na() * (now - self.charge_t)
        self.charge_t = now

    def charge_nams(self) -> int:
        # Charge drawn since power-on, nA * ms.
        self.account()
        return self.charge

    # --- registers ------------------------------------------------------------

    def begin_read(self) -> None:
        self.update()

    def int_source(self) -> int:
        v = 0
        if self.fifo_mode() == MODE_BYPASS:
            if self.data_ready:
                v |= DATA_READY
        else:
            n = len(self.fifo)
            if n:
                v |= DATA_READY
            if n >= (self.regs[FIFO_CTL] & 0x1F) and n:
                v |= WATERMARK
        if self.overrun:
            v |= OVERRUN
        if self.det.act:
            v |= ACTIVITY
        if self.det.inact:
            v |= INACTIVITY
        return v

    def read_reg(self, reg: int) -> int:
        if reg == DEVID:
            return self.wrong_id_value if "wrong_id" in self.faults else DEVID_VALUE
        if DATAX0 <= reg <= DATAZ1:
            i = reg - DATAX0
            v = self.data[i >> 1] & 0xFFFF
            return v >> 8 if i & 1 else v & 0xFF
        if reg == INT_SOURCE:
            return self.int_source()
        if reg == ACT_TAP_STATUS:
            return self.det.axes
        if reg == FIFO_STATUS:
            return len(self.fifo) | (FIFO_TRIG if self.trig_k >= 0 else 0)
        if reg < 64:
            return self.regs[reg]
        return 0

    def end_read(self, start: int, n: int) -> None:
        end = start + n - 1
        if start <= INT_SOURCE <= end:
            self.det.act = False  # Activity and Inactivity clear on read
            self.det.inact = False
        if end < DATAX0 or start > DATAZ1:
            return
        self.overrun = False
        if self.fifo_mode() == MODE_BYPASS:
            self.data_ready = False
        elif self.fifo:
            self.fifo.pop(0)
            if self.fifo:
                self.data = self.fifo[0]

    def write_reg(self, reg: int, value: int) -> None:
        if reg not in _WRITABLE and reg not in _WRITABLE2:
            return
        self.update()
        self.account()
        old = self.regs[reg]
        self.regs[reg] = value
        if reg == POWER_CTL and value & MEASURE and not old & MEASURE:
            self.restart()  # measurement starts: sample phase from now
        elif reg == BW_RATE and (value ^ old) & 0x0F:
            self.restart()  # new rate: new sample phase
        elif reg == FIFO_CTL and (value >> 6) != (old >> 6):
            self.fifo = []  # a mode change empties the FIFO (and re-arms a trigger)
            self.overrun = False
            self.trig_k = -1
        elif reg in (ACT_INACT_CTL, INT_ENABLE) and value != old:
            self.det.ref = None  # the functions start again: new references
            self.det.iref = None
            self.det.since = -1

    def int_pin(self, pin: int = 1) -> int:
        # Level of INT1/INT2 on the wire.
        self.update()
        return self.pin_out(self.pin_level(self.int_source(), pin))

    def pin_out(self, active: int) -> int:
        # The wire level of an INT pin that is active (1) or not (0).
        return active ^ 1 if self.regs[DATA_FORMAT] & INT_INVERT else active

    # --- kept across a deep sleep of the board --------------------------------------------

    def state(self) -> "dict[str, Any]":
        self.update()
        self.account()
        d = self.det
        return {
            "regs": list(self.regs),
            "t0": self.t0,
            "done": self.done,
            "fifo": [list(s) for s in self.fifo],
            "data": list(self.data),
            "dr": self.data_ready,
            "ovr": self.overrun,
            "trig": self.trig_k,
            "det": [d.ref, d.iref, d.since, d.act, d.inact, d.axes],
            "charge": self.charge,
            "charge_t": self.charge_t,
            "samples": self.samples,
        }

    def load(self, s: "dict[str, Any] | None") -> None:
        if not isinstance(s, dict) or len(s.get("regs") or ()) != 64:
            return
        self.regs = bytearray(s["regs"])
        self.t0 = s["t0"]
        self.done = s["done"]
        self.fifo = [(v[0], v[1], v[2]) for v in s["fifo"]]
        v = s["data"]
        self.data = (v[0], v[1], v[2])
        self.data_ready = s["dr"]
        self.overrun = s["ovr"]
        self.trig_k = s["trig"]
        d = s["det"]
        self.det.ref, self.det.iref, self.det.since = d[0], d[1], d[2]
        self.det.act, self.det.inact, self.det.axes = d[3], d[4], d[5]
        self.charge = s["charge"]
        self.charge_t = s["charge_t"]
        self.samples = s["samples"]


def _over(v: list[int], ref: list[int], axes: int, thr: int) -> int:
    # The enabled axes (bit 2 x, 1 y, 0 z) on which |v - ref| > thr.
    hit = 0
    for i in range(3):
        bit = 4 >> i
        if axes & bit and abs(v[i] - ref[i]) > thr:
            hit |= bit
    return hit


def _s8(b: int) -> int:
    return b - 256 if b & 0x80 else b
