"""The three sensor kits as data: parts, buses, addresses, wiring per board.

A :class:`Kit` lists its :class:`Part` s (chip, bus, address, the register
facts the firmware driver relies on, standby/active currents for the energy
model), its digital inputs and outputs (:class:`GpioUse`), its battery (the
battery kits) and, for each board in :mod:`hardware.boards`, which pins it
uses. :func:`board_file` turns a (board, kit) pair into the JSON dict the
firmware reads; :func:`check_wiring` lists what is wrong with a wiring (the
tests require an empty list).

Register facts are quoted from the same constants the simulators in
:mod:`hardware.sim` implement, so the driver, the simulator and this table
cannot drift apart silently (the tests compare them).

Currents are documented estimates from datasheet typical values, marked
"estimate" where no datasheet figure was at hand; they feed the energy model
and are not measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hardware import boards
from hardware.sim import a02yyuw, ads1115, adxl345, ds18b20, frontend, onewire, ze03

BOARD_FILE_FORMAT = 1

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Part:
    """One chip or module of a kit."""

    key: str
    chip: str
    bus: str  # "i2c", "uart", "onewire", "analog" (behind another part), "gpio"
    address: int | None
    role: str
    simulator: str
    facts: JsonDict
    standby_ua: float
    active_ma: float
    active_ms: int
    note: str = ""


@dataclass(frozen=True)
class GpioUse:
    """A digital pin use: an input driven by the world, or an output.

    An output that switches a supply names the parts behind it (``powers``):
    the simulator powers them only while the pin is at its active level, and
    the energy model charges their current for that time.
    """

    role: str
    direction: str  # "in" or "out"
    signal: str | None  # world signal (hardware/sim/world.py) behind an input
    active: int  # pin level when the signal is 1 (open, pressed, enabled)
    pull: str | None
    irq: bool
    wake: bool
    note: str
    powers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Battery:
    """The cell of a battery kit (energy model parameters)."""

    cell: str
    chemistry: str
    nominal_mv: int
    cutoff_mv: int
    capacity_mah: int
    cells_parallel: int
    usable_pct: int
    self_discharge_pct_per_year: float
    note: str

    @property
    def total_mah(self) -> int:
        """Capacity of the pack (cells in parallel)."""
        return self.capacity_mah * self.cells_parallel


@dataclass(frozen=True)
class Kit:
    """A sensor kit for one asset type."""

    name: str
    asset: str
    power: str  # "mains" or "battery"
    link: str
    parts: tuple[Part, ...]
    gpio: tuple[GpioUse, ...]
    battery: Battery | None
    wiring: dict[str, JsonDict]
    scenarios: tuple[str, ...]
    duty: JsonDict = field(default_factory=dict)

    def part(self, key: str) -> Part:
        """The part called ``key``."""
        for p in self.parts:
            if p.key == key:
                return p
        raise KeyError(f"kit {self.name} has no part {key!r}")


# --- parts -------------------------------------------------------------------


def _adxl345() -> Part:
    a = adxl345
    return Part(
        key="accel",
        chip="ADXL345",
        bus="i2c",
        address=0x53,
        role="acceleration, tilt, vibration, impact",
        simulator="hardware.sim.adxl345.ADXL345",
        facts={
            "devid_reg": a.DEVID,
            "devid": a.DEVID_VALUE,
            "bw_rate_reg": a.BW_RATE,
            "bw_rate_reset": 0x0A,
            "odr_mhz_at_code_10": a.odr_millihertz(10),
            "power_ctl_reg": a.POWER_CTL,
            "measure_bit": a.MEASURE,
            "int_enable_reg": a.INT_ENABLE,
            "int_map_reg": a.INT_MAP,
            "int_source_reg": a.INT_SOURCE,
            "data_ready_bit": a.DATA_READY,
            "activity_bit": a.ACTIVITY,
            "inactivity_bit": a.INACTIVITY,
            "watermark_bit": a.WATERMARK,
            "overrun_bit": a.OVERRUN,
            "thresh_act_reg": a.THRESH_ACT,
            "thresh_inact_reg": a.THRESH_INACT,
            "time_inact_reg": a.TIME_INACT,
            "act_inact_ctl_reg": a.ACT_INACT_CTL,
            "act_ac_bit": a.ACT_AC,
            "thresh_mg_per_lsb_x10": a.MG_PER_THRESH_LSB_X10,
            "low_power_bit": a.LOW_POWER,
            "data_format_reg": a.DATA_FORMAT,
            "full_res_bit": a.FULL_RES,
            "range_bits": {"2g": 0, "4g": 1, "8g": 2, "16g": 3},
            "lsb_per_g_full_res": 256,
            "datax0_reg": a.DATAX0,
            "data_bytes": 6,
            "byte_order": "little",
            "fifo_ctl_reg": a.FIFO_CTL,
            "fifo_modes": {"bypass": 0, "fifo": 1, "stream": 2, "trigger": 3},
            "fifo_status_reg": a.FIFO_STATUS,
            "fifo_trig_bit": a.FIFO_TRIG,
            "fifo_depth": a.FIFO_DEPTH,
            "ofs_regs": [a.OFSX, a.OFSX + 1, a.OFSX + 2],
            "ofs_ug_per_lsb": 15600,
            "idd_ua_by_rate_code": list(a.IDD_UA),
            "idd_low_power_ua_by_rate_code": {str(k): v for k, v in a.IDD_LOW_POWER_UA.items()},
        },
        standby_ua=0.1,
        active_ma=0.14,
        active_ms=1000,
        note=(
            "datasheet Rev. G Tables 7/8 (VS 2.5 V, typical): 0.1 uA standby, 140 uA "
            "measuring at 100 Hz, 50 uA at 100 Hz and 34 uA at 12.5 Hz in low-power mode; "
            "the simulator integrates the current of the modes the firmware sets, awake "
            "and asleep (the activity watch)"
        ),
    )


def _ads1115(channel: str, facts: JsonDict) -> Part:
    d = ads1115
    base: JsonDict = {
        "conversion_reg": d.REG_CONVERSION,
        "config_reg": d.REG_CONFIG,
        "lo_thresh_reg": d.REG_LO_THRESH,
        "hi_thresh_reg": d.REG_HI_THRESH,
        "config_reset": d.CONFIG_RESET,
        "os_bit": d.OS,
        "mux_shift": 12,
        "mux_single_ended": {"AIN0": 4, "AIN1": 5, "AIN2": 6, "AIN3": 7},
        "mux_differential_ain0_ain1": 0,
        "pga_shift": 9,
        "pga_fsr_uv": list(d.FSR_UV[:6]),
        "mode_single_bit": d.MODE_SINGLE,
        "dr_shift": 5,
        "data_rates_sps": list(d.DATA_RATES),
        "byte_order": "big",
        "inputs": {"AIN0": channel},
    }
    base.update(facts)
    return Part(
        key="adc",
        chip="ADS1115",
        bus="i2c",
        address=0x48,
        role=f"16-bit ADC for the {channel} front end",
        simulator="hardware.sim.ads1115.ADS1115",
        facts=base,
        standby_ua=0.5,
        active_ma=0.15,
        active_ms=10,
        note="power-down 0.5 uA, 150 uA converting (datasheet typical)",
    )


def _ds18b20(where: str) -> Part:
    t = ds18b20
    ow = onewire
    return Part(
        key="temp",
        chip="DS18B20",
        bus="onewire",
        address=None,
        role=f"temperature ({where})",
        simulator="hardware.sim.ds18b20.DS18B20",
        facts={
            "family": t.FAMILY,
            "skip_rom": ow.SKIP_ROM,
            "match_rom": ow.MATCH_ROM,
            "search_rom": ow.SEARCH_ROM,
            "convert_t": t.CONVERT_T,
            "read_scratchpad": t.READ_SCRATCHPAD,
            "write_scratchpad": t.WRITE_SCRATCHPAD,
            "scratchpad_bytes": 9,
            "crc": "Dallas/Maxim CRC-8, poly 0x31 reflected 0x8C, init 0, byte 8",
            "conversion_us": list(t.CONVERSION_US),
            "power_on_raw": t.POWER_ON_RAW,
            "lsb_per_degc": 16,
            "pullup_ohm": 4700,
            "power": "external (VDD), not parasitic",
        },
        standby_ua=0.75,
        active_ma=1.5,
        active_ms=750,
        note="standby 750 nA, 1.5 mA converting (datasheet max 1 mA typ.)",
    )


def _a02yyuw() -> Part:
    u = a02yyuw
    return Part(
        key="level",
        chip="A02YYUW",
        bus="uart",
        address=None,
        role="water level (ultrasonic distance down the shaft)",
        simulator="hardware.sim.a02yyuw.A02YYUW",
        facts={
            "baud": 9600,
            "format": "8N1",
            "frame": "FF H L SUM",
            "checksum": "(0xFF + H + L) & 0xFF",
            "unit": "mm",
            "range_mm": [u.MIN_MM, u.MAX_MM],
            "invalid_mm": 0,
            "period_ms": u.PERIOD_MS,
            "startup_ms": u.STARTUP_MS,
            "rx_pin": "floating = processed output (not wired)",
        },
        standby_ua=0.0,
        active_ma=8.0,
        active_ms=1000,
        note=(
            "<= 8 mA average (DFRobot SEN0311 wiki); behind its own load switch, "
            "powered only for a reading (start-up 300 ms, then a 500 ms window)"
        ),
    )


def _ze03() -> Part:
    z = ze03
    return Part(
        key="gas",
        chip="ZE03-H2S",
        bus="uart",
        address=None,
        role="hydrogen sulphide",
        simulator="hardware.sim.ze03.ZE03",
        facts={
            "baud": 9600,
            "format": "8N1",
            "frame_len": 9,
            "start": 0xFF,
            "checksum": "(~(byte1 + ... + byte7) + 1) & 0xFF",
            "cmd_qa_mode": list(z.CMD_QA),
            "cmd_active_mode": list(z.CMD_ACTIVE),
            "cmd_read": list(z.CMD_READ),
            "answer": "FF 86 CH CL 00 00 CH CL CS",
            "gas_code": z.GAS_H2S,
            "resolution_ppb": z.RESOLUTION_PPB,
            "full_range": z.FULL_RANGE,
            "active_period_ms": z.PERIOD_MS,
            "answer_ms": z.ANSWER_MS,
        },
        standby_ua=0.0,
        active_ma=15.0,
        active_ms=30000,
        note=(
            "working current < 10 mA at 5 V (vendor listing of the ZE03-H2S), about "
            "15 mA from the 3.6 V cell through a 5 V boost at about 90 %; behind its "
            "own load switch, held on through a deep sleep for the warm-up "
            "(gas_warmup_ms, 30 s: an assumption to validate on a real module)"
        ),
    )


def _loop_power() -> Part:
    return Part(
        key="loop_power",
        chip="boost 3.6 V -> 15 V (e.g. TPS61040)",
        bus="gpio",
        address=None,
        role="supply of the 4-20 mA loop, switched per reading",
        simulator="",
        facts={
            "warmup_ms": 100,
            "efficiency_pct": 80,
            "loop_voltage_mv": 15000,
            "supplies": "pressure",
        },
        standby_ua=0.1,
        active_ma=25.0,
        active_ms=150,
        note="estimate: 7.5 mA loop at 15 V through an 80 % boost from 3.6 V",
    )


def _rs485() -> Part:
    return Part(
        key="rs485",
        chip="SP3485 (3.3 V RS-485 transceiver)",
        bus="uart",
        address=None,
        role="serial link to the edge agent in the machine room",
        simulator="",
        facts={"baud": 115200, "format": "8N1", "half_duplex": True, "de_active": 1},
        standby_ua=300.0,
        active_ma=2.0,
        active_ms=0,
        note="mains kit: currents informative only",
    )


# --- kits --------------------------------------------------------------------

ELEVATOR = Kit(
    name="elevator",
    asset="traction elevator (car roof)",
    power="mains",
    link="rs485",
    parts=(
        _adxl345(),
        _ads1115(
            "motor_current",
            {
                "transducer": "split-core 0-50 A AC -> 0-5 V DC, 10k/10k divider",
                "uv_per_ma": frontend.CT_UV_PER_MA,
                "clip_ma": frontend.CT_CLIP_MA,
                "pga_fsr_uv": 4096000,
            },
        ),
        _rs485(),
    ),
    gpio=(
        GpioUse(
            "door",
            "in",
            "door_open",
            1,
            "up",
            True,
            False,
            "magnetic door contact (NO reed to GND), closed while the door is shut",
        ),
        GpioUse(
            "alarm_button",
            "in",
            "alarm_button",
            0,
            "up",
            True,
            False,
            "car alarm button, NO contact to GND",
        ),
        GpioUse(
            "accel_int", "in", None, 1, None, True, False, "ADXL345 INT1 (push-pull, active high)"
        ),
        GpioUse(
            "rs485_de", "out", None, 1, None, False, False, "RS-485 driver enable (DE and /RE tied)"
        ),
    ),
    battery=None,
    wiring={
        "esp32c3-devkitm-1": {
            "i2c": {"id": 0, "sda": 6, "scl": 7, "freq": 400000},
            "uart": {"link": {"id": 1, "tx": 18, "rx": 19, "baud": 115200}},
            "gpio": {"door": 4, "alarm_button": 5, "accel_int": 1, "rs485_de": 10},
            "adc": {},
        },
        "pico-w": {
            "i2c": {"id": 0, "sda": 4, "scl": 5, "freq": 400000},
            "uart": {"link": {"id": 0, "tx": 0, "rx": 1, "baud": 115200}},
            "gpio": {"door": 14, "alarm_button": 13, "accel_int": 15, "rs485_de": 2},
            "adc": {},
        },
    },
    scenarios=(
        "elevator.idle",
        "elevator.trips",
        "elevator.rough_ride",
        "elevator.door_stuck",
        "elevator.entrapment",
    ),
)

_BATTERY_NOTE = (
    "Li-SOCl2 bobbin cell: flat 3.6 V, tiny self-discharge, but high internal "
    "resistance - radio peaks come from a hybrid layer capacitor (e.g. HLC-1550A) "
    "beside it; capacity derated for pulse load and cold"
)

HYDRANT = Kit(
    name="hydrant",
    asset="post fire hydrant",
    power="battery",
    link="wifi",
    parts=(
        _ads1115(
            "pressure",
            {
                "transducer": "4-20 mA, 0-1600 kPa gauge, two-wire",
                "shunt_ohm": frontend.PRESSURE_SHUNT_OHM,
                "range_kpa": frontend.PRESSURE_RANGE_KPA,
                "loop_ua": [frontend.LOOP_ZERO_UA, frontend.LOOP_ZERO_UA + frontend.LOOP_SPAN_UA],
                "loop_fault_below_ua": frontend.LOOP_MIN_UA,
                "pga_fsr_uv": 4096000,
            },
        ),
        _adxl345(),
        _ds18b20("hydrant barrel"),
        _loop_power(),
    ),
    gpio=(
        GpioUse(
            "reed",
            "in",
            "valve_open",
            0,
            "up",
            True,
            True,
            "valve-stem reed (NC, held open by the magnet while the valve is "
            "shut: no pull-up current at rest); closes when the valve opens "
            "or the bonnet is tampered with",
        ),
        GpioUse(
            "accel_int", "in", None, 1, None, True, True, "ADXL345 INT1 (push-pull, active high)"
        ),
        GpioUse(
            "sensor_power",
            "out",
            None,
            1,
            None,
            False,
            False,
            "enables the 4-20 mA loop boost converter",
            ("loop_power",),
        ),
    ),
    battery=Battery(
        cell="ER34615 (D)",
        chemistry="Li-SOCl2",
        nominal_mv=3600,
        cutoff_mv=3000,
        capacity_mah=19000,
        cells_parallel=1,
        usable_pct=80,
        self_discharge_pct_per_year=1.0,
        note=_BATTERY_NOTE,
    ),
    wiring={
        "esp32c3-devkitm-1": {
            "i2c": {"id": 0, "sda": 6, "scl": 7, "freq": 400000},
            "uart": {},
            "gpio": {"reed": 0, "accel_int": 1, "sensor_power": 4},
            "onewire": 10,
            "adc": {"battery": 3},
        },
        "pico-w": {
            "i2c": {"id": 0, "sda": 4, "scl": 5, "freq": 400000},
            "uart": {},
            "gpio": {"reed": 14, "accel_int": 15, "sensor_power": 18},
            "onewire": 22,
            "adc": {"battery": 28},
        },
    },
    scenarios=(
        "hydrant.idle",
        "hydrant.illegal_opening",
        "hydrant.pressure_drop",
        "hydrant.water_hammer",
        "hydrant.freezing_night",
        "hydrant.impact",
    ),
    duty={"sample_period_s": 60, "batch_period_s": 900},
)

MANHOLE = Kit(
    name="manhole",
    asset="sewer manhole (under the cover)",
    power="battery",
    link="wifi",
    parts=(_adxl345(), _a02yyuw(), _ze03(), _ds18b20("shaft air")),
    gpio=(
        GpioUse(
            "reed",
            "in",
            "cover_open",
            0,
            "up",
            True,
            True,
            "frame reed (NC, held open by the cover's magnet); closes when the "
            "cover is lifted or displaced",
        ),
        GpioUse(
            "accel_int", "in", None, 1, None, True, True, "ADXL345 INT1 (push-pull, active high)"
        ),
        GpioUse(
            "gas_power",
            "out",
            None,
            1,
            "down",
            False,
            False,
            "load switch (active high, pull-down) of the ZE03's 5 V boost; held on "
            "through the deep sleep of the gas module's warm-up",
            ("gas",),
        ),
        GpioUse(
            "level_power",
            "out",
            None,
            0,
            "up",
            False,
            False,
            "load switch of the A02YYUW, active low with a pull-up (e.g. a P-channel "
            "high-side switch), so that on a strapping pin it idles high; on only for "
            "a level reading",
            ("level",),
        ),
    ),
    battery=Battery(
        cell="ER34615 (D)",
        chemistry="Li-SOCl2",
        nominal_mv=3600,
        cutoff_mv=3000,
        capacity_mah=19000,
        cells_parallel=2,
        usable_pct=80,
        self_discharge_pct_per_year=1.0,
        note=_BATTERY_NOTE + "; two cells in parallel for the gas module's windows",
    ),
    wiring={
        "esp32c3-devkitm-1": {
            "i2c": {"id": 0, "sda": 6, "scl": 7, "freq": 400000},
            "uart": {
                "level": {"id": 1, "tx": None, "rx": 5, "baud": 9600, "shared": True},
                "gas": {"id": 1, "tx": 18, "rx": 19, "baud": 9600, "shared": True},
            },
            "gpio": {"reed": 0, "accel_int": 1, "gas_power": 4, "level_power": 9},
            "onewire": 10,
            "adc": {"battery": 3},
        },
        "pico-w": {
            "i2c": {"id": 0, "sda": 4, "scl": 5, "freq": 400000},
            "uart": {
                "level": {"id": 0, "tx": None, "rx": 1, "baud": 9600},
                "gas": {"id": 1, "tx": 8, "rx": 9, "baud": 9600},
            },
            "gpio": {"reed": 14, "accel_int": 15, "gas_power": 18, "level_power": 19},
            "onewire": 22,
            "adc": {"battery": 28},
        },
    },
    scenarios=(
        "manhole.idle",
        "manhole.rainstorm",
        "manhole.h2s_rising",
        "manhole.cover_lifted",
    ),
    duty={"sample_period_s": 300, "gas_period_s": 900, "batch_period_s": 900},
)

KITS: dict[str, Kit] = {k.name: k for k in (ELEVATOR, HYDRANT, MANHOLE)}


def get_kit(name: str) -> Kit:
    """The kit called ``name``; KeyError names the known kits."""
    try:
        return KITS[name]
    except KeyError:
        raise KeyError(f"unknown kit {name!r} (known: {', '.join(sorted(KITS))})") from None


# --- checks and the board file -------------------------------------------------


def _pins_of(wiring: JsonDict) -> list[tuple[str, int]]:
    used: list[tuple[str, int]] = []
    i2c = wiring.get("i2c")
    if i2c:
        used += [("i2c sda", i2c["sda"]), ("i2c scl", i2c["scl"])]
    for name, u in wiring.get("uart", {}).items():
        for d in ("tx", "rx"):
            if u.get(d) is not None:
                used.append((f"uart {name} {d}", u[d]))
    for role, pin in wiring.get("gpio", {}).items():
        used.append((role, pin))
    if wiring.get("onewire") is not None:
        used.append(("onewire", wiring["onewire"]))
    for name, pin in wiring.get("adc", {}).items():
        used.append((f"adc {name}", pin))
    return used


def check_wiring(kit_name: str, board_name: str) -> list[str]:
    """Everything wrong with a kit's wiring on a board (empty when sound)."""
    kit = get_kit(kit_name)
    board = boards.get_board(board_name)
    w = kit.wiring[board_name]
    problems: list[str] = []
    seen: dict[int, str] = {}
    for what, pin in _pins_of(w):
        if not board.usable(pin):
            problems.append(f"{what}: GPIO{pin} is not usable on {board.name}")
        if pin in seen:
            problems.append(f"{what}: GPIO{pin} already used by {seen[pin]}")
        seen[pin] = what
    for name, pin in w.get("adc", {}).items():
        if pin not in board.adc:
            problems.append(f"adc {name}: GPIO{pin} is not an ADC input")
    uses = {g.role: g for g in kit.gpio}
    for role, pin in w.get("gpio", {}).items():
        g = uses.get(role)
        if g is None:
            problems.append(f"gpio {role}: the kit declares no such pin use")
            continue
        if g.wake and pin not in board.wake:
            problems.append(f"{role}: GPIO{pin} cannot wake {board.mcu} from deep sleep")
        if pin in board.strapping and g.direction == "in" and g.pull == "up":
            problems.append(f"{role}: GPIO{pin} is a strapping pin")
        if pin in board.strapping and g.direction == "out" and (g.active, g.pull) != (0, "up"):
            problems.append(f"{role}: GPIO{pin} is a strapping pin: an output there must idle high")
    for g in kit.gpio:
        if g.role not in w.get("gpio", {}):
            problems.append(f"gpio {g.role}: not wired on {board.name}")
    i2c = w.get("i2c")
    if i2c:
        c = board.controller("i2c", i2c["id"])
        for d in ("sda", "scl"):
            allowed = c.pins.get(d)
            if allowed is not None and i2c[d] not in allowed:
                problems.append(f"i2c {i2c['id']} cannot use GPIO{i2c[d]} as {d}")
    for name, u in w.get("uart", {}).items():
        c = board.controller("uart", u["id"])
        if any(
            board.reserved.get(p, "").startswith(boards.CONSOLE)
            for p in (u.get("tx"), u.get("rx"))
            if p is not None
        ):
            problems.append(f"uart {name}: uses the console's pins")
        if c.id == 0 and board.mcu == "esp32c3":
            problems.append(f"uart {name}: UART0 is the console on {board.name}")
        for d in ("tx", "rx"):
            allowed = c.pins.get(d)
            if u.get(d) is not None and allowed is not None and u[d] not in allowed:
                problems.append(f"uart {name}: UART{u['id']} cannot use GPIO{u[d]} as {d}")
    ids = [u["id"] for u in w.get("uart", {}).values()]
    for name, u in w.get("uart", {}).items():
        if ids.count(u["id"]) > 1 and not u.get("shared"):
            problems.append(f"uart {name}: UART{u['id']} is shared but not marked so")
    needs_onewire = any(p.bus == "onewire" for p in kit.parts)
    if needs_onewire and w.get("onewire") is None:
        problems.append("the kit has a 1-Wire part but no 1-Wire pin")
    if kit.power == "battery" and "battery" not in w.get("adc", {}):
        problems.append("a battery kit needs a battery ADC pin")
    return problems


