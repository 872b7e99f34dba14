# DS18B20 1-Wire digital thermometer (Maxim/Analog Devices), externally
# powered, as a bit-level state machine on hardware.sim.onewire.OneWire.
#
# ROM code: family 0x28, 48-bit serial (least significant byte first), CRC8.
# ROM commands: SEARCH ROM 0xF0 (bit, complement, then the master's choice),
# ALARM SEARCH 0xEC (only while the alarm flag is set), READ ROM 0x33,
# MATCH ROM 0x55, SKIP ROM 0xCC.
# Function commands:
#   CONVERT T 0x44     takes 93.75/187.5/375/750 ms at 9/10/11/12 bits from
#                      the clock; read slots return 0 while converting, 1 when
#                      done; the scratchpad is updated only at completion, so
#                      reading early returns the previous value
#   READ SCRATCHPAD 0xBE  9 bytes: T LSB, T MSB, TH, TL, config, 0xFF,
#                      0x0C, 0x10, CRC8 of bytes 0-7; then 1s
#   WRITE SCRATCHPAD 0x4E 3 bytes TH, TL, config (bits 6:5 = resolution
#                      9..12 bits; the other config bits read 0 (bit 7) and 1)
#   COPY SCRATCHPAD 0x48 / RECALL E2 0xB8  TH, TL, config to/from EEPROM
#   READ POWER SUPPLY 0xB4  read slots return 1 (external supply)
# Power-on scratchpad: 85.000 C (0x0550), TH 0x4B, TL 0x46, config 0x7F
# (12-bit), from EEPROM.
#
# Temperature: world.temperature(t_ms) in milli-degC at the end of the
# conversion, rounded to 1/16 C, clipped to the part's -55..+125 C range;
# at 9-11 bits the undefined low bits read 0 (assumption: the datasheet
# calls them undefined). Byte 6 (0x0C) is a reserved byte; real parts vary.
#
# Faults: "disconnected" (no presence pulse, every slot reads 1),
# "bad_crc" (bit 0 of the scratchpad CRC byte flipped), "stuck85"
# (conversions complete but leave 85.000 C, the power-on value: the classic
# symptom of a brown-out during conversion), "noise" (+-noise_mc on every
# conversion, from xorshift32).

from hardware.sim.errors import FaultMixin
from hardware.sim.onewire import crc8
from hardware.sim.xorshift import XorShift32

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from hardware.sim.world import World

FAMILY = 0x28
CONVERT_T = 0x44
READ_SCRATCHPAD = 0xBE
WRITE_SCRATCHPAD = 0x4E
COPY_SCRATCHPAD = 0x48
RECALL_E2 = 0xB8
READ_POWER_SUPPLY = 0xB4
POWER_ON_RAW = 0x0550

# Conversion time in microseconds per resolution code (config bits 6:5).
CONVERSION_US = (93750, 187500, 375000, 750000)

# States of the slot machine.
_IDLE = 0  # not selected: ignores slots until the next reset
_ROM_CMD = 1  # receiving the ROM command byte
_MATCH = 2  # receiving 64 ROM bits
_SEARCH = 3  # search: send bit, send complement, receive choice
_FUNC_CMD = 4  # receiving the function command byte
_SEND = 5  # sending self.out bits, then 1s
_RECV = 6  # receiving self.want bytes for WRITE SCRATCHPAD
_BUSY = 7  # converting: read slots give 0 until done
_ONES = 8  # releasing the line (e.g. after READ POWER SUPPLY)


def make_rom(serial: int, family: int = FAMILY) -> bytes:
    # 64-bit ROM code: family, 6 serial bytes LSB first, CRC8 of the seven.
    body = bytes([family] + [(serial >> (8 * i)) & 0xFF for i in range(6)])
    return body + bytes((crc8(body),))


def raw_from_mc(mc: int, resolution_code: int = 3) -> int:
    # Milli-degC to the 16-bit register value (1/16 C per LSB), clipped to
    # -55..+125 C, low bits cleared below 12-bit resolution.
    raw = (mc * 16 * 2 + 1000) // 2000
    if raw > 2000:
        raw = 2000
    elif raw < -880:
        raw = -880
    raw &= ~((1 << (3 - resolution_code)) - 1)
    return raw & 0xFFFF


