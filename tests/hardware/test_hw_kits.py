"""Kits and boards: wiring rules, board files, driver facts vs. simulators."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hardware import boards, kits
from hardware.sim import ads1115, adxl345, ds18b20, frontend, ze03

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [(b, k) for b in sorted(boards.BOARDS) for k in sorted(kits.KITS)]


@pytest.mark.parametrize(("board", "kit"), PAIRS)
def test_wiring_is_sound(board: str, kit: str) -> None:
    """Proves each kit's pins on each board exist, are free (not flash,
    console or wireless pins), are unique, suit their controller (fixed
    RP2040 functions), put analog inputs on ADC pins (ADC1 on the C3), put
    wake inputs on deep-sleep wake pins, keep pull-up inputs off strapping
    pins, and mark a shared UART as such."""
    assert kits.check_wiring(kit, board) == []


def test_wiring_checker_catches_mistakes() -> None:
    """Proves check_wiring is not vacuous: a strapping pin with a pull-up, a
    non-wake pin for a wake input, a reserved pin, a non-ADC analog pin, a
    duplicate and a wrong RP2040 I2C pin are all reported."""
    kit = kits.HYDRANT
    bad = dict(kit.wiring["esp32c3-devkitm-1"])
    bad["gpio"] = {"reed": 9, "accel_int": 7, "sensor_power": 20}
    bad["adc"] = {"battery": 5}
    broken = kits.Kit(**{**kit.__dict__, "name": "broken",
                         "wiring": {"esp32c3-devkitm-1": bad, "pico-w": {
                             **kit.wiring["pico-w"], "i2c": {"id": 0, "sda": 2, "scl": 5,
                                                             "freq": 400000}}}})  # fmt: skip
    kits.KITS["broken"] = broken
    try:
        c3 = "\n".join(kits.check_wiring("broken", "esp32c3-devkitm-1"))
        pico = "\n".join(kits.check_wiring("broken", "pico-w"))
    finally:
        del kits.KITS["broken"]
    assert "strapping" in c3
    assert "cannot wake" in c3
    assert "not usable" in c3
    assert "not an ADC input" in c3
    assert "already used" in c3
    assert "cannot use GPIO2 as sda" in pico


def test_load_switches() -> None:
    """Proves the manhole's level sensor and gas module have a load switch each
    (on both boards), each output names the parts it powers (the simulator
    switches those parts and the energy model charges them for its on-time),
    and an output on a strapping pin must idle high: an active-high switch
    there is reported."""
    for board in ("esp32c3-devkitm-1", "pico-w"):
        gpio = kits.board_file(board, "manhole")["gpio"]
        assert gpio["level_power"]["powers"] == ["level"]
        assert gpio["gas_power"]["powers"] == ["gas"]
        assert gpio["level_power"]["pin"] != gpio["gas_power"]["pin"]
        assert kits.board_file(board, "hydrant")["gpio"]["sensor_power"]["powers"] == ["loop_power"]
    wiring = dict(kits.MANHOLE.wiring["esp32c3-devkitm-1"])
    wiring["gpio"] = {**wiring["gpio"], "gas_power": 2}  # active high on a strapping pin
    kits.KITS["broken"] = kits.Kit(
        **{**kits.MANHOLE.__dict__, "name": "broken", "wiring": {"esp32c3-devkitm-1": wiring}}
    )
    try:
        problems = kits.check_wiring("broken", "esp32c3-devkitm-1")
    finally:
        del kits.KITS["broken"]
    assert problems == ["gas_power: GPIO2 is a strapping pin: an output there must idle high"]


@pytest.mark.parametrize(("board", "kit"), PAIRS)
def test_board_file(board: str, kit: str) -> None:
    """Proves the board file is JSON with the board, I2C, UARTs, 1-Wire, ADC,
    GPIO (with the world signal and active level behind each input), LED,
    wake pins and the parts with their addresses, and that the firmware
    would find every part's bus wired."""
    bf = json.loads(json.dumps(kits.board_file(board, kit)))
    k = kits.get_kit(kit)
    assert bf["format"] == kits.BOARD_FILE_FORMAT
    assert bf["board"] == board and bf["kit"] == kit
    assert set(bf["i2c"]) == {"id", "sda", "scl", "freq"}
    assert bf["led"]["pin"] == boards.get_board(board).led
    for role, g in bf["gpio"].items():
        assert isinstance(g["pin"], int), role
        assert g["active"] in (0, 1)
    for p in k.parts:
        if p.bus == "onewire":
            assert isinstance(bf["onewire"], int)
        if p.bus == "uart" and p.key in ("level", "gas"):
            assert p.key in bf["uart"]
    assert bf["parts"]["accel"]["address"] == 0x53 if "accel" in bf["parts"] else True
    if k.power == "battery":
        assert bf["adc"]["battery"]["divider"] == frontend.BATTERY_DIVIDER
        assert bf["wake"], "a battery node needs wake inputs"


