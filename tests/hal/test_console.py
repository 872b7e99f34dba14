"""The board's console on a pty, driven through pyserial like a real board."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import serial
from hal_helpers import MP_DIR

from hardware.hal import codes
from hardware.hal.supervisor import Supervisor

pytestmark = pytest.mark.micropython


def read_until(port: serial.Serial, marker: bytes, timeout: float = 10.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} in {data!r}")
        data += port.read(port.in_waiting or 1)
    return data


def test_console_ctrl_c_repl_soft_reboot_and_raw_repl(tmp_path: Path) -> None:
    """On the pty console: the app's output reaches the tool's port; Ctrl-C
    raises KeyboardInterrupt in the running app and leaves a REPL that has the
    simulated machine; Ctrl-D there soft-reboots ("soft reboot", the app runs
    again with the same reset cause); raw REPL executes code, and Ctrl-D in raw
    REPL reboots into raw REPL again without running the app; a WDT reset still
    restarts the board with WDT_RESET."""
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "app.py").write_text(
        """
import machine, time
rtc = machine.RTC()
n = len(rtc.memory())
rtc.memory(b"x" * (n + 1))
print("app boot", n, machine.reset_cause())
if n == 3:
    machine.WDT(timeout=1000)
    time.sleep(5)
while True:
    time.sleep(1)
"""
    )
    cfg = {
        "entry": "app",
        "paths": [str(fw), str(MP_DIR)],
        "flash": {"image": str(tmp_path / "flash.img"), "blocks": 32},
    }
    path = tmp_path / "board.json"
    path.write_text(json.dumps(cfg))
    sup = Supervisor(path, console=True)
    assert sup.console_port is not None
    runner = threading.Thread(target=sup.run, kwargs={"max_boots": 10, "timeout": 60})
    port = serial.Serial(sup.console_port, 115200, timeout=0.2)
    runner.start()
    try:
        read_until(port, b"app boot 0 1")
        port.write(b"\x03")
        out = read_until(port, b">>> ")
        assert b"KeyboardInterrupt" in out
        port.write(b"import machine; print('mod', machine.__file__.endswith('hal/machine.py'))\r")
        read_until(port, b"mod True")
        port.write(b"\x04")  # Ctrl-D: soft reset
        out = read_until(port, b"app boot 1 1")
        assert b"soft reboot\r\n" in out

        port.write(b"\x03")
        read_until(port, b">>> ")
        port.write(b"\x01")
        read_until(port, b"raw REPL; CTRL-B to exit\r\n>")
        port.write(b"print(6 * 7)\x04")
        # The unix port ends printed lines with \n (a board with \r\n).
        read_until(port, b"OK42\n\x04\x04>")
        port.write(b"\x04")  # soft reset in raw REPL
        out = read_until(port, b"raw REPL; CTRL-B to exit\r\n>")
        assert b"soft reboot\r\n" in out
        assert b"app boot" not in out and b"MicroPython" not in out.split(b"soft reboot")[1]
        port.write(b"import machine\r\nprint(len(machine.RTC().memory()))\x04")
        read_until(port, b"OK2\n")  # the app did not run: RTC memory still 2
        port.write(b"\x02")  # back to the friendly REPL
        read_until(port, b">>> ")
        port.write(b"\x04")  # soft reset from the friendly REPL runs the app
        read_until(port, b"app boot 2 1")
        port.write(b"\x03")
        read_until(port, b">>> ")
        port.write(b"\x04")
        out = read_until(port, b"app boot 4 3")  # n == 3 armed the WDT
        assert b"WDT RESET" in out
    finally:
        sup.stop()
        runner.join(10)
        port.close()
        sup.close()
    codes_seen = [b.exit_code for b in sup.boots]
    assert codes_seen[:5] == [0, 0, 0, 0, codes.EXIT_WDT], codes_seen
