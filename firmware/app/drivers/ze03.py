# Winsen ZE03 electrochemical gas module (H2S) on a UART (9600 8N1), used in
# question/answer mode: the node sends a read request and the module answers
# with a 9-byte frame FF 86 HH LL .. .. .. .. CS where the concentration is
# HH*256+LL in units of the module's resolution. CS = (~sum(bytes 1..7) + 1)
# & 0xFF.

from firmware.app.compat import const, sleep_ms
from firmware.app.drivers.fault import SensorFault

SET_QA_MODE = b"\xff\x01\x78\x04\x00\x00\x00\x00\x83"
READ = b"\xff\x01\x86\x00\x00\x00\x00\x00\x79"
_ANSWER = const(0x86)


def checksum(frame):
    total = 0
    for i in range(1, 8):
        total += frame[i]
    return (~total + 1) & 0xFF


class ZE03:
    # resolution_ppb: ppb per count (H2S modules: 10 ppb, i.e. 0.01 ppm)
    def __init__(self, uart, resolution_ppb=10):
        self.uart = uart
        self.resolution_ppb = resolution_ppb
        self.answer = bytearray(9)
        self.scratch = bytearray(16)
        self.garbage = 0  # bytes before an answer's start byte (line noise)

    def _drain(self):
        while self.uart.readinto(self.scratch):
            pass

    def start(self):
        self._drain()
        self.uart.write(SET_QA_MODE)
        sleep_ms(50)
        self._drain()

    # One question/answer round trip; returns the concentration in ppb.
    def read_ppb(self, wait_ms=100):
        self._drain()
        self.uart.write(READ)
        got = 0
        a = self.answer
        for _ in range(10):
            sleep_ms(wait_ms // 10 + 1)
            n = self.uart.readinto(self.scratch)
            for i in range(n or 0):
                b = self.scratch[i]
                if got == 0 and b != 0xFF:
                    self.garbage += 1
                    continue
                a[got] = b
                got += 1
                if got == 9:
                    break
            if got == 9:
                break
        if got < 9:
            raise SensorFault("ze03", "no answer (%d of 9 bytes)" % got)
        if a[1] != _ANSWER:
            raise SensorFault("ze03", "unexpected answer 0x%02x" % a[1])
        if checksum(a) != a[8]:
            raise SensorFault("ze03", "answer checksum mismatch")
        return ((a[2] << 8) | a[3]) * self.resolution_ppb
