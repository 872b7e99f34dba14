# Stub devices for the HAL tests (MicroPython), standing in for the chip
# simulators of hardware/sim: the registry interface is all they share.
from hardware.hal import registry


class EchoDevice:
    # A UART device that answers each line it receives with the line in upper
    # case, and sends b"tick\n" every `period` ms when period is given.
    def __init__(self, period=None):
        self.period = period
        self.buf = b""
        self.out = b""
        self.received = 0
        self.next = None if period is None else period

    def write(self, data):
        self.received += len(data)
        self.buf += data
        while b"\n" in self.buf:
            line, _sep, self.buf = self.buf.partition(b"\n")
            self.out += line.upper() + b"\n"

    def poll(self, now):
        out = self.out
        self.out = b""
        if self.next is not None and now >= self.next:
            out += b"tick\n"
            self.next = now + self.period
        return out

    def next_ms(self, now):
        return self.next


class RegisterBus:
    # An I2C bus with one device of byte registers at `addr`.
    def __init__(self, addr=0x53, regs=None):
        self.addr = addr
        self.regs = bytearray(256)
        for k in regs or {}:
            self.regs[int(k)] = regs[k]
        self.ptr = 0

    def scan(self):
        return [self.addr]

    def writeto(self, addr, buf, stop=True):
        if addr != self.addr:
            raise OSError(19)
        if len(buf):
            self.ptr = buf[0]
            for i in range(1, len(buf)):
                self.regs[(self.ptr + i - 1) & 0xFF] = buf[i]
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        if addr != self.addr:
            raise OSError(19)
        for i in range(len(buf)):
            buf[i] = self.regs[(self.ptr + i) & 0xFF]


def setup_echo(reg, cfg):
    # Config "setup" hook: UART 1 -> EchoDevice, I2C 0 -> RegisterBus with
    # DEVID 0xE5, ADC 3 -> 1.5 V.
    reg.attach_uart(1, EchoDevice())
    reg.attach_i2c(0, RegisterBus(0x53, {0: 0xE5}))
    reg.attach_adc(3, 1500000)


def door_schedule(initial=0, changes=()):
    return registry.Schedule(initial, [tuple(c) for c in changes])
