"""The I2C bus, ADXL345 and ADS1115 simulators, in both runtimes (``hw``)."""

from __future__ import annotations

from typing import Any

ENODEV, EIO, ETIMEDOUT = 19, 5, 110


def test_bus_methods(hw: dict[str, Any]) -> None:
    """Proves the machine.I2C methods (scan, readfrom_mem(_into), writeto_mem,
    readfrom(_into), writeto, writevto, addrsize=16) reach the devices with
    register-pointer semantics, and writeto returns the number of ACKs."""
    r = hw["i2c_bus"]
    assert r["scan"] == [0x48, 0x53]
    assert r["devid_into"] == 0xE5
    assert r["devid_mem"] == "e5"
    assert r["bw_rate"] == 0x0D
    assert r["writeto_acks"] == 2
    assert r["readfrom_into"] == "0d00"  # pointer 0x2C, auto-increment to 0x2D
    assert r["readfrom"] == "0000"
    assert r["writevto"] == 4
    assert r["addrsize16"] == "00"
    assert r["duplicate"] == "ValueError"


def test_bus_faults(hw: dict[str, Any]) -> None:
    """Proves the errors MicroPython raises: ENODEV for an absent or NACKing
    address (and it leaves scan()), EIO mid-transfer (still in scan()),
    ETIMEDOUT for a stuck bus - even when another device holds SDA - with
    scan() returning [], and recovery once the fault is cleared."""
    r = hw["i2c_bus"]
    assert r["missing"] == ENODEV
    assert r["nack"] == ENODEV
    assert r["nack_write"] == ENODEV
    assert r["nack_scan"] == [0x48]
    assert r["eio"] == EIO
    assert r["eio_scan"] == [0x48, 0x53]
    assert r["stuck_other_device"] == ETIMEDOUT
    assert r["bus_stuck"] == ETIMEDOUT
    assert r["stuck_scan"] == []
    assert r["recovered"] == 0xE5
    assert r["unknown_fault"] == "ValueError"
    assert r["trace"] == [["w", 0x53, "00"], ["r", 0x53, "e5"], ["e", 0x51, ENODEV]]


def test_adxl345_identity_and_standby(hw: dict[str, Any]) -> None:
    """Proves DEVID reads 0xE5 (read-only), BW_RATE resets to 0x0A, no data
    while POWER_CTL.MEASURE is clear, DATA_READY 10 ms after measuring at
    100 Hz and cleared by reading the data registers."""
    r = hw["adxl345_basics"]
    assert r["devid"] == 0xE5
    assert r["devid_after_write"] == 0xE5
    assert r["bw_rate_reset"] == 0x0A
    assert r["standby_data"] == [0, 0, 0]
    assert r["standby_int_source"] == 0
    assert r["int_source_at_start"] == 0
    assert r["int_source_after_10ms"] & 0x80
    assert r["int_source_after_read"] == 0
    assert r["overrun"] == 0x81  # three samples replaced unread ones


def test_adxl345_ranges_and_format(hw: dict[str, Any]) -> None:
    """Proves the DATA_FORMAT scales for (x, y, z) = (-500, 2500, 1000) mg:
    10-bit mode 256/128/64/32 LSB/g with clipping at +511, FULL_RES 256 LSB/g
    with 10..13 bits, JUSTIFY left-justifies; little-endian two's complement
    bytes; offsets add 15.6 mg/LSB; the BW_RATE rate table."""
    r = hw["adxl345_basics"]
    assert r["ranges"] == {
        "00": [-128, 511, 256],
        "01": [-64, 320, 128],
        "02": [-32, 160, 64],
        "03": [-16, 80, 32],
        "08": [-128, 511, 256],
        "09": [-128, 640, 256],
        "0a": [-128, 640, 256],
        "0b": [-128, 640, 256],
        "0c": [-128 << 6, 511 << 6, 256 << 6],
    }
    assert r["raw_bytes"] == "80ffff010001"  # -128, 511, 256 little-endian
    assert r["offsets"] == [-112, 511, 256]  # x: -500 + 62 mg
    assert r["odr_mhz"] == [97, 6250, 50000, 100000, 800000, 3200000]


