"""The MicroPython REPL protocol over any byte stream (after mpremote's transport).

:class:`Transport` implements the REPL the way ``mpremote`` drives a board:
interrupt the running program with Ctrl-C, enter the raw REPL with Ctrl-A,
send code in raw-paste mode (Ctrl-E ``A`` Ctrl-A, answered ``R\\x01``, then
flow-controlled by the board's window: ``\\x01`` grants another window,
``\\x04`` ends), falling back to the plain raw REPL (code then Ctrl-D) on a
board without raw-paste, and read the output and the error output, each ended by
``\\x04``. Subclasses provide the bytes: :class:`~fleet.transport.serial_transport.SerialTransport`
over pyserial.

Every error is a :class:`TransportError` whose message starts with the device
(port) name and whose ``hint`` says what to do.
"""

from __future__ import annotations

import ast
import re
import struct
import time
from abc import ABC, abstractmethod
from typing import Any

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
RAW_PROMPT = RAW_BANNER + b">"
FRIENDLY_PROMPT = b">>> "
SOFT_REBOOT = b"soft reboot\r\n"


class TransportError(Exception):
    """Talking to the device failed; ``str()`` names the device and says what to do."""

    def __init__(self, device: str, message: str, hint: str = "") -> None:
        super().__init__(f"{device}: {message}")
        self.device = device
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.device}: {self.message}"
        return f"{text}\n  what to do: {self.hint}" if self.hint else text


class PortNotFound(TransportError):
    """No such port."""


class PortBusy(TransportError):
    """Another program holds the port."""


class PortDenied(TransportError):
    """No permission to open the port."""


class NoRepl(TransportError):
    """Nothing answered like a MicroPython REPL (silence or garbage)."""


class Disconnected(TransportError):
    """The port went away (cable pulled, board re-enumerated)."""


class DeviceTimeout(TransportError):
    """The device stopped answering in the middle of a command."""


class DeviceError(TransportError):
    """Code run on the device raised; ``exception`` is its last traceback line."""

    def __init__(self, device: str, traceback: str) -> None:
        lines = [ln for ln in traceback.strip().splitlines() if ln.strip()]
        self.traceback = traceback
        self.exception = lines[-1].strip() if lines else "unknown error"
        super().__init__(device, f"the device raised {self.exception}")
        self.errno = _errno(self.exception)


_ERRNO = re.compile(r"OSError: (?:\[Errno (\d+)\]|(\d+)\b)")


def _errno(line: str) -> int | None:
    m = _ERRNO.search(line)
    if m is None:
        return None
    return int(m.group(1) or m.group(2))


def _sample(data: bytes, limit: int = 60) -> str:
    return repr(data[-limit:]) if len(data) > limit else repr(data)


