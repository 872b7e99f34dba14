# A simulated 1-Wire bus with the API of MicroPython's `onewire.OneWire`
# (micropython-lib onewire.py over the C `_onewire` module): reset,
# readbit, readbyte, readinto, writebit, writebyte, write, select_rom, scan,
# crc8, and the SEARCH_ROM / MATCH_ROM / SKIP_ROM constants.
#
# Electrical model: the line is open-drain with a pull-up. A read slot and
# a write-1 slot look the same to a device (the master pulls low briefly and
# releases); a write-0 slot holds the line low. So every slot is
# `device.slot(master_bit) -> bit the device leaves on the line` (0 = it
# pulls low, 1 = it releases), and the master reads the wired-AND of all
# devices. A reset pulse calls `device.reset() -> presence` on each device.
# Bytes go least significant bit first.
#
# scan() runs the Maxim search algorithm (application note 187) bit by bit
# over SEARCH ROM, exactly as micropython-lib's OneWire._search_rom does.
#
# Bus fault: "short" (the line is held low: no presence is detected -
# MicroPython's reset() sees no rising edge - and every bit reads 0).

from hardware.sim.errors import FaultMixin, OneWireError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hardware.sim.ds18b20 import DS18B20

SEARCH_ROM = 0xF0
MATCH_ROM = 0x55
SKIP_ROM = 0xCC
READ_ROM = 0x33
ALARM_SEARCH = 0xEC


def crc8(data: bytes) -> int:
    # Dallas/Maxim CRC-8: polynomial x^8 + x^5 + x^4 + 1 (0x31), reflected
    # (0x8C), initial value 0. Over data that ends in its CRC it gives 0.
    crc = 0
    for byte in data:
        b = byte
        for _ in range(8):
            mix = (crc ^ b) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            b >>= 1
    return crc


class OneWire(FaultMixin):
    SEARCH_ROM = SEARCH_ROM
    MATCH_ROM = MATCH_ROM
    SKIP_ROM = SKIP_ROM
    FAULTS = ("short",)

    def __init__(self, pin: object = None) -> None:
        self.pin = pin
        self.devices: list[DS18B20] = []
        self.faults: set[str] = set()
        self.resets = 0

    def attach(self, device: "DS18B20") -> "DS18B20":
        self.devices.append(device)
        return device

    # --- slots ------------------------------------------------------------

    def reset(self, required: bool = False) -> bool:
        self.resets += 1
        presence = False
        for d in self.devices:
            if d.reset():
                presence = True
        if "short" in self.faults:
            presence = False
        if required and not presence:
            raise OneWireError()
        return presence

    def _slot(self, bit: int) -> int:
        line = 1 if bit else 0
        for d in self.devices:
            line &= d.slot(1 if bit else 0)
        if "short" in self.faults:
            line = 0
        return line

    def readbit(self) -> int:
        return self._slot(1)

    def writebit(self, value: int) -> None:
        self._slot(value)

    def readbyte(self) -> int:
        v = 0
        for i in range(8):
            v |= self._slot(1) << i
        return v

    def writebyte(self, value: int) -> None:
        for i in range(8):
            self._slot((value >> i) & 1)

    def readinto(self, buf: bytearray) -> None:
        for i in range(len(buf)):
            buf[i] = self.readbyte()

    def write(self, buf: bytes) -> None:
        for b in buf:
            self.writebyte(b)

    def select_rom(self, rom: bytes) -> None:
        self.reset()
        self.writebyte(MATCH_ROM)
        self.write(rom)

    def crc8(self, data: bytes) -> int:
        return crc8(data)

    # --- search -------------------------------------------------------------

    def scan(self) -> list[bytes]:
        devices: list[bytes] = []
        diff = 65
        rom: bytearray | None = None
        for _ in range(0xFF):
            rom, diff = self._search_rom(rom, diff)
            if rom:
                devices.append(bytes(rom))
            if diff == 0:
                break
        return devices

    def _search_rom(self, last: bytearray | None, diff: int) -> "tuple[bytearray | None, int]":
        # One pass of the search: returns (rom or None, next discrepancy).
        if not self.reset():
            return None, 0
        self.writebyte(SEARCH_ROM)
        if not last:
            last = bytearray(8)
        rom = bytearray(8)
        next_diff = 0
        i = 64
        for byte in range(8):
            r = 0
            for bit in range(8):
                b = self.readbit()
                if self.readbit():
                    if b:  # no device answered: none left, or a bus error
                        return None, 0
                elif not b and (diff > i or ((last[byte] & (1 << bit)) and diff != i)):
                    # discrepancy (devices differ here): take the 1 branch
                    # below the last one taken, or again where it was taken
                    b = 1
                    next_diff = i
                self.writebit(b)
                if b:
                    r |= 1 << bit
                i -= 1
            rom[byte] = r
        return rom, next_diff
