"""The 1-Wire bus and DS18B20 simulators, in both runtimes (``hw``)."""

from __future__ import annotations

from typing import Any


def test_crc8_and_rom(hw: dict[str, Any]) -> None:
    """Proves the Dallas CRC-8 against Maxim's application-note example (ROM
    02 1C B8 01 00 00 00 -> A2), family 0x28 ROM codes with a valid CRC
    (crc8 over all 8 bytes = 0), and READ ROM on a single-drop bus."""
    r = hw["onewire"]
    assert r["maxim_an27"] == 0xA2
    assert r["rom_a"] == "28efbeadde000027"
    assert r["rom_crc_ok"] == [0, 0]
    assert r["rom_family"] == 0x28
    assert r["read_rom"].startswith("284d00")


def test_search_finds_every_device(hw: dict[str, Any]) -> None:
    """Proves SEARCH ROM, run bit by bit (bit, complement, direction), finds
    both devices on a two-drop bus and all three on a three-drop bus."""
    r = hw["onewire"]
    assert r["presence"] is True
    assert r["scan"] == ["28efbeadde000027", "28feca00000000e0"]
    assert r["scan3"] == ["28efbeadde000027", "28feca00000000e0", "28ff000000000048"]


def test_scratchpad_and_conversion(hw: dict[str, Any]) -> None:
    """Proves the power-on scratchpad 50 05 4B 46 7F FF 0C 10 1C (85 C, CRC
    in byte 8), CONVERT T busy (read slot 0) for 750 ms with the previous
    value readable meanwhile, MATCH ROM addressing each device (21.5 C = 0x0158,
    -10.125 C = 0xFF5E), WRITE SCRATCHPAD to 9-bit (93.75 ms, low bits 0),
    and external power reported by READ POWER SUPPLY."""
    r = hw["onewire"]
    assert r["power_on_scratchpad"] == "50054b467fff0c101c"
    assert r["power_on_crc"] == 0
    assert r["busy_bit"] == 0
    assert r["early_read"] == "5005"
    assert r["temp_a"] == "58014b467fff0c10c2"
    assert r["temp_b"] == "5eff"
    assert r["busy_done_9bit"] == [0, 1]
    assert r["temp_b_9bit"] == "58ff14f61fff0c102c"
    assert r["power_supply_bit"] == 1
    assert r["raw"] == [0x0550, 401, 2000, 2000, 0xFC90, 0xFC90, 8]
    assert r["raw_9bit"] == 400


def test_ds18b20_faults(hw: dict[str, Any]) -> None:
    """Proves disconnected (no presence, reset(required=True) raises an
    OSError subclass, empty scan, bits read 1), bad CRC (crc8 != 0), stuck at
    85 C after a conversion, noise within +-0.5 C, a shorted line, and ALARM
    SEARCH answering only while the reading is outside TL..TH."""
    r = hw["ds18b20_faults"]
    assert r["presence"] is False
    assert r["required"] == "OneWireError"
    assert r["scan"] == []
    assert r["readbyte"] == 0xFF
    assert r["bad_crc_check"] != 0
    assert r["bad_crc"][:4] == "5801"
    assert r["stuck85"][:4] == "5005"
    values = [int(v[2:4] + v[0:2], 16) for v in r["noise"]]
    assert all(abs(v - 344) <= 8 for v in values)
    assert len(set(values)) > 2
    assert r["short_presence"] is False
    assert r["short_bit"] == 0
    assert r["alarm_search_first_bits"] == [0, 1]
