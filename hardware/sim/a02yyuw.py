# DFRobot A02YYUW waterproof ultrasonic distance sensor, UART 9600 8N1,
# 3.3-5 V, output only on its TX line.
#
# Frame: 0xFF, Data_H, Data_L, SUM with SUM = (0xFF + Data_H + Data_L) & 0xFF
# and distance = Data_H * 256 + Data_L in millimetres.
# Range 30..4500 mm. Assumptions where the vendor says nothing:
#   - inside the 30 mm blind zone (water at or above the sensor) the frame
#     carries 0; beyond 4500 mm or with no echo it carries 0 too: drivers
#     must treat anything outside 30..4500 as "no valid reading";
#   - a frame every 100 ms from 300 ms after power-up.
# The module's RX pin selects the output: high or floating = "processed"
# value (filtered, steadier, 100-300 ms response), low = "real-time" value
# (100 ms). Simplification: both emit every 100 ms with the world's
# distance; set_rx_level() only records the mode. Bytes written by the node
# are ignored (write()).
#
# Faults: "bad_checksum" (SUM off by one), "silence" (disconnected: nothing
# comes out), "noise" (1-3 garbage bytes before each frame, xorshift32),
# "out_of_range" (frames carry 10000 mm, beyond the sensor's range).

from hardware.sim.uart_device import UartDevice

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from hardware.sim.world import World

MIN_MM = 30
MAX_MM = 4500
PERIOD_MS = 100
STARTUP_MS = 300
OUT_OF_RANGE_MM = 10000


def checksum(h: int, low: int) -> int:
    return (0xFF + h + low) & 0xFF


def encode(mm: int) -> bytes:
    h = (mm >> 8) & 0xFF
    low = mm & 0xFF
    return bytes((0xFF, h, low, checksum(h, low)))


class A02YYUW(UartDevice):
    FAULTS = ("bad_checksum", "silence", "noise", "out_of_range")

    def __init__(self, clock: "Callable[[], int]", world: "World", seed: int = 2) -> None:
        self.processed = True
        UartDevice.__init__(self, clock, world, PERIOD_MS, STARTUP_MS, seed)

    def set_rx_level(self, level: int) -> None:
        # RX high/floating: processed output; low: real-time output.
        self.processed = bool(level)

    def reading(self, t_ms: int) -> int:
        mm = self.world.distance_mm(t_ms)
        if mm < MIN_MM or mm > MAX_MM:
            return 0
        return mm

    def frame(self, t_ms: int) -> bytes:
        mm = OUT_OF_RANGE_MM if "out_of_range" in self.faults else self.reading(t_ms)
        f = bytearray(encode(mm))
        if "bad_checksum" in self.faults:
            f[3] = (f[3] + 1) & 0xFF
        return bytes(f)
