# Cases for the chip simulators, run under BOTH MicroPython and CPython.
#
# Each case drives the simulators and returns plain data (ints, strings,
# lists, dicts); run_all() returns {case name: result}. Under MicroPython
# the script prints the JSON of run_all() after "@@HW@@ "; under CPython
# the tests import this module. The pytest files assert on the results of
# both runtimes and that the two are identical.
#
# Written in the subset of Python both runtimes run (no f-strings with =,
# no typing, no [*a] displays).

import binascii
import hashlib
import json
import sys

from hardware.sim import frontend
from hardware.sim.a02yyuw import A02YYUW
from hardware.sim.ads1115 import ADS1115, conversion_us
from hardware.sim.adxl345 import ADXL345, odr_millihertz
from hardware.sim.ds18b20 import DS18B20, make_rom, raw_from_mc
from hardware.sim.errors import OneWireError
from hardware.sim.i2c_bus import SimI2CBus
from hardware.sim.onewire import OneWire, crc8
from hardware.sim.world import World, pwl, sin256
from hardware.sim.xorshift import XorShift32, mix
from hardware.sim.ze03 import CMD_ACTIVE, CMD_QA, CMD_READ, ZE03, checksum

MARK = "@@HW@@ "


class Clock:
    def __init__(self, t=0):
        self.t = t

    def __call__(self):
        return self.t


def world(signals, **extra):
    s = {"name": "test", "signals": signals, "seed": 5}
    for k, v in extra.items():
        s[k] = v
    return World(s)


def hx(data):
    return binascii.hexlify(bytes(data)).decode()


def errno_of(fn):
    try:
        fn()
    except OSError as e:
        return e.args[0]
    return None


def s16(lo, hi):
    v = lo | (hi << 8)
    return v - 65536 if v & 0x8000 else v


def be16(b):
    v = (b[0] << 8) | b[1]
    return v - 65536 if v & 0x8000 else v


def xyz(bus, addr=0x53):
    b = bus.readfrom_mem(addr, 0x32, 6)
    return [s16(b[0], b[1]), s16(b[2], b[3]), s16(b[4], b[5])]


# --- xorshift and world ------------------------------------------------------------


def case_xorshift():
    r = XorShift32(1)
    seq = [r.next() for _ in range(5)]
    r2 = XorShift32(0)
    signed = [XorShift32(7).signed(3) for _ in range(3)]
    r3 = XorShift32(9)
    spread = [r3.signed(2) for _ in range(200)]
    return {
        "seq": seq,
        "zero_seed_state": r2.state,
        "signed": signed,
        "spread_min": min(spread),
        "spread_max": max(spread),
        "mix": [mix(1, 0), mix(1, 1), mix(2, 1), mix(1, 86400000), mix(3, -5)],
    }


def case_world_math():
    pts = [[0, 0], [100, 1000], [100, 500], [200, 500]]
    w = world(
        {
            "ramp": {"points": [[0, 0], [1000, 1000]]},
            "rep": {"segments": [{"start": 1000, "points": [[0, 0], [50, 100], [100, 0]],
                                  "repeat_ms": 100}]},
            "dig": {"points": [[0, 0], [10, 0], [10, 1], [20, 1], [20, 0]], "digital": True},
            "digrep": {"segments": [{"start": 0, "points": [[0, 0], [5, 1], [10, 0]],
                                     "repeat_ms": 10}], "digital": True},
            "wave": {"value": 100, "waves": [{"start": 0, "end": 1000, "period_ms": 40,
                                              "amp": 50}]},
            "decay": {"value": 0, "waves": [{"start": 0, "end": 100, "period_ms": 20,
                                             "amp": 100, "decay": True}]},
            "noisy": {"value": 0, "noise": 7},
            "clamped": {"points": [[0, -50], [100, 50]], "min": -10, "max": 20},
            "seg2": {"segments": [{"start": 0, "points": [[0, 10]]},
                                  {"start": 500, "points": [[0, 20], [100, 40]]}]},
        }
    )  # fmt: skip
    noisy = [w.value("noisy", t) for t in range(500)]
    return {
        "sin": [sin256(p) for p in (0, 32, 64, 96, 128, 192, 256, -64)],
        "pwl": [pwl(pts, t) for t in (-5, 0, 50, 99, 100, 150, 250)],
        "ramp": [w.value("ramp", t) for t in (0, 333, 1000, 5000)],
        "rep": [w.value("rep", t) for t in (0, 1000, 1025, 1050, 1099, 1125, 5050)],
        "dig": [w.digital("dig", t) for t in (0, 9, 10, 19, 20)],
        "dig_edges": w.edges("dig", 0, 100),
        "digrep_edges": w.edges("digrep", 0, 30),
        "next_edge_none": w.next_edge("dig", 20),
        "wave": [w.value("wave", t) for t in (0, 10, 20, 30, 1000)],
        "decay": [w.value("decay", t) for t in (5, 25, 45, 65, 85, 100)],
        "noise_min": min(noisy),
        "noise_max": max(noisy),
        "noise_again": [w.value("noisy", t) for t in (3, 3, 400)],
        "clamped": [w.value("clamped", t) for t in (0, 50, 100)],
        "seg2": [w.value("seg2", t) for t in (0, 499, 500, 550, 700)],
        "integral_ramp": [w.integral("ramp", t) for t in (0, 500, 1000, 2000)],
        "integral_rep": w.integral("rep", 1300),
        "integral_seg2": w.integral("seg2", 700),
        "default_accel": list(w.accel(0)),
        "default_temperature": w.temperature(0),
    }


def case_frontend():
    w = world(
        {
            "pressure_kpa": {"points": [[0, 0], [1600, 1600], [2000, 2000], [2001, -500]]},
            "motor_current_ma": {"value": 16000},
            "battery_mv": {"value": 3600},
        }
    )
    return {
        "pressure_uv": [w.voltage("pressure", t) for t in (0, 350, 1600, 2000, 2001)],
        "kpa_back": frontend.kpa_from_uv(w.voltage("pressure", 350)),
        "motor_uv": w.voltage("motor_current", 0),
        "motor_clip_uv": frontend.motor_current_uv(80000),
        "battery_uv": w.voltage("battery", 0),
        "unknown": _value_error(w),
    }


def _value_error(w):
    try:
        w.voltage("nope", 0)
    except ValueError:
        return "ValueError"
    return None


# --- I2C bus ---------------------------------------------------------------------


