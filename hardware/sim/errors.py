# Errors raised the way MicroPython's machine and onewire modules raise them.
#
# machine.I2C raises OSError(errno) with a bare errno: ENODEV (19) when the
# address is not acknowledged, EIO (5) when a transfer fails part-way,
# ETIMEDOUT (110) when the bus is stuck (SCL or SDA held low). Under CPython
# OSError(19) has errno None, so there the strerror is added: e.args[0] and
# e.errno both give the code in either runtime.

import sys

EIO = 5
ENODEV = 19
ETIMEDOUT = 110

_NAMES = {EIO: "EIO", ENODEV: "ENODEV", ETIMEDOUT: "ETIMEDOUT"}
_MICROPYTHON = sys.implementation.name == "micropython"


def oserror(code: int) -> OSError:
    if _MICROPYTHON:
        return OSError(code)
    return OSError(code, _NAMES.get(code, "error"))


class OneWireError(OSError):
    # Raised by OneWire.reset(required=True) when no device answers, like
    # micropython-lib's onewire.OneWireError (an Exception subclass there).
    pass


def check_fault(name: str, supported: tuple[str, ...]) -> None:
    if name not in supported:
        raise ValueError("unknown fault %r (supported: %s)" % (name, ", ".join(supported)))


class FaultMixin:
    # Faults are a plain set of names, switchable at run time; set_fault()
    # validates the name against the chip's FAULTS tuple.
    FAULTS: tuple[str, ...] = ()
    faults: set[str]

    def set_fault(self, name: str, on: bool = True) -> None:
        check_fault(name, self.FAULTS)
        if on:
            self.faults.add(name)
        else:
            self.faults.discard(name)
