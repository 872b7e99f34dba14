# DS18B20 temperature sensor on a 1-Wire bus (a MicroPython onewire.OneWire or
# an object with the same methods). One sensor per bus: SKIP ROM addressing.
# A conversion takes 750 ms at 12 bits; read() returns centi-degrees C.

from firmware.app.compat import const
from firmware.app.drivers.crc import crc8_maxim
from firmware.app.drivers.fault import SensorFault

_SKIP_ROM = const(0xCC)
_CONVERT_T = const(0x44)
_READ_SCRATCHPAD = const(0xBE)
_FAMILY = const(0x28)
_POWER_ON_RAW = const(0x0550)  # 85.0 degC: the reset value, not a measurement
CONVERSION_MS = 750


class DS18B20:
    def __init__(self, ow):
        self.ow = ow
        self.scratch = bytearray(9)
        self.converted = False

    def _reset(self):
        try:
            present = self.ow.reset()
        except OSError:
            present = False
        if not present:
            raise SensorFault("ds18b20", "no presence pulse (disconnected)")

    # Checks that a DS18B20 (family 0x28) answers on the bus.
    def start(self):
        self._reset()
        try:
            roms = self.ow.scan()
        except OSError as e:
            raise SensorFault("ds18b20", "ROM search failed: %s" % e) from None
        if not roms:
            raise SensorFault("ds18b20", "no device found by ROM search")
        rom = roms[0]
        if rom[0] != _FAMILY or crc8_maxim(rom, 7) != rom[7]:
            raise SensorFault("ds18b20", "ROM %s is not a DS18B20" % bytes(rom).hex())

    # Starts a conversion; read() may follow CONVERSION_MS later.
    def convert(self):
        self._reset()
        self.ow.writebyte(_SKIP_ROM)
        self.ow.writebyte(_CONVERT_T)
        self.converted = True

    # The last conversion in centi-degrees C.
    def read(self):
        self._reset()
        self.ow.writebyte(_SKIP_ROM)
        self.ow.writebyte(_READ_SCRATCHPAD)
        self.ow.readinto(self.scratch)
        s = self.scratch
        if crc8_maxim(s, 8) != s[8]:
            raise SensorFault("ds18b20", "scratchpad CRC mismatch")
        raw = s[0] | (s[1] << 8)
        if raw & 0x8000:
            raw -= 0x10000
        if raw == _POWER_ON_RAW and not self.converted:
            raise SensorFault("ds18b20", "reads the 85 C power-on value: no conversion")
        # 1/16 degC per LSB -> 1/100 degC, rounded toward minus infinity
        return raw * 25 // 4