def _i2c_rig(signals=None):
    clk = Clock()
    w = world(signals or {"accel_x": {"value": 0}, "pressure_kpa": {"value": 350}})
    bus = SimI2CBus()
    acc = bus.attach(ADXL345(clk, w))
    adc = bus.attach(ADS1115(clk, w, inputs=("pressure", None, None, None)))
    return clk, w, bus, acc, adc


def case_i2c_bus():
    clk, w, bus, acc, adc = _i2c_rig()
    out = {"scan": bus.scan()}
    buf = bytearray(1)
    bus.readfrom_mem_into(0x53, 0x00, buf)
    out["devid_into"] = buf[0]
    out["devid_mem"] = hx(bus.readfrom_mem(0x53, 0x00, 1))
    bus.writeto_mem(0x53, 0x2C, b"\x0d")
    out["bw_rate"] = bus.readfrom_mem(0x53, 0x2C, 1)[0]
    out["writeto_acks"] = bus.writeto(0x53, b"\x2c")
    buf2 = bytearray(2)
    bus.readfrom_into(0x53, buf2)
    out["readfrom_into"] = hx(buf2)  # 0x2C then auto-increment to 0x2D
    out["readfrom"] = hx(bus.readfrom(0x48, 2))  # pointer 0 after reset: conversion
    out["writevto"] = bus.writevto(0x48, [b"\x01", b"\x85\x83"])
    out["missing"] = errno_of(lambda: bus.readfrom_mem(0x50, 0, 1))
    acc.set_fault("nack")
    out["nack_scan"] = bus.scan()
    out["nack"] = errno_of(lambda: bus.readfrom_mem(0x53, 0, 1))
    out["nack_write"] = errno_of(lambda: bus.writeto_mem(0x53, 0x2D, b"\x08"))
    acc.set_fault("nack", False)
    acc.set_fault("eio")
    out["eio"] = errno_of(lambda: bus.readfrom_mem(0x53, 0, 1))
    out["eio_scan"] = bus.scan()
    acc.set_fault("eio", False)
    adc.set_fault("stuck")
    out["stuck_other_device"] = errno_of(lambda: bus.readfrom_mem(0x53, 0, 1))
    out["stuck_scan"] = bus.scan()
    adc.set_fault("stuck", False)
    bus.set_fault("stuck")
    out["bus_stuck"] = errno_of(lambda: bus.writeto(0x48, b"\x00"))
    bus.set_fault("stuck", False)
    out["recovered"] = bus.readfrom_mem(0x53, 0, 1)[0]
    try:
        acc.set_fault("melted")
        out["unknown_fault"] = None
    except ValueError:
        out["unknown_fault"] = "ValueError"
    out["addrsize16"] = hx(bus.readfrom_mem(0x53, 0x0000, 1, addrsize=16))
    bus.trace = []
    bus.readfrom_mem(0x53, 0, 1)
    errno_of(lambda: bus.readfrom_mem(0x51, 0, 1))
    out["trace"] = [list(e) for e in bus.trace]
    try:
        bus.attach(ADXL345(clk, w))
        out["duplicate"] = None
    except ValueError:
        out["duplicate"] = "ValueError"
    return out


# --- ADXL345 -----------------------------------------------------------------------


def case_adxl345_basics():
    clk, _w, bus, acc, _adc = _i2c_rig(
        {"accel_x": {"value": -500}, "accel_y": {"value": 2500}, "accel_z": {"value": 1000}}
    )
    out = {"devid": bus.readfrom_mem(0x53, 0x00, 1)[0]}
    out["bw_rate_reset"] = bus.readfrom_mem(0x53, 0x2C, 1)[0]
    clk.t = 100
    out["standby_data"] = xyz(bus)
    out["standby_int_source"] = bus.readfrom_mem(0x53, 0x30, 1)[0]
    bus.writeto_mem(0x53, 0x2D, b"\x08")
    out["int_source_at_start"] = bus.readfrom_mem(0x53, 0x30, 1)[0]
    clk.t = 110
    out["int_source_after_10ms"] = bus.readfrom_mem(0x53, 0x30, 1)[0]
    ranges = {}
    for fmt in (0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0A, 0x0B, 0x0C):
        bus.writeto_mem(0x53, 0x31, bytes((fmt,)))
        clk.t += 10
        ranges["%02x" % fmt] = xyz(bus)
    out["ranges"] = ranges
    out["int_source_after_read"] = bus.readfrom_mem(0x53, 0x30, 1)[0]
    bus.writeto_mem(0x53, 0x31, b"\x08")
    clk.t += 30
    out["overrun"] = bus.readfrom_mem(0x53, 0x30, 1)[0]
    raw = bus.readfrom_mem(0x53, 0x32, 6)
    out["raw_bytes"] = hx(raw)
    bus.writeto_mem(0x53, 0x1E, b"\x04\xfc\x00")  # OFSX +4 (62.4 mg), OFSY -4
    clk.t += 10
    out["offsets"] = xyz(bus)
    out["odr_mhz"] = [odr_millihertz(c) for c in (0, 6, 9, 10, 13, 15)]
    acc.set_fault("wrong_id")
    out["wrong_id"] = bus.readfrom_mem(0x53, 0x00, 1)[0]
    acc.set_fault("wrong_id", False)
    bus.writeto_mem(0x53, 0x31, b"\x00")
    acc.set_fault("saturate")
    clk.t += 10
    out["saturate"] = xyz(bus)
    acc.set_fault("saturate", False)
    bus.writeto_mem(0x53, 0x1E, b"\x00\x00\x00")
    bus.writeto_mem(0x53, 0x31, b"\x0b")
    acc.set_fault("noise")
    noisy = []
    for _ in range(20):
        clk.t += 10
        noisy.append(xyz(bus))
    out["noisy"] = noisy
    bus.writeto_mem(0x53, 0x00, b"\x12")  # DEVID is read-only
    out["devid_after_write"] = bus.readfrom_mem(0x53, 0x00, 1)[0]
    return out


