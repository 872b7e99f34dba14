"""Board facts: the two boards CityNerve nodes run on, as data.

Each :class:`Board` says which GPIOs exist, which are taken (flash, console, wireless
chip), which are strapping pins, which can be ADC inputs, which can wake the chip from
deep sleep and how the firmware arms them (``deep_wake``: ``"esp32_gpio"``,
``esp32.wake_on_gpio`` with one level for all armed pins; ``"pin_irq"``,
``Pin.irq(wake=machine.DEEPSLEEP)`` per pin), where each I2C/UART controller may be
routed, and the MCU's power figures for the energy model. The pins a kit actually uses
live in :mod:`hardware.kits`; :func:`hardware.kits.board_file` merges both into the
JSON board file that the firmware reads (the firmware never looks at
``sys.platform``).

Run ``python -m hardware.boards BOARD KIT [-o FILE]`` to print or write a
board file.

Sources: Espressif ESP32-C3 datasheet and ESP32-C3-DevKitM-1 user guide (GPIO11-17
belong to the SPI flash, GPIO20/21 are UART0 = the console through the USB-UART
bridge, GPIO18/19 are USB D-/D+, strapping pins GPIO2/8/9, GPIO8 drives the on-board
WS2812 RGB LED, GPIO9 is the BOOT button, ADC1 is GPIO0-4 and ADC2 (GPIO5) is unusable
while Wi-Fi runs, only GPIO0-5 are in the RTC domain and can wake the chip from deep
sleep, the GPIO matrix routes I2C and UART signals to any pin; MicroPython's esp32
module documents ``Pin.irq(wake=DEEPSLEEP)`` as EXT0, which the C3 lacks, and
``esp32.wake_on_gpio(pins, level)`` for GPIO deep-sleep wakes); Raspberry Pi Pico W
datasheet and RP2040 datasheet (GP23 WL_ON, GP24 WL data/IRQ, GP25 WL chip select,
GP29 WL clock and ADC3 = VSYS/3; the LED hangs off the wireless chip and is
``Pin("LED")`` in MicroPython; ADC0-2 on GP26-28; fixed I2C/UART pin functions; the
console is USB CDC, so both UARTs are free).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field

CONSOLE = "console"


@dataclass(frozen=True)
class PowerFigures:
    """MCU currents for the energy model (documented estimates, battery side).

    ``sleep_ua`` is the whole board asleep (MCU, regulator, pull-ups), not a
    development board with its USB bridge and power LED: a production node
    is a custom carrier with the same MCU and pins.
    """

    sleep_ua: int
    active_ma: int
    radio_connect_ma: int
    radio_connect_ms: int
    radio_tx_peak_ma: int
    boot_ms: int
    note: str


@dataclass(frozen=True)
class Controller:
    """An I2C or UART controller and the pins it may use (None = any GPIO)."""

    id: int
    pins: dict[str, frozenset[int] | None]
    note: str = ""


@dataclass(frozen=True)
class Board:
    """Pin facts of one board."""

    name: str
    mcu: str
    description: str
    gpios: frozenset[int]
    reserved: dict[int, str]
    strapping: frozenset[int]
    adc: dict[int, str]
    wake: frozenset[int]
    deep_wake: str
    i2c: tuple[Controller, ...]
    uart: tuple[Controller, ...]
    led: int | str
    led_kind: str
    adc_bits: int
    power: PowerFigures
    notes: tuple[str, ...] = field(default=())

    def usable(self, pin: int) -> bool:
        """True when ``pin`` exists and is not taken by the board itself."""
        return pin in self.gpios and pin not in self.reserved

    def controller(self, kind: str, bus_id: int) -> Controller:
        """The I2C or UART controller ``bus_id``."""
        table = self.i2c if kind == "i2c" else self.uart
        for c in table:
            if c.id == bus_id:
                return c
        raise KeyError(f"{self.name} has no {kind} {bus_id}")


ESP32C3_DEVKITM_1 = Board(
    name="esp32c3-devkitm-1",
    mcu="esp32c3",
    description="Espressif ESP32-C3-DevKitM-1 (ESP32-C3-MINI-1, RISC-V, Wi-Fi + BLE)",
    gpios=frozenset([*range(0, 11), 18, 19, 20, 21]),
    reserved={20: CONSOLE + " UART0 RX", 21: CONSOLE + " UART0 TX"},
    strapping=frozenset({2, 8, 9}),
    adc={0: "ADC1_CH0", 1: "ADC1_CH1", 2: "ADC1_CH2", 3: "ADC1_CH3", 4: "ADC1_CH4"},
    wake=frozenset(range(0, 6)),
    deep_wake="esp32_gpio",
    i2c=(Controller(0, {"sda": None, "scl": None}, "one I2C controller, any pins"),),
    uart=(
        Controller(0, {"tx": frozenset({21}), "rx": frozenset({20})}, "the REPL console"),
        Controller(1, {"tx": None, "rx": None}, "the only free UART: any pins"),
    ),
    led=8,
    led_kind="ws2812",
    adc_bits=12,
    power=PowerFigures(
        sleep_ua=8,
        active_ma=25,
        radio_connect_ma=100,
        radio_connect_ms=1500,
        radio_tx_peak_ma=350,
        boot_ms=250,
        note=(
            "deep sleep 5 uA (datasheet, RTC timer on) + 3 uA regulator and leakage; "
            "CPU at 160 MHz about 25 mA; Wi-Fi association, DHCP and TCP about 1.5 s "
            "at about 100 mA average, 350 mA transmit peaks (a Li-SOCl2 cell needs a "
            "hybrid layer capacitor for them); wake from deep sleep is a reboot"
        ),
    ),
    notes=(
        "GPIO2/8/9 are strapping pins: no switch inputs with pull-ups on them; an "
        "output there must idle high (an active-low load switch with a pull-up: on "
        "GPIO9, the BOOT pin, that pull-up also keeps SPI boot selected at reset)",
        "only GPIO0-5 wake the chip from deep sleep: alarm inputs go there",
        "the C3 has no EXT0/EXT1: Pin.irq(wake=machine.DEEPSLEEP) does not arm a deep-sleep "
        "wake; esp32.wake_on_gpio(pins, level) (MicroPython PR #17518, late 2025) does, "
        "with one level for all the pins it arms (the firmware turns the "
        "accelerometer's INT1 to the level the reed needs)",
        "ADC2 (GPIO5) does not work while Wi-Fi is on: analog inputs on GPIO0-4",
        "UART1 is the only free UART: two UART sensors share it by re-routing RX "
        "(UART.init(rx=...)) and are read one at a time",
    ),
)

PICO_W = Board(
    name="pico-w",
    mcu="rp2040",
    description="Raspberry Pi Pico W (RP2040 + CYW43439 Wi-Fi)",
    gpios=frozenset([*range(0, 23), 26, 27, 28]),
    reserved={},
    strapping=frozenset(),
    adc={26: "ADC0", 27: "ADC1", 28: "ADC2"},
    wake=frozenset([*range(0, 23), 26, 27, 28]),
    deep_wake="pin_irq",
    i2c=(
        Controller(
            0,
            {
                "sda": frozenset({0, 4, 8, 12, 16, 20}),
                "scl": frozenset({1, 5, 9, 13, 17, 21}),
            },
        ),
        Controller(
            1,
            {
                "sda": frozenset({2, 6, 10, 14, 18, 26}),
                "scl": frozenset({3, 7, 11, 15, 19, 27}),
            },
        ),
    ),
    uart=(
        Controller(0, {"tx": frozenset({0, 12, 16, 28}), "rx": frozenset({1, 13, 17})}),
        Controller(1, {"tx": frozenset({4, 8, 20}), "rx": frozenset({5, 9, 21})}),
    ),
    led="LED",
    led_kind="cyw43",
    adc_bits=12,
    power=PowerFigures(
        sleep_ua=1300,
        active_ma=30,
        radio_connect_ma=70,
        radio_connect_ms=2500,
        radio_tx_peak_ma=200,
        boot_ms=300,
        note=(
            "MicroPython lightsleep/deepsleep on rp2 keeps the regulator and SRAM "
            "powered: about 1.3 mA (estimate) - a battery Pico W node needs an external "
            "power timer (e.g. TPL5110) to reach years; CPU at 125 MHz about 30 mA; "
            "CYW43 association and DHCP about 2.5 s at 70 mA average"
        ),
    ),
    notes=(
        "GP23/24/25/29 belong to the wireless chip; the LED is Pin('LED')",
        "ADC3 (GP29) reads VSYS/3 only while the wireless chip is idle: the battery "
        "goes through its own divider to GP28",
        "I2C and UART pins are fixed functions: see the controller pin sets",
        "deep-sleep wake inputs are armed with Pin.irq(trigger=Pin.WAKE_LOW/WAKE_HIGH, "
        "wake=machine.DEEPSLEEP) as on the ESP32 port; not verified on an rp2 board",
    ),
)

BOARDS: dict[str, Board] = {b.name: b for b in (ESP32C3_DEVKITM_1, PICO_W)}


def get_board(name: str) -> Board:
    """The board called ``name``; KeyError names the known boards."""
    try:
        return BOARDS[name]
    except KeyError:
        raise KeyError(f"unknown board {name!r} (known: {', '.join(sorted(BOARDS))})") from None


def main(argv: list[str] | None = None) -> int:
    """Print (or write with -o) the JSON board file for a board and kit."""
    from hardware.kits import KITS, board_file  # noqa: PLC0415 (kits imports boards)

    parser = argparse.ArgumentParser(prog="python -m hardware.boards", description=main.__doc__)
    parser.add_argument("board", choices=sorted(BOARDS))
    parser.add_argument("kit", choices=sorted(KITS))
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    args = parser.parse_args(argv)
    text = json.dumps(board_file(args.board, args.kit), indent=2, sort_keys=True) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
