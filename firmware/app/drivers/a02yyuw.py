# A02YYUW ultrasonic distance sensor on a UART (9600 8N1). It sends frames
# FF H L SUM with SUM = (0xFF + H + L) & 0xFF and the distance H*256+L in mm.
# feed() parses whatever bytes arrived (frames may be split or mixed with
# noise) and keeps the latest good distance.

from firmware.app.compat import const

_HEAD = const(0xFF)
MIN_MM = 30
MAX_MM = 4500


class A02YYUW:
    def __init__(self, uart):
        self.uart = uart
        self.buf = bytearray(32)
        self.frame = bytearray(4)
        self.have = 0
        self.distance_mm = -1
        self.frames = 0
        self.bad_checksums = 0
        self.out_of_range = 0
        self.garbage = 0  # bytes outside any frame (line noise)

    # Reads what the UART holds and parses it; returns the latest distance in
    # mm, or -1 when none has been seen.
    def poll(self):
        while True:
            n = self.uart.readinto(self.buf)
            if not n:
                return self.distance_mm
            self.feed(self.buf, n)

    def feed(self, data, n):
        f = self.frame
        for i in range(n):
            b = data[i]
            if self.have == 0:
                if b == _HEAD:
                    f[0] = b
                    self.have = 1
                else:
                    self.garbage += 1
                continue
            f[self.have] = b
            self.have += 1
            if self.have == 4:
                self.have = 0
                if (f[0] + f[1] + f[2]) & 0xFF != f[3]:
                    self.bad_checksums += 1
                    # the next frame may start inside this one
                    if f[1] == _HEAD:
                        f[0] = _HEAD
                        f[1] = f[2]
                        f[2] = f[3]
                        self.have = 3
                    continue
                mm = (f[1] << 8) | f[2]
                self.frames += 1
                if mm < MIN_MM or mm > MAX_MM:
                    self.out_of_range += 1
                    continue
                self.distance_mm = mm