def case_adxl345_fifo():
    # A ramp on x: sample k (100 Hz) must carry the value at t0 + 10 k ms.
    clk, _w, bus, acc, _adc = _i2c_rig({"accel_x": {"points": [[0, 0], [10000, 10000]]}})
    bus.writeto_mem(0x53, 0x31, b"\x0b")  # full res +-16 g
    bus.writeto_mem(0x53, 0x38, b"\x90")  # stream, watermark 16
    clk.t = 1000
    bus.writeto_mem(0x53, 0x2D, b"\x08")
    out = {}
    clk.t = 1150
    out["entries_150ms"] = bus.readfrom_mem(0x53, 0x39, 1)[0]
    out["int_source_15"] = bus.readfrom_mem(0x53, 0x30, 1)[0]
    first = []
    for _ in range(3):
        first.append(xyz(bus)[0])
    out["first_x"] = first
    out["entries_after_3"] = bus.readfrom_mem(0x53, 0x39, 1)[0]
    clk.t = 1190
    out["entries_more"] = bus.readfrom_mem(0x53, 0x39, 1)[0]
    out["int_source_watermark"] = bus.readfrom_mem(0x53, 0x30, 1)[0]
    clk.t = 5000
    out["entries_full"] = bus.readfrom_mem(0x53, 0x39, 1)[0]
    out["int_source_full"] = bus.readfrom_mem(0x53, 0x30, 1)[0]
    drained = []
    for _ in range(33):
        drained.append(xyz(bus)[0])
    out["stream_oldest"] = drained[0]
    out["stream_newest"] = drained[31]
    out["empty_repeat"] = drained[32]
    out["entries_drained"] = bus.readfrom_mem(0x53, 0x39, 1)[0]
    # FIFO mode: collects 32 then stops
    bus.writeto_mem(0x53, 0x38, b"\x50")
    clk.t = 6000
    out["fifo_mode_entries"] = bus.readfrom_mem(0x53, 0x39, 1)[0]
    out["fifo_mode_first"] = xyz(bus)[0]
    # back to bypass: FIFO cleared, output registers follow the newest sample
    bus.writeto_mem(0x53, 0x38, b"\x00")
    out["bypass_entries"] = bus.readfrom_mem(0x53, 0x39, 1)[0]
    clk.t = 7000
    out["bypass_x"] = xyz(bus)[0]
    # rate change: 3200 Hz, 10 ms -> 32 samples
    bus.writeto_mem(0x53, 0x38, b"\x80")
    bus.writeto_mem(0x53, 0x2C, b"\x0f")
    clk.t = 7010
    out["entries_3200hz_10ms"] = bus.readfrom_mem(0x53, 0x39, 1)[0]
    # standby: no new samples
    bus.writeto_mem(0x53, 0x2D, b"\x00")
    before = acc.samples
    clk.t = 9000
    bus.readfrom_mem(0x53, 0x39, 1)
    out["standby_new_samples"] = acc.samples - before
    # INT1 pin: DATA_READY enabled on INT1
    bus.writeto_mem(0x53, 0x38, b"\x00")
    bus.writeto_mem(0x53, 0x2C, b"\x0a")
    bus.writeto_mem(0x53, 0x2E, b"\x80")
    bus.writeto_mem(0x53, 0x2D, b"\x08")
    clk.t = 9020
    out["int1"] = acc.int_pin(1)
    out["int2"] = acc.int_pin(2)
    xyz(bus)
    out["int1_after_read"] = acc.int_pin(1)
    return out


# --- ADS1115 ---------------------------------------------------------------------


def _cfg(*, os_=1, mux=4, pga=1, mode=1, dr=4, comp=3):
    v = (os_ << 15) | (mux << 12) | (pga << 9) | (mode << 8) | (dr << 5) | comp
    return bytes((v >> 8, v & 0xFF))


def _watch(bus, ctl=0xF0, thresh=16, fifo=0xC4, enable=0x10):
    # the firmware's sleep setup: 100 Hz low power, full resolution +-16 g,
    # activity (or what `enable` says) on INT1, the FIFO in trigger mode
    for reg, v in ((0x2D, 0), (0x31, 0x0B), (0x2C, 0x1A), (0x24, thresh), (0x27, ctl),
                   (0x2F, 0), (0x38, 0), (0x38, fifo), (0x2E, enable), (0x2D, 0x08)):  # fmt: skip
        bus.writeto_mem(0x53, reg, bytes((v,)))


def case_adxl345_activity():
    # x steps from 800 mg to 1900 mg at 5 s for 100 ms, then 1500 mg for good
    x = [[0, 800], [5000, 800], [5000, 1900], [5100, 1900], [5100, 1500]]
    clk, w, bus, acc, _adc = _i2c_rig({"accel_x": {"points": x}, "accel_z": {"value": 1000}})
    clk.t = 1000
    _watch(bus)
    out = {"next_int": acc.next_int_ms(1000)}
    out["int_4999"] = acc.int_at(4999)
    out["int_5000"] = acc.int_at(5000)
    out["int_now"] = acc.int_pin(1)
    out["charge_1s"] = acc.charge_nams()
    clk.t = 2000
    out["charge_2s"] = acc.charge_nams()
    out["current_na"] = acc.current_na()
    kept = acc.state()
    # the board sleeps: a new simulator object (a new process) carries on
    clk.t = 6000
    acc2 = ADXL345(clk, w)
    acc2.load(kept)
    bus2 = SimI2CBus()
    bus2.attach(acc2)
    out["int_after_sleep"] = acc2.int_pin(1)
    out["charge_6s"] = acc2.charge_nams()
    out["fifo_status"] = bus2.readfrom_mem(0x53, 0x39, 1)[0]
    out["act_axes"] = bus2.readfrom_mem(0x53, 0x2B, 1)[0]
    out["fifo_x"] = [xyz(bus2)[0] for _ in range(32)]
    out["int_source"] = bus2.readfrom_mem(0x53, 0x30, 1)[0]
    out["int_source_again"] = bus2.readfrom_mem(0x53, 0x30, 1)[0]
    out["int_after_read"] = acc2.int_pin(1)
    # the reference stays where the watch began: 1500 mg is 700 from it
    out["next_int_after"] = acc2.next_int_ms(6000)
    # dc-coupled on x alone: 800 mg at rest is below 1 g, 1900 mg above
    _clk2, _w2, bus3, acc3, _ = _i2c_rig({"accel_x": {"points": x}})
    _watch(bus3, ctl=0x40)
    out["dc_next_int"] = acc3.next_int_ms(0)
    # INT_INVERT (DATA_FORMAT bit 5): the same event drives INT1 low
    clk7, _w7, bus7, acc7, _ = _i2c_rig({"accel_x": {"points": x}, "accel_z": {"value": 1000}})
    clk7.t = 1000
    _watch(bus7)
    bus7.writeto_mem(0x53, 0x31, b"\x2b")
    out["inv_next_int"] = acc7.next_int_ms(1000)
    out["inv_levels"] = [acc7.int_at(4999), acc7.int_at(5000), acc7.int_pin(1)]
    clk7.t = 5200
    out["inv_latched"] = acc7.int_pin(1)
    bus7.readfrom_mem(0x53, 0x30, 1)
    out["inv_after_read"] = acc7.int_pin(1)
    # inactivity: below 125 mg of the reference on every axis for 3 s
    clk3, _w3, bus4, acc4, _ = _i2c_rig({"accel_x": {"value": 0, "noise": 20}})
    bus4.writeto_mem(0x53, 0x25, b"\x02")
    bus4.writeto_mem(0x53, 0x26, b"\x03")
    _watch(bus4, ctl=0x0F, fifo=0, enable=0x08)
    out["inact_next_int"] = acc4.next_int_ms(0)
    clk3.t = 3500
    out["inact_source"] = bus4.readfrom_mem(0x53, 0x30, 1)[0]
    # a day of an idle hydrant: no event, the look-ahead returns its horizon
    clk4 = Clock()
    w5 = World("hydrant.idle")
    acc5 = ADXL345(clk4, w5)
    bus5 = SimI2CBus()
    bus5.attach(acc5)
    _watch(bus5)
    t = 0
    for _ in range(24):
        t = acc5.next_int_ms(t)
    out["idle_day"] = [t, acc5.int_at(t)]
    # the impact of hydrant.impact (5 min) is seen at 5 min
    clk6 = Clock()
    acc6 = ADXL345(clk6, World("hydrant.impact"))
    bus6 = SimI2CBus()
    bus6.attach(acc6)
    _watch(bus6)
    out["impact_next_int"] = acc6.next_int_ms(0)
    return out