def test_adxl345_faults(hw: dict[str, Any]) -> None:
    """Proves wrong_id changes DEVID, saturate pins every axis at its rail,
    and noise stays within +-50 mg (13 LSB at full resolution) around the
    clean value while actually varying."""
    r = hw["adxl345_basics"]
    assert r["wrong_id"] != 0xE5
    assert r["saturate"] == [-512, 511, 511]
    clean = [-128, 640, 256]
    for sample in r["noisy"]:
        for v, c in zip(sample, clean, strict=True):
            assert abs(v - c) <= 13
    assert len({tuple(s) for s in r["noisy"]}) > 10


def test_adxl345_fifo(hw: dict[str, Any]) -> None:
    """Proves the FIFO: stream mode accumulates one sample per 10 ms from the
    clock, each sample is the world at its own time (ramp: 1010, 1020, 1030
    mg), reads pop one entry per 6-byte burst, WATERMARK at the programmed
    count, 32 deep with OVERRUN in stream mode keeping the newest, FIFO mode
    stopping at 32, bypass clearing it, 3200 Hz filling 32 in 10 ms, no
    samples in standby, and DATA_READY on the INT1 pin."""
    r = hw["adxl345_fifo"]
    assert r["entries_150ms"] == 15
    assert r["int_source_15"] == 0x80
    assert r["first_x"] == [259, 261, 264]  # round(1010/1020/1030 * 0.256)
    assert r["entries_after_3"] == 12
    assert r["entries_more"] == 16
    assert r["int_source_watermark"] == 0x82
    assert r["entries_full"] == 32
    assert r["int_source_full"] == 0x83
    assert r["stream_newest"] == 1280  # 5000 mg at 5000 ms
    assert r["stream_oldest"] == 1201  # 31 samples earlier: 4690 mg
    assert r["empty_repeat"] == 1280
    assert r["entries_drained"] == 0
    assert r["fifo_mode_entries"] == 32
    assert r["fifo_mode_first"] == 1283  # the first sample after the mode change
    assert r["bypass_entries"] == 0
    assert r["bypass_x"] == 1792
    assert r["entries_3200hz_10ms"] == 32
    assert r["standby_new_samples"] == 0
    assert (r["int1"], r["int2"], r["int1_after_read"]) == (1, 0, 0)


def test_ads1115_registers_and_single_shot(hw: dict[str, Any]) -> None:
    """Proves config resets to 0x8583, thresholds reset and store, OS reads 0
    while a single-shot conversion runs for 1/DR (7.8 ms at 128 SPS) and 1
    after, the result is big-endian signed 16-bit: 1.125 V (350 kPa on the
    150 ohm shunt) = 9000 at +-4.096 V; no conversion without OS."""
    r = hw["ads1115"]
    assert r["config_reset"] == "8583"
    assert r["thresholds"] == ["8000", "7fff"]
    assert r["lo_written"] == "1234"
    assert r["conversion_before"] == "0000"
    assert (r["os_converting"], r["os_at_7ms"], r["os_at_8ms"]) == (0, 0, 1)
    assert r["single_ain0"] == 9000
    assert r["read_4_bytes"] == "23282328"
    assert r["no_os_conversions"] == 0
    assert r["dr_us"] == [125000, 62500, 31250, 15625, 7813, 4000, 2106, 1163]


def test_ads1115_pga_and_mux(hw: dict[str, Any]) -> None:
    """Proves every PGA full scale (clipping at 32767 beyond it) and every MUX
    setting: differential pairs (AIN0-AIN1 negative), single-ended AIN0..3,
    with AIN0 = 1.125 V, AIN1 = 1.8 V, AIN2/AIN3 grounded."""
    r = hw["ads1115"]
    assert r["pga"] == [6000, 9000, 18000, 32767, 32767, 32767, 32767, 32767]
    assert r["mux"] == [-3600, 6000, 9600, 0, 6000, 9600, 0, 0]


def test_ads1115_continuous(hw: dict[str, Any]) -> None:
    """Proves continuous mode converts back to back at 860 SPS from the clock
    (OS reads 0), the register holding the last completed conversion of a
    pressure ramp."""
    r = hw["ads1115"]
    assert r["os_continuous"] == 0
    assert r["continuous"][0] == 0  # no conversion completed yet
    assert r["continuous"][1:] == [9120, 14760, 20760, 21000]