class Transport(ABC):
    """The REPL protocol over the byte I/O a subclass provides."""

    device: str

    def __init__(self, device: str) -> None:
        self.device = device
        self.in_raw_repl = False
        self.use_raw_paste = True
        self._pending = b""
        self.stray = ""  # what the board printed besides the value of the last eval

    # -- bytes (subclasses) -------------------------------------------------------

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send bytes; raise :class:`Disconnected` when the device went away."""

    @abstractmethod
    def read_some(self, timeout: float) -> bytes:
        """Bytes that arrived within ``timeout`` seconds (b"" for none)."""

    @abstractmethod
    def close(self) -> None:
        """Release the port."""

    def drain(self, quiet: float = 0.1, limit: float = 2.0) -> bytes:
        """Read and drop input until the device is quiet for ``quiet`` seconds."""
        data = self._take_pending()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            got = self.read_some(quiet)
            if not got:
                break
            data += got
        return data

    def read_until(self, ending: bytes, timeout: float, *, what: str) -> bytes:
        """Bytes up to and including ``ending``; :class:`DeviceTimeout` when the device
        is silent for ``timeout`` seconds (inactivity, not overall)."""
        data = self._take_pending()
        last = time.monotonic()
        while True:
            i = data.find(ending)
            if i >= 0:
                end = i + len(ending)
                self._pushback(data[end:])
                return data[:end]
            got = self.read_some(min(0.05, timeout))
            if got:
                data += got
                last = time.monotonic()
            elif time.monotonic() - last > timeout:
                raise DeviceTimeout(
                    self.device,
                    f"the device stopped answering while {what} "
                    f"(nothing for {timeout:g} s; last bytes {_sample(data)})",
                    "check the cable and the board's power; then run the command again",
                )

    def _pushback(self, data: bytes) -> None:
        self._pending = data + self._pending

    def _take_pending(self) -> bytes:
        data, self._pending = self._pending, b""
        return data

    # -- the REPL -------------------------------------------------------------------

    def enter_raw_repl(self, *, timeouts: tuple[float, ...] = (3.0, 2.0)) -> None:
        """Interrupt whatever runs (Ctrl-C) and enter the raw REPL (Ctrl-A); one try per
        entry of ``timeouts`` (seconds to wait for the raw REPL banner)."""
        seen = b""
        for timeout in timeouts:
            # one Ctrl-C per try, as mpremote: a second one could land in the middle of
            # the board's own handling of the first
            self.write(b"\r\x03")
            seen += self.drain(0.15, 1.0)
            self.write(b"\r\x01")
            data = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data += self._take_pending() + self.read_some(0.05)
                if data.endswith(RAW_PROMPT):
                    self.in_raw_repl = True
                    if self._settled():
                        return
                    break
            seen += data
        if not seen:
            raise NoRepl(
                self.device,
                "no answer from the device (no MicroPython REPL)",
                "check the cable (a charge-only cable carries no data), that the board is "
                "powered and runs MicroPython (flash it first: --micropython-image), then retry",
            )
        raise NoRepl(
            self.device,
            f"the device did not answer like a MicroPython REPL (got {len(seen)} bytes, "
            f"ending {_sample(seen)})",
            "check that this is the node's port and the baud rate (--baud, 115200 for "
            "MicroPython), that no other program uses the port, and that the board runs "
            "MicroPython; press its reset button and retry",
        )

    def _settled(self) -> bool:
        """Run a loop that does nothing, so that an interrupt still pending in the board
        (the VM checks at jumps) surfaces here rather than in the real work."""
        for _ in range(3):
            try:
                _out, err = self.exec_raw("for _ in range(2):\n    pass\n", timeout=2.0)
            except DeviceTimeout:
                return False
            if not err:
                return True
            time.sleep(0.05)
        return False

    def exit_raw_repl(self) -> None:
        """Back to the friendly REPL (Ctrl-B)."""
        self.write(b"\r\x02")
        self.in_raw_repl = False

    def _raw_paste_write(self, code: bytes, timeout: float) -> None:
        header = self._read_exact(2, timeout, "starting raw-paste mode")
        window = struct.unpack("<H", header)[0]
        remain = window
        i = 0
        while i < len(code):
            while remain == 0 or self._incoming():
                got = self._read_exact(1, timeout, "sending code (raw-paste flow control)")
                if got == b"\x01":
                    remain += window
                elif got == b"\x04":
                    self.write(b"\x04")  # the device ended the paste: acknowledge
                    return
                else:
                    raise NoRepl(
                        self.device,
                        f"unexpected byte {got!r} during raw-paste",
                        "the device is not a well-behaved MicroPython REPL; reset it and retry",
                    )
            chunk = code[i : i + remain]
            self.write(chunk)
            remain -= len(chunk)
            i += len(chunk)
        self.write(b"\x04")
        self.read_until(b"\x04", timeout, what="finishing raw-paste")

    def _incoming(self) -> bool:
        data = self._take_pending() + self.read_some(0)
        if data:
            self._pushback(data)
            return True
        return False

    def _read_exact(self, n: int, timeout: float, what: str) -> bytes:
        data = self._take_pending()
        last = time.monotonic()
        while len(data) < n:
            got = self.read_some(min(0.05, timeout))
            if got:
                data += got
                last = time.monotonic()
            elif time.monotonic() - last > timeout:
                raise DeviceTimeout(
                    self.device,
                    f"the device stopped answering while {what}",
                    "check the cable and the board's power; then run the command again",
                )
        self._pushback(data[n:])
        return data[:n]

    def exec_raw_no_follow(self, code: str | bytes, timeout: float = 10.0) -> None:
        """Send ``code`` for execution in the raw REPL (raw-paste when the board has it)."""
        data = code.encode() if isinstance(code, str) else code
        if not self.in_raw_repl:
            self.enter_raw_repl()
        if self.use_raw_paste:
            self.write(b"\x05A\x01")
            answer = self._read_exact(2, timeout, "asking for raw-paste mode")
            if answer == b"R\x01":
                self._raw_paste_write(data, timeout)
                return
            if answer != b"R\x00":
                # an old board echoes the request: wait for its raw REPL prompt again
                rest = self.read_until(b"w REPL; CTRL-B to exit\r\n>", timeout, what="raw REPL")
                if not (answer + rest).endswith(b"w REPL; CTRL-B to exit\r\n>"):
                    raise NoRepl(self.device, "lost the raw REPL", "reset the board and retry")
            self.use_raw_paste = False
        for i in range(0, len(data), 256):
            self.write(data[i : i + 256])
            time.sleep(0.01)
        self.write(b"\x04")
        ok = self._read_exact(2, timeout, "starting the code")
        if ok != b"OK":
            raise NoRepl(
                self.device,
                f"the raw REPL did not accept the code (answered {ok!r})",
                "reset the board and retry",
            )

    def follow(self, timeout: float = 10.0) -> tuple[bytes, bytes]:
        """The output and the error output of the code that runs (each ends with 0x04)."""
        out = self.read_until(b"\x04", timeout, what="running code")[:-1]
        err = self.read_until(b"\x04", timeout, what="running code")[:-1]
        self.read_until(b">", timeout, what="waiting for the raw REPL prompt")
        return out, err

    def exec_raw(self, code: str | bytes, timeout: float = 10.0) -> tuple[bytes, bytes]:
        self.exec_raw_no_follow(code, timeout)
        return self.follow(timeout)

    def exec(self, code: str | bytes, timeout: float = 10.0) -> bytes:
        """Run ``code``; its output, or :class:`DeviceError` with the device's traceback."""
        out, err = self.exec_raw(code, timeout)
        if err:
            raise DeviceError(self.device, err.decode("utf-8", "replace"))
        return out

    def eval(self, code: str | bytes, timeout: float = 10.0) -> Any:
        """Run ``code`` that prints one ``repr``; the value, parsed as a Python literal."""
        text = self.exec(code, timeout).decode("utf-8", "replace").strip()
        # the value is the last line; anything before it the board printed on its own
        lines = text.splitlines()
        out = lines[-1] if lines else ""
        self.stray = "\n".join(lines[:-1])
        try:
            return ast.literal_eval(out)
        except (ValueError, SyntaxError):
            raise NoRepl(
                self.device,
                f"the device printed something unexpected: {out[:80]!r}",
                "reset the board and retry",
            ) from None

    def soft_reset(self, timeout: float = 10.0) -> bytes:
        """Leave the raw REPL and soft-reset from the friendly REPL (Ctrl-D), so the
        board runs main.py; returns what it printed up to ``soft reboot``."""
        if self.in_raw_repl:
            self.exit_raw_repl()
            self.read_until(FRIENDLY_PROMPT, timeout, what="leaving the raw REPL")
        self.write(b"\x04")
        return self.read_until(SOFT_REBOOT, timeout, what="soft-resetting")

    def hard_reset(self) -> None:
        """``machine.reset()``: the board restarts (the port may go away for a moment)."""
        self.exec_raw_no_follow("import machine\nmachine.reset()\n")
        self.in_raw_repl = False

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