class DS18B20(FaultMixin):
    FAULTS = ("disconnected", "bad_crc", "stuck85", "noise")

    def __init__(
        self,
        clock: "Callable[[], int]",
        world: "World",
        serial: int = 1,
        probe: int = 0,
        seed: int = 18,
    ) -> None:
        self.clock = clock
        self.world = world
        self.rom = make_rom(serial)
        self.probe = probe
        self.faults: set[str] = set()
        self.rng = XorShift32(seed)
        self.noise_mc = 500
        self.eeprom = bytearray((0x4B, 0x46, 0x7F))
        self.raw = POWER_ON_RAW
        self.th = self.eeprom[0]
        self.tl = self.eeprom[1]
        self.config = self.eeprom[2]
        self.conv_end_us = -1
        self.conversions = 0
        self.state = _IDLE
        self._clear()

    def _clear(self) -> None:
        self.acc = 0
        self.nbits = 0
        self.out = b""
        self.opos = 0
        self.phase = 0
        self.want = 0
        self.got = bytearray()

    # --- temperature ------------------------------------------------------

    def resolution_code(self) -> int:
        return (self.config >> 5) & 3

    def _finish(self) -> None:
        # Complete a running conversion whose time has come.
        if self.conv_end_us < 0 or self.clock() * 1000 < self.conv_end_us:
            return
        end_ms = self.conv_end_us // 1000
        self.conv_end_us = -1
        self.conversions += 1
        if "stuck85" in self.faults:
            self.raw = POWER_ON_RAW
            return
        mc = self.world.temperature(end_ms, self.probe)
        if "noise" in self.faults:
            mc += self.rng.signed(self.noise_mc)
        self.raw = raw_from_mc(mc, self.resolution_code())

    def alarm(self) -> bool:
        t = self.raw - 65536 if self.raw & 0x8000 else self.raw
        t >>= 4
        th = self.th - 256 if self.th & 0x80 else self.th
        tl = self.tl - 256 if self.tl & 0x80 else self.tl
        return t >= th or t <= tl

    def scratchpad(self) -> bytes:
        self._finish()
        body = bytes(
            (self.raw & 0xFF, self.raw >> 8, self.th, self.tl, self.config, 0xFF, 0x0C, 0x10)
        )
        crc = crc8(body)
        if "bad_crc" in self.faults:
            crc ^= 0x01
        return body + bytes((crc,))

    # --- 1-Wire slots ---------------------------------------------------------

    def reset(self) -> bool:
        self._finish()
        if "disconnected" in self.faults:
            self.state = _IDLE
            return False
        self.state = _ROM_CMD
        self._clear()
        return True

    def _rom_bit(self, i: int) -> int:
        return (self.rom[i >> 3] >> (i & 7)) & 1

    def slot(self, bit: int) -> int:
        if "disconnected" in self.faults:
            return 1
        st = self.state
        if st in (_IDLE, _ONES):
            return 1
        if st == _SEND:
            if self.opos >= len(self.out) * 8:
                return 1
            v = (self.out[self.opos >> 3] >> (self.opos & 7)) & 1
            self.opos += 1
            return v
        if st == _BUSY:
            self._finish()
            return 0 if self.conv_end_us >= 0 else 1
        if st == _SEARCH:
            i = self.nbits
            mine = self._rom_bit(i)
            if self.phase == 0:
                self.phase = 1
                return mine
            if self.phase == 1:
                self.phase = 2
                return mine ^ 1
            # phase 2: the master's choice; a device that differs drops out
            self.phase = 0
            if bit != mine:
                self.state = _IDLE
            else:
                self.nbits += 1
                if self.nbits == 64:
                    self.state = _FUNC_CMD
                    self.acc = 0
                    self.nbits = 0
            return 1
        if st == _MATCH:
            if bit != self._rom_bit(self.nbits):
                self.state = _IDLE
                return 1
            self.nbits += 1
            if self.nbits == 64:
                self.state = _FUNC_CMD
                self.nbits = 0
                self.acc = 0
            return 1
        # byte receivers: _ROM_CMD, _FUNC_CMD, _RECV
        self.acc |= (1 if bit else 0) << self.nbits
        self.nbits += 1
        if self.nbits == 8:
            b = self.acc
            self.acc = 0
            self.nbits = 0
            if st == _ROM_CMD:
                self._rom_command(b)
            elif st == _FUNC_CMD:
                self._function(b)
            else:
                self._received(b)
        return 1

    def _rom_command(self, cmd: int) -> None:
        if cmd == 0xF0 or (cmd == 0xEC and self.alarm()):
            self.state = _SEARCH
            self.phase = 0
        elif cmd == 0x55:
            self.state = _MATCH
        elif cmd == 0xCC:
            self.state = _FUNC_CMD
        elif cmd == 0x33:
            self.state = _SEND
            self.out = self.rom
            self.opos = 0
        else:
            self.state = _IDLE

    def _function(self, cmd: int) -> None:
        if cmd == CONVERT_T:
            self._finish()
            self.conv_end_us = self.clock() * 1000 + CONVERSION_US[self.resolution_code()]
            self.state = _BUSY
        elif cmd == READ_SCRATCHPAD:
            self.state = _SEND
            self.out = self.scratchpad()
            self.opos = 0
        elif cmd == WRITE_SCRATCHPAD:
            self.state = _RECV
            self.want = 3
            self.got = bytearray()
        elif cmd == COPY_SCRATCHPAD:
            self.eeprom = bytearray((self.th, self.tl, self.config))
            self.state = _ONES
        elif cmd == RECALL_E2:
            self.th, self.tl, self.config = self.eeprom[0], self.eeprom[1], self.eeprom[2]
            self.state = _ONES
        elif cmd == READ_POWER_SUPPLY:
            self.state = _ONES
        else:
            self.state = _IDLE

    def _received(self, b: int) -> None:
        self.got.append(b)
        if len(self.got) >= self.want:
            self.th = self.got[0]
            self.tl = self.got[1]
            self.config = (self.got[2] & 0x60) | 0x1F
            self.state = _IDLE
