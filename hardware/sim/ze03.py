# Winsen ZE03 electrochemical gas module, H2S variant (ZE03-H2S), UART
# 9600 8N1, 9-byte frames starting 0xFF.
#
# Checksum of a frame: (~(byte1 + ... + byte7) + 1) & 0xFF, i.e. the two's
# complement of the sum of bytes 1..7.
#
# Initiative (active upload) mode, the power-on default: every second
#   FF  GAS  UNIT  DEC  CH  CL  FH  FL  CS
# GAS = 0x03 (H2S in Winsen's ZE03 gas-code table - assumption from
# published drivers), UNIT = 0x03 (ppm; as the ZE07 frames), DEC = 0x01
# (one decimal: the value is in 0.1 ppm - assumption), CH:CL the
# concentration and FH:FL the full range (1000 = 100.0 ppm), both in
# 0.1 ppm.
# Commands from the node (answered 20 ms later = the 9.4 ms the 9 bytes take
# on the wire plus processing - assumption):
#   FF 01 78 04 00 00 00 00 83  switch to question/answer mode (no reply)
#   FF 01 78 03 00 00 00 00 84  switch to initiative upload mode (no reply)
#   FF 01 86 00 00 00 00 00 79  read: FF 86 CH CL 00 00 CH CL CS
# In the answer both pairs carry the concentration in 0.1 ppm (assumption:
# the ZE03 manual lists bytes 2-3 and 6-7 as concentration high/low). A read
# is answered in either mode. Frames with a bad checksum or an unknown
# command are ignored; the receiver resynchronises on 0xFF. The mode is not
# kept across a power cycle (back to initiative upload).
#
# Warm-up (assumption, to validate on a real module): for WARMUP_MS after
# power-on the cell's output has not settled and reads low, rising linearly
# from 0 to the true concentration. The module is powered through the
# node's load switch; state()/load() keep its power-on time and mode across
# a deep sleep of the board during which the switch stays on.
#
# Faults: "bad_checksum" (the last byte off by one), "no_answer" (dead
# module: nothing is sent, commands are ignored), "noise" (1-3 garbage
# bytes before each frame), "saturate" (reads full range).

from hardware.sim.uart_device import UartDevice

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hardware.sim.world import World

GAS_H2S = 0x03
UNIT_PPM = 0x03
DECIMALS = 0x01
RESOLUTION_PPB = 100
FULL_RANGE = 1000
PERIOD_MS = 1000
STARTUP_MS = 0
ANSWER_MS = 20
WARMUP_MS = 30000

CMD_QA = bytes((0xFF, 0x01, 0x78, 0x04, 0x00, 0x00, 0x00, 0x00, 0x83))
CMD_ACTIVE = bytes((0xFF, 0x01, 0x78, 0x03, 0x00, 0x00, 0x00, 0x00, 0x84))
CMD_READ = bytes((0xFF, 0x01, 0x86, 0x00, 0x00, 0x00, 0x00, 0x00, 0x79))


def checksum(frame: bytes) -> int:
    s = 0
    for b in frame[1:8]:
        s += b
    return (~s + 1) & 0xFF


def valid(frame: bytes) -> bool:
    return len(frame) == 9 and frame[0] == 0xFF and checksum(frame) == frame[8]


def seal(body: bytes) -> bytes:
    # Append the checksum to the first 8 bytes of a frame.
    return bytes(body[:8]) + bytes((checksum(body),))


class ZE03(UartDevice):
    FAULTS = ("bad_checksum", "no_answer", "noise", "saturate")

    def __init__(self, clock: "Callable[[], int]", world: "World", seed: int = 3) -> None:
        self.qa = False
        self.rx = bytearray()
        self.warmup_ms = WARMUP_MS
        self.powered_at = 0
        UartDevice.__init__(self, clock, world, PERIOD_MS, STARTUP_MS, seed)

    def on_power_up(self, now_ms: int) -> None:
        self.qa = False
        self.rx = bytearray()
        self.powered_at = now_ms

    def state(self) -> "dict[str, Any]":
        return {"on": self.powered, "at": self.powered_at, "qa": self.qa, "next": self.next_ms}

    def load(self, s: "dict[str, Any] | None") -> None:
        if isinstance(s, dict) and s.get("on"):
            self.powered = True
            self.powered_at = s["at"]
            self.qa = s["qa"]
            self.next_ms = s["next"]

    def periodic(self) -> bool:
        return not self.qa

    def concentration(self, t_ms: int) -> int:
        # Concentration in units of 0.1 ppm, clipped at the full range.
        if "saturate" in self.faults:
            return FULL_RANGE
        raw = self.world.h2s_ppb(t_ms) // RESOLUTION_PPB
        if raw < 0:
            return 0
        warm = t_ms - self.powered_at
        if warm < self.warmup_ms:
            raw = raw * max(0, warm) // self.warmup_ms
        return min(raw, FULL_RANGE)

    def _finish(self, body: bytes) -> bytes:
        f = bytearray(seal(body))
        if "bad_checksum" in self.faults:
            f[8] = (f[8] + 1) & 0xFF
        return bytes(f)

    def frame(self, t_ms: int) -> bytes:
        c = self.concentration(t_ms)
        body = bytes(
            (
                0xFF,
                GAS_H2S,
                UNIT_PPM,
                DECIMALS,
                c >> 8,
                c & 0xFF,
                FULL_RANGE >> 8,
                FULL_RANGE & 0xFF,
            )
        )
        return self._finish(body)

    def answer(self, t_ms: int) -> bytes:
        c = self.concentration(t_ms)
        return self._finish(bytes((0xFF, 0x86, c >> 8, c & 0xFF, 0, 0, c >> 8, c & 0xFF)))

    def write(self, data: bytes) -> None:
        if not self.powered or "no_answer" in self.faults:
            return
        now = self.clock()
        self.rx += data
        while True:
            # resynchronise on the start byte
            while self.rx and self.rx[0] != 0xFF:
                self.rx = self.rx[1:]
            if len(self.rx) < 9:
                return
            f = bytes(self.rx[:9])
            if not valid(f):
                self.rx = self.rx[1:]
                continue
            self.rx = self.rx[9:]
            self.command(f, now)

    def command(self, f: bytes, now: int) -> None:
        if f[2] == 0x78:
            if f[3] == 0x04:
                self.qa = True
            elif f[3] == 0x03:
                if self.qa:
                    self.next_ms = now + PERIOD_MS
                self.qa = False
        elif f[2] == 0x86:
            t = now + ANSWER_MS
            self.pending.append((t, self.answer(t)))
