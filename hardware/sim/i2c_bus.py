# A simulated I2C bus with the methods of MicroPython's machine.I2C that
# the drivers use. Devices attach by 7-bit address and see transactions:
#
#   dev.i2c_write(data)   one write phase (the bytes after the address byte)
#   dev.i2c_read(n)       one read phase of n bytes
#   dev.general_call(data) optional: a write to address 0 (e.g. 0x06 reset)
#
# and carry a `faults` set. The bus raises what machine.I2C raises:
#   - "nack" on the addressed device: OSError(19) ENODEV (address not acked);
#   - "eio": the address is acked but a data byte is not: OSError(5) EIO;
#   - "stuck" on ANY attached device (it holds SDA low) or on the bus itself:
#     every transfer raises OSError(110) ETIMEDOUT.
# scan() skips addresses that NACK and returns [] on a stuck bus, as
# MicroPython's scan() ignores transfer errors.
#
# Register-pointer semantics belong to each device: readfrom_mem(addr, mem,
# n) is a write phase carrying `mem` (no stop) then a read phase of n bytes.
#
# `trace`, when a list, records every transfer as a tuple
# ("w"|"r", addr, hex bytes) or ("e", addr, errno): a byte trace that tests
# compare across runtimes.

import binascii

from hardware.sim.errors import EIO, ENODEV, ETIMEDOUT, FaultMixin, oserror

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hardware.sim.device import I2CDevice


class SimI2CBus(FaultMixin):
    FAULTS = ("stuck",)

    def __init__(self, bus_id: int = 0, freq: int = 400000) -> None:
        self.bus_id = bus_id
        self.freq = freq
        self.devices: dict[int, I2CDevice] = {}
        self.faults: set[str] = set()
        self.trace: list[tuple[str, int, object]] | None = None
        self.transfers = 0

    # --- wiring -----------------------------------------------------------

    def attach(self, device: "I2CDevice", addr: int | None = None) -> "I2CDevice":
        a = device.addr if addr is None else addr
        if a < 0 or a > 0x7F:
            raise ValueError("bad I2C address")
        if a in self.devices:
            raise ValueError("address 0x%02x already in use" % a)
        device.addr = a
        self.devices[a] = device
        return device

    def detach(self, addr: int) -> None:
        self.devices.pop(addr, None)

    # --- machine.I2C API --------------------------------------------------

    def init(self, *args: object, **kwargs: object) -> None:
        f = kwargs.get("freq")
        if isinstance(f, int):
            self.freq = f

    def deinit(self) -> None:
        pass

    def scan(self) -> list[int]:
        if self._stuck():
            return []
        found = []
        for a in range(0x08, 0x78):
            d = self.devices.get(a)
            if d is not None and "nack" not in d.faults:
                found.append(a)
        return found

    def writeto(self, addr: int, buf: bytes, stop: bool = True) -> int:
        data = bytes(buf)
        if addr == 0:
            return self._general_call(data)
        d = self._begin(addr)
        if "eio" in d.faults:
            self._fail(addr, EIO)
        d.i2c_write(data)
        self._log("w", addr, data)
        # machine.I2C.writeto returns the number of ACKs: address + each byte.
        return len(data) + 1 if data else 1

    def writevto(self, addr: int, vector: list[bytes], stop: bool = True) -> int:
        data = b"".join(bytes(v) for v in vector)
        return self.writeto(addr, data, stop)

    def readfrom_into(self, addr: int, buf: bytearray, stop: bool = True) -> None:
        d = self._begin(addr)
        if "eio" in d.faults:
            self._fail(addr, EIO)
        data = d.i2c_read(len(buf))
        buf[:] = data
        self._log("r", addr, data)

    def readfrom(self, addr: int, nbytes: int, stop: bool = True) -> bytes:
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf, stop)
        return bytes(buf)

    def readfrom_mem_into(self, addr: int, memaddr: int, buf: bytearray, addrsize: int = 8) -> None:
        d = self._begin(addr)
        if "eio" in d.faults:
            self._fail(addr, EIO)
        mem = _memaddr(memaddr, addrsize)
        d.i2c_write(mem)
        self._log("w", addr, mem)
        data = d.i2c_read(len(buf))
        buf[:] = data
        self._log("r", addr, data)

    def readfrom_mem(self, addr: int, memaddr: int, nbytes: int, addrsize: int = 8) -> bytes:
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf, addrsize)
        return bytes(buf)

    def writeto_mem(self, addr: int, memaddr: int, buf: bytes, addrsize: int = 8) -> None:
        d = self._begin(addr)
        if "eio" in d.faults:
            self._fail(addr, EIO)
        data = _memaddr(memaddr, addrsize) + bytes(buf)
        d.i2c_write(data)
        self._log("w", addr, data)

    # --- internals ----------------------------------------------------------

    def _stuck(self) -> bool:
        if "stuck" in self.faults:
            return True
        return any("stuck" in d.faults for d in self.devices.values())

    def _begin(self, addr: int) -> "I2CDevice":
        self.transfers += 1
        if self._stuck():
            self._fail(addr, ETIMEDOUT)
        d = self.devices.get(addr)
        if d is None or "nack" in d.faults:
            self._fail(addr, ENODEV)
        return d  # type: ignore[return-value]

    def _general_call(self, data: bytes) -> int:
        self.transfers += 1
        if self._stuck():
            self._fail(0, ETIMEDOUT)
        acked = False
        for d in self.devices.values():
            handler = getattr(d, "general_call", None)
            if handler is not None and "nack" not in d.faults:
                handler(data)
                acked = True
        if not acked:
            self._fail(0, ENODEV)
        self._log("w", 0, data)
        return len(data) + 1

    def _fail(self, addr: int, code: int) -> None:
        if self.trace is not None:
            self.trace.append(("e", addr, code))
        raise oserror(code)

    def _log(self, kind: str, addr: int, data: bytes) -> None:
        if self.trace is not None:
            self.trace.append((kind, addr, binascii.hexlify(data).decode()))


def _memaddr(memaddr: int, addrsize: int) -> bytes:
    if addrsize == 8:
        return bytes((memaddr & 0xFF,))
    if addrsize == 16:
        return bytes(((memaddr >> 8) & 0xFF, memaddr & 0xFF))
    raise ValueError("addrsize must be 8 or 16")