def case_world_span():
    # the bounds of World.span hold at every millisecond of their stretch
    w = World("hydrant.impact")
    bad = 0
    spans = 0
    t = 299000
    while t < 302000:
        end, lo, hi = w.span("accel_x", t)
        spans += 1
        stop = min(end, 302000)
        for u in range(t, stop):
            v = w.value("accel_x", u)
            if v < lo or v > hi:
                bad += 1
        t = stop
    return {"outside": bad, "spans": spans, "flat": w.span("accel_y", 100000)}


def case_ads1115():
    clk = Clock()
    w = world(
        {
            "pressure_kpa": {"points": [[0, 350], [100000, 350], [100100, 1350]]},
            "battery_mv": {"value": 3600},
        }
    )
    bus = SimI2CBus()
    adc = bus.attach(ADS1115(clk, w, addr=0x49, inputs=("pressure", "battery", None, None)))
    out = {}
    out["config_reset"] = hx(bus.readfrom_mem(0x49, 1, 2))
    out["thresholds"] = [hx(bus.readfrom_mem(0x49, 2, 2)), hx(bus.readfrom_mem(0x49, 3, 2))]
    bus.writeto_mem(0x49, 2, b"\x12\x34")
    out["lo_written"] = hx(bus.readfrom_mem(0x49, 2, 2))
    out["conversion_before"] = hx(bus.readfrom_mem(0x49, 0, 2))
    clk.t = 1000
    bus.writeto_mem(0x49, 1, _cfg(dr=4))  # AIN0, 4.096 V, single, 128 SPS
    out["os_converting"] = bus.readfrom_mem(0x49, 1, 2)[0] >> 7
    clk.t = 1007
    out["os_at_7ms"] = bus.readfrom_mem(0x49, 1, 2)[0] >> 7
    clk.t = 1008
    out["os_at_8ms"] = bus.readfrom_mem(0x49, 1, 2)[0] >> 7
    out["single_ain0"] = be16(bus.readfrom_mem(0x49, 0, 2))
    out["read_4_bytes"] = hx(bus.readfrom_mem(0x49, 0, 4))
    pga = []
    for g in range(8):
        bus.writeto_mem(0x49, 1, _cfg(pga=g, dr=7))
        clk.t += 2
        pga.append(be16(bus.readfrom_mem(0x49, 0, 2)))
    out["pga"] = pga
    mux = []
    for m in range(8):
        bus.writeto_mem(0x49, 1, _cfg(mux=m, pga=0, dr=7))
        clk.t += 2
        mux.append(be16(bus.readfrom_mem(0x49, 0, 2)))
    out["mux"] = mux
    out["dr_us"] = [conversion_us(d) for d in range(8)]
    # Without OS the single-shot mode does not convert.
    before = adc.conversions
    bus.writeto_mem(0x49, 1, _cfg(os_=0))
    clk.t += 200
    bus.readfrom_mem(0x49, 0, 2)
    out["no_os_conversions"] = adc.conversions - before
    # continuous mode at 860 SPS on a ramp from 100 s
    clk.t = 100000
    bus.writeto_mem(0x49, 1, _cfg(mode=0, dr=7))
    out["os_continuous"] = bus.readfrom_mem(0x49, 1, 2)[0] >> 7
    cont = []
    for t in (100001, 100002, 100050, 100100, 100200):
        clk.t = t
        cont.append(be16(bus.readfrom_mem(0x49, 0, 2)))
    out["continuous"] = cont
    bus.writeto_mem(0x49, 1, _cfg(dr=7))
    adc.set_fault("disconnected")
    clk.t += 2
    out["disconnected"] = be16(bus.readfrom_mem(0x49, 0, 2))
    adc.set_fault("disconnected", False)
    adc.set_fault("saturate")
    bus.writeto_mem(0x49, 1, _cfg(dr=7))
    clk.t += 2
    out["saturate"] = be16(bus.readfrom_mem(0x49, 0, 2))
    adc.set_fault("saturate", False)
    adc.set_fault("noise")
    noisy = []
    for _ in range(10):
        bus.writeto_mem(0x49, 1, _cfg(dr=7))
        clk.t += 2
        noisy.append(be16(bus.readfrom_mem(0x49, 0, 2)))
    out["noisy"] = noisy
    adc.set_fault("noise", False)
    adc.set_fault("wrong_id")
    out["wrong_id_config"] = hx(bus.readfrom_mem(0x49, 1, 2))
    adc.set_fault("wrong_id", False)
    out["general_call"] = bus.writeto(0, b"\x06")
    out["after_reset"] = hx(bus.readfrom_mem(0x49, 1, 2))
    return out


# --- 1-Wire and DS18B20 ---------------------------------------------------------------


