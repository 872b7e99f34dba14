"""The REPL over a serial port (pyserial): USB-serial bridges, USB CDC, ptys."""

from __future__ import annotations

import contextlib
import errno
import os
import stat

import serial
import serial.tools.list_ports

from fleet.transport.base import (
    Disconnected,
    PortBusy,
    PortDenied,
    PortNotFound,
    Transport,
    TransportError,
)

DEFAULT_BAUD = 115200


def list_ports() -> list[str]:
    """Serial ports the system knows (for error messages)."""
    try:
        return sorted(p.device for p in serial.tools.list_ports.comports())
    except (OSError, ValueError):
        return []


def _not_found(port: str) -> PortNotFound:
    seen = list_ports()
    where = f"ports seen: {', '.join(seen)}" if seen else "no serial ports are connected"
    return PortNotFound(
        port,
        f"no such port ({where})",
        "plug the USB cable into the board and the laptop (a charge-only cable carries no "
        "data), wait a second and retry; pass the right --port",
    )


class SerialTransport(Transport):
    """A board's REPL on a serial port, opened exclusively."""

    def __init__(self, port: str, baudrate: int = DEFAULT_BAUD, *, exclusive: bool = True) -> None:
        super().__init__(port)
        self.baudrate = baudrate
        if not port:
            raise _not_found(port)
        try:
            st = os.stat(port)
        except FileNotFoundError:
            raise _not_found(port) from None
        except PermissionError:
            raise self._denied() from None
        except OSError as e:
            raise TransportError(port, f"cannot open: {e.strerror}") from None
        if not stat.S_ISCHR(st.st_mode):
            raise TransportError(
                port,
                "not a serial port (not a character device)",
                "pass the board's serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0",
            )
        try:
            self._ser = serial.Serial(
                port, baudrate, timeout=0.05, write_timeout=5, exclusive=exclusive
            )
        except serial.SerialException as e:
            raise self._open_error(e) from None
        except OSError as e:  # pyserial lets some through
            raise self._open_error(serial.SerialException(e.errno, str(e))) from None

    def _denied(self) -> PortDenied:
        return PortDenied(
            self.device,
            "permission denied",
            "add your user to the dialout group (sudo usermod -aG dialout $USER) and log in "
            "again, or ask for access to the port",
        )

    def _open_error(self, e: serial.SerialException) -> TransportError:
        code = e.errno
        text = str(e)
        if code == errno.ENOENT:
            return _not_found(self.device)
        if code in (errno.EACCES, errno.EPERM):
            return self._denied()
        if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "lock" in text.lower():
            return PortBusy(
                self.device,
                "the port is busy: another program has it open",
                "close the other program using it (screen, minicom, Thonny, mpremote, another "
                "fleet flash) and retry",
            )
        return TransportError(self.device, f"cannot open the port: {text}")

    def _lost(self, e: Exception) -> Disconnected:
        return Disconnected(
            self.device,
            f"the device disconnected ({e})",
            "the cable was pulled or the board reset: plug it in again and rerun the same "
            "command; it resumes safely",
        )

    def write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
        except (serial.SerialException, OSError) as e:
            raise self._lost(e) from None

    def read_some(self, timeout: float) -> bytes:
        try:
            if timeout <= 0:
                n = self._ser.in_waiting
                return bytes(self._ser.read(n)) if n else b""
            if self._ser.timeout != timeout:
                self._ser.timeout = timeout  # reconfigures the port: only on a change
            first = bytes(self._ser.read(1))
            if not first:
                return b""
            n = self._ser.in_waiting
            return first + (bytes(self._ser.read(n)) if n else b"")
        except (serial.SerialException, OSError, TypeError) as e:
            # TypeError: pyserial's read on a closed port
            raise self._lost(e) from None

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._ser.close()