def test_ads1115_faults(hw: dict[str, Any]) -> None:
    """Proves disconnected inputs read 0 V, saturate pins full scale, noise
    stays within +-20 LSB and varies, wrong_id hides the 0x8583 signature, and
    the general call reset (0x00, 0x06) restores power-on state."""
    r = hw["ads1115"]
    assert r["disconnected"] == 0
    assert r["saturate"] == 32767
    assert all(abs(v - 21000) <= 20 for v in r["noisy"])
    assert len(set(r["noisy"])) > 3
    assert r["wrong_id_config"] != "8583"
    assert r["general_call"] == 2
    assert r["after_reset"] == "8583"


def test_adxl345_activity_interrupt(hw: dict[str, Any]) -> None:
    """Proves the activity interrupt: THRESH_ACT 0x24 (62.5 mg/LSB), ACT_INACT_CTL
    0x27 (ac-coupled: the reference is the first sample of the watch; dc: the
    acceleration itself), INT_ENABLE 0x2E and INT_MAP 0x2F route Activity to INT1,
    latched until INT_SOURCE 0x30 is read (then cleared), ACT_TAP_STATUS names the
    axis; the look-ahead a sleeping board uses (next_int_ms, int_at) finds the
    first sample past the threshold and changes nothing; the registers and the
    event survive state()/load() (the chip stays powered while the MCU sleeps);
    low-power 100 Hz draws 50 uA, standby 0.1 uA (datasheet Tables 7 and 8);
    INT_INVERT (DATA_FORMAT bit 5) makes the interrupt pins active low."""
    r = hw["adxl345_activity"]
    assert r["next_int"] == 5000 and r["int_4999"] == 0 and r["int_5000"] == 1
    assert r["int_now"] == 0  # the look-ahead did not change the chip
    assert r["charge_1s"] == 100 * 1000  # nA * ms: standby until the watch began
    assert r["charge_2s"] - r["charge_1s"] == 50000 * 1000
    assert r["current_na"] == 50000
    assert r["charge_6s"] - r["charge_2s"] == 50000 * 4000  # the sleep, after load()
    assert r["int_after_sleep"] == 1
    assert r["act_axes"] == 0x40
    assert r["int_source"] & 0x10 and r["int_source_again"] == 0 and r["int_after_read"] == 0
    # ac-coupled: 1500 mg is 700 mg from the reference (800): no second event
    # within the look-ahead's hour
    assert r["next_int_after"] == 6000 + 3600000
    assert r["dc_next_int"] == 5000
    # INT_INVERT: INT1 idles high and goes low at the same event, latched until read
    assert r["inv_next_int"] == 5000
    assert r["inv_levels"] == [1, 0, 1]
    assert r["inv_latched"] == 0 and r["inv_after_read"] == 1


def test_adxl345_fifo_trigger_and_inactivity(hw: dict[str, Any]) -> None:
    """Proves trigger mode (FIFO_CTL 0xC0 | samples): the FIFO keeps the last 4
    samples up to the event (the event's one included), then collects as FIFO
    mode until 32 entries, FIFO_STATUS bit 7 set; the inactivity interrupt after
    TIME_INACT s below THRESH_INACT; a day of hydrant.idle gives no event (the
    look-ahead steps an hour at a time), hydrant.impact's shock one at 5 min."""
    r = hw["adxl345_activity"]
    assert r["fifo_status"] == 0x80 | 32
    x = r["fifo_x"]
    assert x[:3] == [205, 205, 205]  # 800 mg before the event, 3.9 mg/LSB
    assert x[3:13] == [486] * 10  # 1900 mg: the event's sample and the 100 ms after it
    assert x[13:] == [384] * 19  # 1500 mg
    assert 3010 <= r["inact_next_int"] <= 3030
    assert r["inact_source"] & 0x08
    assert r["idle_day"] == [86400000, 0]
    assert r["impact_next_int"] == 300000


def test_world_span_bounds(hw: dict[str, Any]) -> None:
    """Proves World.span: every value of a signal lies within the bounds of its
    stretch (waves and noise included), and a flat stretch ends where a wave
    begins."""
    r = hw["world_span"]
    assert r["outside"] == 0 and r["spans"] >= 2
    assert r["flat"] == [300000, -3, 3]