def case_onewire():
    clk = Clock()
    w = world({"temperature_mc": {"value": 21500}, "temperature_mc_1": {"value": -10125}})
    ow = OneWire()
    a = ow.attach(DS18B20(clk, w, serial=0x0000DEADBEEF))
    b = ow.attach(DS18B20(clk, w, serial=0x00000000CAFE, probe=1))
    c = DS18B20(clk, w, serial=0x0000000000FF, probe=1)
    out = {
        "maxim_an27": crc8(bytes((0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00))),
        "rom_a": hx(a.rom),
        "rom_crc_ok": [crc8(a.rom), crc8(b.rom)],
        "presence": ow.reset(),
    }
    scan = ow.scan()
    out["scan"] = sorted([hx(r) for r in scan])
    ow.attach(c)
    out["scan3"] = sorted([hx(r) for r in ow.scan()])
    ow.devices.remove(c)
    buf = bytearray(9)
    ow.select_rom(a.rom)
    ow.writebyte(0xBE)
    ow.readinto(buf)
    out["power_on_scratchpad"] = hx(buf)
    out["power_on_crc"] = ow.crc8(buf)
    ow.reset(True)
    ow.writebyte(ow.SKIP_ROM)
    ow.writebyte(0x44)
    out["busy_bit"] = ow.readbit()
    clk.t = 500
    ow.select_rom(a.rom)
    ow.writebyte(0xBE)
    ow.readinto(buf)
    out["early_read"] = hx(buf[:2])
    clk.t = 750
    ow.select_rom(a.rom)
    ow.writebyte(0xBE)
    ow.readinto(buf)
    out["temp_a"] = hx(buf)
    ow.select_rom(b.rom)
    ow.writebyte(0xBE)
    ow.readinto(buf)
    out["temp_b"] = hx(buf[:2])
    # 9-bit resolution on b: 93.75 ms conversion, low bits cleared
    ow.select_rom(b.rom)
    ow.writebyte(0x4E)
    ow.write(bytes((0x14, 0xF6, 0x1F)))  # TH 20, TL -10, 9 bit
    clk.t = 1000
    ow.select_rom(b.rom)
    ow.writebyte(0x44)
    clk.t = 1093
    busy = ow.readbit()
    clk.t = 1094
    out["busy_done_9bit"] = [busy, ow.readbit()]
    ow.select_rom(b.rom)
    ow.writebyte(0xBE)
    ow.readinto(buf)
    out["temp_b_9bit"] = hx(buf)
    # READ ROM with a single device; READ POWER SUPPLY
    ow2 = OneWire()
    ow2.attach(DS18B20(clk, w, serial=77))
    ow2.reset()
    ow2.writebyte(0x33)
    rom = bytearray(8)
    ow2.readinto(rom)
    out["read_rom"] = hx(rom)
    ow2.reset()
    ow2.writebyte(0xCC)
    ow2.writebyte(0xB4)
    out["power_supply_bit"] = ow2.readbit()
    out["raw"] = [raw_from_mc(m) for m in (85000, 25062, 125000, 200000, -55000, -80000, 500)]
    out["raw_9bit"] = raw_from_mc(25062, 0)
    out["rom_family"] = make_rom(1)[0]
    return out


def case_ds18b20_faults():
    clk = Clock()
    w = world({"temperature_mc": {"value": 21500}})
    ow = OneWire()
    d = ow.attach(DS18B20(clk, w, serial=5))
    buf = bytearray(9)

    def convert_and_read(t):
        ow.reset(True)
        ow.writebyte(0xCC)
        ow.writebyte(0x44)
        clk.t = t
        ow.reset(True)
        ow.writebyte(0xCC)
        ow.writebyte(0xBE)
        ow.readinto(buf)
        return hx(buf)

    out = {}
    d.set_fault("disconnected")
    out["presence"] = ow.reset()
    try:
        ow.reset(True)
        out["required"] = None
    except OneWireError as e:
        out["required"] = "OneWireError" if isinstance(e, OSError) else "other"
    out["scan"] = ow.scan()
    out["readbyte"] = ow.readbyte()
    d.set_fault("disconnected", False)
    d.set_fault("bad_crc")
    out["bad_crc"] = convert_and_read(1000)
    out["bad_crc_check"] = crc8(buf)
    d.set_fault("bad_crc", False)
    d.set_fault("stuck85")
    out["stuck85"] = convert_and_read(2000)
    d.set_fault("stuck85", False)
    d.set_fault("noise")
    out["noise"] = [convert_and_read(3000 + 1000 * i)[:4] for i in range(5)]
    d.set_fault("noise", False)
    ow.faults.add("short")
    out["short_presence"] = ow.reset()
    out["short_bit"] = ow.readbit()
    ow.faults.discard("short")
    # alarm search: TH 21 C, TL 10 C; 21.5 C -> alarm
    ow.reset()
    ow.writebyte(0xCC)
    ow.writebyte(0x4E)
    ow.write(bytes((21, 10, 0x7F)))
    convert_and_read(9000)
    ow.reset()
    ow.writebyte(0xEC)
    out["alarm_search_first_bits"] = [ow.readbit(), ow.readbit()]
    return out


# --- UART sensors ----------------------------------------------------------------------


def parse_a02(data):
    # Frames FF H L SUM; resynchronise on 0xFF when the checksum fails.
    out = []
    bad = 0
    i = 0
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        h, low, s = data[i + 1], data[i + 2], data[i + 3]
        if (0xFF + h + low) & 0xFF == s:
            out.append(h * 256 + low)
            i += 4
        else:
            bad += 1
            i += 1
    return out, bad


