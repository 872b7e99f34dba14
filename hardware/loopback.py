"""Servers on loopback for the demo, the tests and the benchmarks: free ports and
a private Mosquitto (its own port, config and process, so it can be stopped and
restarted without touching the machine's broker)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def mosquitto_binary() -> str | None:
    """The installed mosquitto (Debian puts it in /usr/sbin), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


class PrivateBroker:
    """A Mosquitto on a free loopback port, config and log under ``work``.

    No queue limit (``max_queued_messages 0``); with ``persistent`` its messages
    survive a restart (saved every second). Started on construction; ``stop()``
    is safe to call twice, ``start()`` brings it back on the same port.
    """

    def __init__(self, work: Path, *, persistent: bool = False) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed: ./dev setup installs it")
        self.binary = binary
        self.work = work
        self.port = free_port()
        work.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "max_queued_messages 0"]
        if persistent:
            (work / "data").mkdir(exist_ok=True)
            lines += ["persistence true", f"persistence_location {work / 'data'}/"]
            lines.append("autosave_interval 1")
        else:
            lines.append("persistence false")
        if os.geteuid() == 0:
            # as root mosquitto drops to the user "mosquitto", which cannot write
            # into a private temp dir: keep it root for a private broker
            lines.append("user root")
        self.conf = work / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the broker (again) and wait until it accepts connections."""
        with (self.work / "mosquitto.log").open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - the installed mosquitto
                [self.binary, "-c", str(self.conf)], stdout=log, stderr=log
            )
        try:
            wait_port(self.port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"the private mosquitto did not start (see {self.work / 'mosquitto.log'})"
            ) from None

    def stop(self) -> None:
        """Stop the broker; safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()