def board_file(board_name: str, kit_name: str) -> JsonDict:
    """The JSON board file the firmware reads for a kit on a board.

    Keys: ``format``, ``board``, ``mcu``, ``kit``, ``power``, ``link``,
    ``i2c`` (id, sda, scl, freq), ``uart`` (per use: id, tx, rx, baud,
    shared), ``onewire`` (pin or null), ``adc`` (per use: pin, channel,
    divider), ``gpio`` (per role: pin, dir, signal, active level, pull, irq,
    wake, the parts an output powers), ``led`` (pin and kind), ``wake`` (pins that wake the node),
    ``deep_wake`` (how the firmware arms them: see :class:`hardware.boards.Board`),
    ``parts`` (per part: chip, bus, address and the driver facts).
    """
    kit = get_kit(kit_name)
    board = boards.get_board(board_name)
    w = kit.wiring[board_name]
    gpio: JsonDict = {}
    for g in kit.gpio:
        gpio[g.role] = {
            "pin": w["gpio"][g.role],
            "dir": g.direction,
            "signal": g.signal,
            "active": g.active,
            "pull": g.pull,
            "irq": g.irq,
            "wake": g.wake,
            "powers": list(g.powers),
        }
    adc: JsonDict = {}
    for name, pin in w.get("adc", {}).items():
        adc[name] = {
            "pin": pin,
            "channel": board.adc[pin],
            "divider": frontend.BATTERY_DIVIDER if name == "battery" else 1,
            "bits": board.adc_bits,
        }
    uart: JsonDict = {}
    for name, u in w.get("uart", {}).items():
        uart[name] = {
            "id": u["id"],
            "tx": u.get("tx"),
            "rx": u.get("rx"),
            "baud": u.get("baud", 9600),
            "shared": bool(u.get("shared", False)),
        }
    parts: JsonDict = {}
    for p in kit.parts:
        parts[p.key] = {"chip": p.chip, "bus": p.bus, "address": p.address, "facts": p.facts}
    return {
        "format": BOARD_FILE_FORMAT,
        "board": board.name,
        "mcu": board.mcu,
        "kit": kit.name,
        "power": kit.power,
        "link": kit.link,
        "i2c": dict(w["i2c"]),
        "uart": uart,
        "onewire": w.get("onewire"),
        "adc": adc,
        "gpio": gpio,
        "led": {"pin": board.led, "kind": board.led_kind},
        "wake": sorted(v["pin"] for v in gpio.values() if v["wake"]),
        "deep_wake": board.deep_wake,
        "parts": parts,
    }