def case_a02yyuw():
    clk = Clock()
    w = world({"distance_mm": {"points": [[0, 1234], [5000, 1234], [5000, 20], [6000, 20],
                                          [6000, 5000], [6600, 5000], [6600, 1500]]}})  # fmt: skip
    s = A02YYUW(clk, w)
    out = {"at_0": hx(s.poll())}
    clk.t = 399
    out["before_first"] = hx(s.poll())
    clk.t = 400
    out["first"] = hx(s.poll())
    clk.t = 1000
    d, bad = parse_a02(s.poll())
    out["to_1000"] = [d, bad]
    s.write(b"\x55\xaa")
    s.set_rx_level(0)
    out["processed"] = s.processed
    clk.t = 5500
    out["blind"] = parse_a02(s.poll())[0][-1]
    clk.t = 6500
    out["far"] = parse_a02(s.poll())[0][-1]
    clk.t = 7000
    s.poll()
    s.set_fault("bad_checksum")
    clk.t = 7200
    out["bad_checksum"] = hx(s.poll())
    s.set_fault("bad_checksum", False)
    s.set_fault("silence")
    clk.t = 8000
    out["silence"] = hx(s.poll())
    s.set_fault("silence", False)
    s.set_fault("noise")
    clk.t = 9000
    raw = s.poll()
    out["noise_len"] = len(raw)
    out["noise_parsed"] = parse_a02(raw)[0]
    s.set_fault("noise", False)
    s.set_fault("out_of_range")
    clk.t = 9100
    out["out_of_range"] = hx(s.poll())
    s.set_fault("out_of_range", False)
    s.power(False)
    clk.t = 20000
    out["off"] = hx(s.poll())
    s.power(True)
    clk.t = 20399
    out["just_on"] = hx(s.poll())
    clk.t = 20400
    out["first_after_on"] = len(s.poll())
    clk.t = 20400 + 3600000
    burst = s.poll()
    out["backlog_frames"] = len(burst) // 4
    out["skipped"] = s.frames_skipped
    return out


def case_ze03():
    clk = Clock()
    w = world({"h2s_ppb": {"points": [[0, 0], [100000, 100000]]}})
    z = ZE03(clk, w)
    z.warmup_ms = 0  # the protocol alone (the warm-up: case_ze03_warmup)
    out = {
        "cmd_checksums": [checksum(CMD_QA), checksum(CMD_ACTIVE), checksum(CMD_READ)],
        "cmd_last": [CMD_QA[8], CMD_ACTIVE[8], CMD_READ[8]],
    }
    clk.t = 999
    out["before_1s"] = hx(z.poll())
    clk.t = 3000
    out["active"] = hx(z.poll())
    z.write(CMD_READ)
    clk.t = 3020
    out["read_in_active"] = hx(z.poll())
    z.write(b"\x00\x13" + CMD_QA[:5])
    z.write(CMD_QA[5:])
    clk.t = 6000
    out["qa_silent"] = hx(z.poll())
    z.write(CMD_READ)
    clk.t = 6019
    out["qa_19ms"] = hx(z.poll())
    clk.t = 6020
    out["qa_answer"] = hx(z.poll())
    bad = bytearray(CMD_READ)
    bad[8] ^= 1
    z.write(bytes(bad))
    clk.t = 6100
    out["bad_command"] = hx(z.poll())
    z.set_fault("bad_checksum")
    z.write(CMD_READ)
    clk.t = 6200
    out["bad_checksum"] = hx(z.poll())
    z.set_fault("bad_checksum", False)
    z.set_fault("no_answer")
    z.write(CMD_READ)
    clk.t = 6300
    out["no_answer"] = hx(z.poll())
    z.set_fault("no_answer", False)
    z.set_fault("noise")
    z.write(CMD_READ)
    clk.t = 6400
    out["noise"] = hx(z.poll())
    z.set_fault("noise", False)
    z.set_fault("saturate")
    z.write(CMD_READ)
    clk.t = 6500
    out["saturate"] = hx(z.poll())
    z.set_fault("saturate", False)
    clk.t = 200000
    z.write(CMD_READ)
    clk.t = 200020
    out["clipped"] = hx(z.poll())
    z.write(CMD_ACTIVE)
    clk.t = 201100
    out["back_active"] = hx(z.poll())
    z.write(CMD_QA)
    z.power(False)
    z.power(True)
    clk.t = 202200
    out["after_power_cycle"] = hx(z.poll())
    return out


def case_ze03_warmup():
    # 10 ppm throughout; powered at 1 s: reads low while the cell warms up
    clk = Clock(1000)
    w = world({"h2s_ppb": {"value": 10000}})
    z = ZE03(clk, w)
    out = {"warmup_ms": z.warmup_ms}
    reads = []
    for t in (1000, 16000, 31000, 60000):
        clk.t = t
        z.write(CMD_READ)
        clk.t = t + 20
        reads.append(hx(z.poll())[-18:])
    out["reads"] = reads
    # kept across a deep sleep of the board: a new simulator object goes on
    kept = z.state()
    z2 = ZE03(clk, w)
    z2.load(kept)
    clk.t = 61000
    z2.write(CMD_READ)
    clk.t = 61020
    out["after_load"] = hx(z2.poll())[-18:]
    z.power(False)
    z.power(True)
    z.write(CMD_READ)
    clk.t = 61040
    out["after_power_cycle"] = hx(z.poll())[-18:]
    return out


# --- byte trace of scenario runs -------------------------------------------------------