def test_board_facts() -> None:
    """Proves the documented pin facts: ESP32-C3 strapping 2/8/9, wake 0-5,
    flash pins 11-17 absent, console on 20/21, UART0 unusable for sensors;
    Pico W without GP23-25/29, LED on the wireless chip, ADC on GP26-28."""
    c3 = boards.get_board("esp32c3-devkitm-1")
    assert c3.strapping == {2, 8, 9}
    assert c3.wake == set(range(6))
    assert not any(p in c3.gpios for p in range(11, 18))
    assert c3.reserved.keys() == {20, 21}
    pico = boards.get_board("pico-w")
    assert not any(p in pico.gpios for p in (23, 24, 25, 29))
    assert pico.led == "LED"
    assert set(pico.adc) == {26, 27, 28}
    with pytest.raises(KeyError):
        boards.get_board("esp8266")


def test_driver_facts_match_the_simulators() -> None:
    """Proves the register facts a driver reads from the kit are the ones the
    simulators implement (one source of truth, no drift)."""
    a = kits.HYDRANT.part("accel").facts
    assert a["devid_reg"] == 0x00 and a["devid"] == 0xE5 == adxl345.DEVID_VALUE
    assert (a["bw_rate_reg"], a["power_ctl_reg"], a["data_format_reg"]) == (0x2C, 0x2D, 0x31)
    assert (a["datax0_reg"], a["fifo_ctl_reg"], a["fifo_status_reg"]) == (0x32, 0x38, 0x39)
    adc = kits.ELEVATOR.part("adc").facts
    assert adc["config_reset"] == ads1115.CONFIG_RESET == 0x8583
    assert adc["inputs"] == {"AIN0": "motor_current"}
    assert kits.HYDRANT.part("adc").facts["shunt_ohm"] == 150
    assert kits.HYDRANT.part("adc").facts["range_kpa"] == 1600
    t = kits.MANHOLE.part("temp").facts
    assert (t["convert_t"], t["read_scratchpad"], t["family"]) == (0x44, 0xBE, 0x28)
    assert t["conversion_us"][3] == ds18b20.CONVERSION_US[3] == 750000
    assert (a["thresh_act_reg"], a["act_inact_ctl_reg"], a["int_enable_reg"]) == (0x24, 0x27, 0x2E)
    assert (a["int_map_reg"], a["int_source_reg"], a["activity_bit"]) == (0x2F, 0x30, 0x10)
    assert a["idd_ua_by_rate_code"][10] == 140 and a["idd_low_power_ua_by_rate_code"]["7"] == 34
    g = kits.MANHOLE.part("gas").facts
    assert bytes(g["cmd_read"]) == ze03.CMD_READ
    assert kits.MANHOLE.part("level").facts["range_mm"] == [30, 4500]
    assert kits.ELEVATOR.part("accel").address == 0x53
    assert 0x48 <= kits.ELEVATOR.part("adc").address <= 0x4B


def test_batteries_and_power() -> None:
    """Proves the battery kits carry cell parameters (Li-SOCl2 ER34615, 19 Ah
    per cell) and every part and board has the currents the energy model
    needs; the mains kit has no battery."""
    assert kits.ELEVATOR.battery is None
    for k in (kits.HYDRANT, kits.MANHOLE):
        b = k.battery
        assert b is not None
        assert b.cell.startswith("ER34615") and b.capacity_mah == 19000
        assert b.total_mah >= 19000
        assert k.duty["batch_period_s"] == 900
        for p in k.parts:
            assert p.standby_ua >= 0 and p.active_ma >= 0 and p.active_ms >= 0
    for b in boards.BOARDS.values():
        assert b.power.sleep_ua > 0 and b.power.radio_connect_ms > 0


def test_board_file_cli(tmp_path: Path) -> None:
    """Proves `python -m hardware.boards BOARD KIT -o FILE` writes the same
    board file as board_file()."""
    out = tmp_path / "board.json"
    subprocess.run(
        [sys.executable, "-m", "hardware.boards", "pico-w", "manhole", "-o", str(out)],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    assert json.loads(out.read_text()) == json.loads(
        json.dumps(kits.board_file("pico-w", "manhole"))
    )