def case_trace_hydrant():
    # Drive every hydrant chip through the water-hammer scenario and record
    # every byte on the I2C bus and the 1-Wire bus: the digest must match
    # across runtimes.
    clk = Clock()
    w = World("hydrant.water_hammer")
    bus = SimI2CBus()
    bus.trace = []
    acc = bus.attach(ADXL345(clk, w))
    bus.attach(ADS1115(clk, w, inputs=("pressure", None, None, None)))
    ow = OneWire()
    ow.attach(DS18B20(clk, w, serial=0x1234))
    acc.set_fault("noise")
    bus.writeto_mem(0x53, 0x31, b"\x0b")
    bus.writeto_mem(0x53, 0x38, b"\x9f")
    bus.writeto_mem(0x53, 0x2D, b"\x08")
    bus.writeto_mem(0x48, 1, _cfg(mode=0, dr=7))
    onewire_bytes = bytearray()
    peak = -99999
    buf6 = bytearray(6)
    for t in range(59900, 61700, 4):
        clk.t = t
        code = be16(bus.readfrom_mem(0x48, 0, 2))
        kpa = frontend.kpa_from_uv(code * 4096000 // 32768)
        peak = max(peak, kpa)
        n = bus.readfrom_mem(0x53, 0x39, 1)[0] & 0x3F
        for _ in range(n):
            bus.readfrom_mem_into(0x53, 0x32, buf6)
        if t % 400 == 0:
            ow.reset()
            ow.writebyte(0xCC)
            ow.writebyte(0x44)
            ow.reset()
            ow.writebyte(0xCC)
            ow.writebyte(0xBE)
            sp = bytearray(9)
            ow.readinto(sp)
            onewire_bytes += sp
    h = hashlib.sha256()
    for e in bus.trace:
        h.update(("%s %d %s\n" % (e[0], e[1], e[2])).encode())
    h.update(bytes(onewire_bytes))
    return {
        "transfers": len(bus.trace),
        "sha256": hx(h.digest()),
        "first": [list(e) for e in bus.trace[:6]],
        "peak_kpa": peak,
    }


def case_trace_manhole():
    # The manhole's UART sensors through the rainstorm: a byte trace.
    clk = Clock()
    w = World("manhole.rainstorm")
    level = A02YYUW(clk, w)
    gas = ZE03(clk, w)
    level.set_fault("noise")
    h = hashlib.sha256()
    total = 0
    gas.write(CMD_QA)
    for t in range(8900000, 9100000, 5000):
        clk.t = t
        gas.write(CMD_READ)
        data = level.poll()
        clk.t = t + 20
        data += gas.poll()
        total += len(data)
        h.update(data)
    return {"bytes": total, "sha256": hx(h.digest())}


# --- scenario signatures through the chips -----------------------------------------------


def _accel_rig(scenario, fmt=b"\x0b", rate=b"\x0a"):
    clk = Clock()
    w = World(scenario)
    bus = SimI2CBus()
    bus.attach(ADXL345(clk, w))
    bus.writeto_mem(0x53, 0x31, fmt)
    bus.writeto_mem(0x53, 0x2C, rate)
    bus.writeto_mem(0x53, 0x38, b"\x80")
    bus.writeto_mem(0x53, 0x2D, b"\x08")
    return clk, w, bus


def _accel_window(clk, bus, t0, t1, step=250):
    # All FIFO samples between t0 and t1 (stream mode, read every `step` ms).
    samples = []
    t = t0
    clk.t = t0
    n = bus.readfrom_mem(0x53, 0x39, 1)[0] & 0x3F
    for _ in range(n):
        xyz(bus)
    while t < t1:
        t += step
        clk.t = t
        n = bus.readfrom_mem(0x53, 0x39, 1)[0] & 0x3F
        for _ in range(n):
            samples.append(xyz(bus))
    return samples


def case_scenario_elevator_trips():
    clk, w, bus = _accel_rig("elevator.trips")
    s = _accel_window(clk, bus, 19000, 32000)
    z = [v[2] for v in s]
    x = [v[0] for v in s]
    adc_bus = SimI2CBus()
    adc_bus.attach(ADS1115(clk, w, inputs=("motor_current", None, None, None)))
    currents = []
    for t in (5000, 20800, 25000, 30000, 40000):
        clk.t = t
        adc_bus.writeto_mem(0x48, 1, _cfg(dr=7))
        clk.t = t + 2
        currents.append(be16(adc_bus.readfrom_mem(0x48, 0, 2)))
    return {
        "z_max": max(z),
        "z_min": min(z),
        "x_peak": max(abs(v) for v in x),
        "samples": len(s),
        "motor_codes": currents,
        "door_edges_1h": w.edges("door_open", 0, 3600000),
        "position_after_up": w.integral("velocity_mm_s", 40000) // 1000,
        "position_after_period": w.integral("velocity_mm_s", 600000) // 1000,
        "position_2_periods": w.integral("velocity_mm_s", 1200000 + 40000) // 1000,
    }


def case_scenario_elevator_rough():
    clk, _w, bus = _accel_rig("elevator.rough_ride")
    moving = _accel_window(clk, bus, 23000, 26000)
    parked = _accel_window(clk, bus, 100000, 103000)
    return {
        "moving_x_pp": max(v[0] for v in moving) - min(v[0] for v in moving),
        "moving_y_pp": max(v[1] for v in moving) - min(v[1] for v in moving),
        "parked_x_pp": max(v[0] for v in parked) - min(v[0] for v in parked),
    }


def case_scenario_elevator_door_stuck():
    w = World("elevator.door_stuck")
    return {"door_edges": w.edges("door_open", 0, w.duration_ms)}


def case_scenario_elevator_entrapment():
    clk, w, bus = _accel_rig("elevator.entrapment")
    stop = w.expect["stop_ms"]
    around = _accel_window(clk, bus, stop - 1000, stop + 2000)
    after = _accel_window(clk, bus, stop + 60000, stop + 61000)
    adc_bus = SimI2CBus()
    adc_bus.attach(ADS1115(clk, w, inputs=("motor_current", None, None, None)))
    clk.t = stop + 60000
    adc_bus.writeto_mem(0x48, 1, _cfg(dr=7))
    clk.t += 2
    motor = be16(adc_bus.readfrom_mem(0x48, 0, 2))
    rescue = w.expect["rescue_ms"]
    return {
        "positions": [
            w.integral("velocity_mm_s", t) // 1000 for t in (stop, stop + 600000, rescue)
        ],
        "final_position": w.integral("velocity_mm_s", w.duration_ms) // 1000,
        "moving_between": [w.base("velocity_mm_s", t) for t in (stop + 1, stop + 100000)],
        "door_edges": w.edges("door_open", 0, w.duration_ms),
        "alarm_edges": w.edges("alarm_button", 0, 200000),
        "alarm_presses": len(w.edges("alarm_button", 0, w.duration_ms)) // 2,
        "decel_min_z": min(v[2] for v in around),
        "still_z": [min(v[2] for v in after), max(v[2] for v in after)],
        "motor_after_stop": motor,
    }


def _adc_rig(scenario, channel):
    clk = Clock()
    w = World(scenario)
    bus = SimI2CBus()
    bus.attach(ADS1115(clk, w, inputs=(channel, None, None, None)))
    return clk, w, bus


def _kpa(bus, clk):
    bus.writeto_mem(0x48, 1, _cfg(dr=7))
    clk.t += 2
    code = be16(bus.readfrom_mem(0x48, 0, 2))
    return frontend.kpa_from_uv(code * 4096000 // 32768)


def case_scenario_hydrant():
    out = {}
    clk, w, bus = _adc_rig("hydrant.illegal_opening", "pressure")
    kp = []
    for t in (60000, 300000, 1300000, 1500000):
        clk.t = t
        kp.append(_kpa(bus, clk))
    out["illegal_kpa"] = kp
    out["illegal_valve"] = w.edges("valve_open", 0, w.duration_ms)
    clk, w, bus = _adc_rig("hydrant.pressure_drop", "pressure")
    crossed = None
    for t in range(850000, 950000, 1000):
        clk.t = t
        if _kpa(bus, clk) < 200:
            crossed = t
            break
    out["drop_crossed_ms"] = crossed
    clk.t = 1700000
    out["drop_final"] = _kpa(bus, clk)
    clk, w, bus = _adc_rig("hydrant.water_hammer", "pressure")
    bus.writeto_mem(0x48, 1, _cfg(mode=0, dr=7))
    series = []
    for t in range(59990, 61600):
        clk.t = t
        code = be16(bus.readfrom_mem(0x48, 0, 2))
        series.append(frontend.kpa_from_uv(code * 4096000 // 32768))
    ups = []
    for i in range(1, 200):
        if series[i - 1] < 500 <= series[i]:
            ups.append(59990 + i)
    out["hammer_peak"] = max(series)
    out["hammer_min"] = min(series)
    out["hammer_before"] = series[:5]
    out["hammer_after"] = series[-5:]
    out["hammer_up_crossings"] = ups[:4]
    # freezing night through the DS18B20, a reading every 10 minutes
    clk = Clock()
    w = World("hydrant.freezing_night")
    ow = OneWire()
    ow.attach(DS18B20(clk, w))
    temps = []
    for t in range(0, w.duration_ms, 600000):
        clk.t = t
        ow.reset(True)
        ow.writebyte(0xCC)
        ow.writebyte(0x44)
        clk.t = t + 750
        ow.reset(True)
        ow.writebyte(0xCC)
        ow.writebyte(0xBE)
        sp = bytearray(9)
        ow.readinto(sp)
        temps.append(s16(sp[0], sp[1]) * 1000 // 16)
    below = [i * 600000 for i in range(len(temps)) if temps[i] < 0]
    out["freeze_first_below_0_ms"] = below[0] if below else None
    out["freeze_min_mc"] = min(temps)
    out["battery_min_mv"] = min(w.battery_mv(t) for t in range(0, w.duration_ms, 600000))
    # impact through the ADXL345 at 800 Hz, +-16 g full resolution
    clk, w, bus = _accel_rig("hydrant.impact", rate=b"\x0d")
    before = _accel_window(clk, bus, 299000, 299900, 20)
    shock = _accel_window(clk, bus, 299900, 300400, 20)
    after = _accel_window(clk, bus, 400000, 401000, 20)
    out["impact_peak_mg"] = max(max(abs(v[0]), abs(v[1]), abs(v[2])) for v in shock) * 1000 // 256
    out["impact_before"] = _mean(before)
    out["impact_after"] = _mean(after)
    return out


def _mean(samples):
    n = len(samples)
    return [sum(v[i] for v in samples) // n for i in range(3)]


def case_scenario_manhole():
    out = {}
    clk = Clock()
    w = World("manhole.rainstorm")
    level = A02YYUW(clk, w)
    crossed = None
    blind = None
    for t in range(0, w.duration_ms, 60000):
        clk.t = t
        d = parse_a02(level.poll())[0]
        if not d:
            continue
        if crossed is None and 30 <= d[-1] <= w.expect["overflow_distance_mm"]:
            crossed = t
        if blind is None and d[-1] == 0:
            blind = t
    out["overflow_ms"] = crossed
    out["blind_ms"] = blind
    clk.t = w.duration_ms
    out["final_mm"] = parse_a02(level.poll())[0][-1]
    clk = Clock()
    w = World("manhole.h2s_rising")
    gas = ZE03(clk, w)
    gas.write(CMD_QA)
    crossed = None
    peak = 0
    for t in range(60000, w.duration_ms, 60000):
        clk.t = t
        gas.write(CMD_READ)
        clk.t = t + 20
        f = gas.poll()
        c = f[2] * 256 + f[3]
        peak = max(peak, c)
        if crossed is None and c * 100 >= w.expect["alarm_ppb"]:
            crossed = t
    out["h2s_crossed_ms"] = crossed
    out["h2s_peak_raw"] = peak
    clk, w, bus = _accel_rig("manhole.cover_lifted", fmt=b"\x08")
    shut = _mean(_accel_window(clk, bus, 300000, 301000))
    lifted = _mean(_accel_window(clk, bus, 1200000, 1201000))
    back = _mean(_accel_window(clk, bus, 2700000, 2701000))
    clk.t = 1200000
    lv = A02YYUW(clk, w)
    clk.t = 1201000
    out["cover_distance_mm"] = parse_a02(lv.poll())[0]
    out["cover_edges"] = w.edges("cover_open", 0, w.duration_ms)
    out["cover_accel"] = [shut, lifted, back]
    return out


def case_idle_scenarios():
    out = {}
    for name in ("elevator.idle", "hydrant.idle", "manhole.idle"):
        w = World(name)
        edges = 0
        for sig in ("door_open", "alarm_button", "valve_open", "cover_open"):
            edges += len(w.edges(sig, 0, w.duration_ms))
        zs = [w.accel(t)[2] for t in range(0, w.duration_ms, 3600000)]
        out[name] = {"edges": edges, "z_min": min(zs), "z_max": max(zs)}
    return out


CASES = [
    ("xorshift", case_xorshift),
    ("world_math", case_world_math),
    ("frontend", case_frontend),
    ("i2c_bus", case_i2c_bus),
    ("adxl345_basics", case_adxl345_basics),
    ("adxl345_fifo", case_adxl345_fifo),
    ("adxl345_activity", case_adxl345_activity),
    ("world_span", case_world_span),
    ("ads1115", case_ads1115),
    ("onewire", case_onewire),
    ("ds18b20_faults", case_ds18b20_faults),
    ("a02yyuw", case_a02yyuw),
    ("ze03", case_ze03),
    ("ze03_warmup", case_ze03_warmup),
    ("trace_hydrant", case_trace_hydrant),
    ("trace_manhole", case_trace_manhole),
    ("scenario_elevator_trips", case_scenario_elevator_trips),
    ("scenario_elevator_rough", case_scenario_elevator_rough),
    ("scenario_elevator_door_stuck", case_scenario_elevator_door_stuck),
    ("scenario_elevator_entrapment", case_scenario_elevator_entrapment),
    ("scenario_hydrant", case_scenario_hydrant),
    ("scenario_manhole", case_scenario_manhole),
    ("idle_scenarios", case_idle_scenarios),
]


def run_all(only=None):
    results = {}
    for name, fn in CASES:
        if only and name not in only:
            continue
        try:
            results[name] = fn()
        except Exception as e:  # report, do not stop the other cases
            results[name] = {"error": "%s: %s" % (type(e).__name__, e)}
    return results


def main():
    only = sys.argv[1:] or None
    print(MARK + json.dumps(run_all(only)))


if __name__ == "__main__":
    main()
