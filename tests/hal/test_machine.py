"""The simulated `machine` module through the real boot sequence (boot.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hal_helpers import MP_DIR, BootBoard

from hardware.hal import codes
from hardware.hal.supervisor import Supervisor, SupervisorError

pytestmark = pytest.mark.micropython

CPU = """
def cpu_ticks():
    with open("/proc/self/stat") as f:
        parts = f.read().split()
    return int(parts[13]) + int(parts[14])
"""


def lines(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        key, _sep, value = line.partition(" ")
        out[key] = value
    return out


def test_uart_echo_and_idle_cpu(boot_board: BootBoard) -> None:
    """UART 1 is a real fd whose far end drives an in-process device stub:
    asyncio.StreamReader/Writer and the blocking API both round-trip through it;
    then the app idles 2 s (speed 1) awaiting a UART byte and a pin edge, and
    the process uses (almost) no CPU meanwhile."""
    app = (
        CPU
        + """
import asyncio, machine, time, simclock
rt = simclock._rt
uart = machine.UART(1, 9600)
reader = asyncio.StreamReader(uart)
writer = asyncio.StreamWriter(uart, {})
flag = asyncio.ThreadSafeFlag()
door = machine.Pin(4, machine.Pin.IN)
door.irq(lambda p: flag.set(), machine.Pin.IRQ_RISING)

async def main():
    writer.write(b"hello\\n")
    await writer.drain()
    print("echo", await asyncio.wait_for(reader.readline(), 5))
    uart.write(b"sync\\n")
    time.sleep_ms(20)
    print("any", uart.any())
    print("sync", uart.read())
    c0 = cpu_ticks(); t0 = rt.ticks_ms()
    try:
        await asyncio.wait_for(reader.read(1), 2)
        print("unexpected data")
    except asyncio.TimeoutError:
        pass
    await flag.wait()
    print("idle", cpu_ticks() - c0, rt.ticks_diff(rt.ticks_ms(), t0))

asyncio.run(main())
"""
    )
    result = boot_board(
        app,
        {
            "setup": "stubs:setup_echo",
            "pins": {
                "4": {
                    "factory": "stubs:door_schedule",
                    "args": {"initial": 0, "changes": [[2600, 1]]},
                }
            },
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    got = lines(result.stdout)
    assert got["echo"] == "b'HELLO\\n'"
    assert got["any"] == "5"
    assert got["sync"] == "b'SYNC\\n'"
    ticks, real_ms = (int(x) for x in got["idle"].split())
    assert 2000 <= real_ms < 3500
    # clock ticks are 10 ms: 2.5 s idle must cost under 0.1 s of CPU (4 %).
    assert ticks <= 10, f"idle used {ticks * 10} ms CPU over {real_ms} ms"


def test_pin_irq_fires_on_world_change(boot_board: BootBoard) -> None:
    """A world schedule drives pin 4 up at 5 s and down at 9 s (scenario time):
    the irq handler runs at those simulated times, sees the new level, wakes an
    asyncio task through ThreadSafeFlag; at speed 100 that takes ~90 ms real."""
    app = """
import asyncio, machine, simclock
rt = simclock._rt
flag = asyncio.ThreadSafeFlag()
seen = []
def handler(pin):
    seen.append((simclock.now_ms(), pin.value()))
    flag.set()
door = machine.Pin(4, machine.Pin.IN, machine.Pin.PULL_DOWN)
print("level0", door.value())
door.irq(handler, machine.Pin.IRQ_RISING | machine.Pin.IRQ_FALLING)
async def main():
    r0 = rt.ticks_ms()
    await flag.wait()
    await flag.wait()
    print("seen", seen)
    print("real", rt.ticks_diff(rt.ticks_ms(), r0))
asyncio.run(main())
"""
    result = boot_board(
        app,
        {
            "speed": 100,
            "pins": {
                "4": {
                    "factory": "stubs:door_schedule",
                    "args": {"initial": 0, "changes": [[5000, 1], [9000, 0]]},
                }
            },
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    got = lines(result.stdout)
    assert got["level0"] == "0"
    seen = json.loads(got["seen"].replace("(", "[").replace(")", "]"))
    assert [level for _t, level in seen] == [1, 0]
    assert 5000 <= seen[0][0] < 6000 and 9000 <= seen[1][0] < 10000, seen
    assert 80 <= int(got["real"]) < 1000


def test_i2c_adc_and_board_identity(boot_board: BootBoard) -> None:
    """I2C delegates to the attached bus (readfrom_mem/writeto_mem built from
    writeto/readfrom_into; a wrong address NACKs with ENODEV); ADC reads the
    world's microvolts; unique_id comes from the config; Signal works on Pin."""
    app = """
import machine
i2c = machine.I2C(0, scl=machine.Pin(9), sda=machine.Pin(8), freq=400000)
print("scan", i2c.scan())
print("devid", hex(i2c.readfrom_mem(0x53, 0x00, 1)[0]))
i2c.writeto_mem(0x53, 0x2D, b"\\x08")
buf = bytearray(1)
i2c.readfrom_mem_into(0x53, 0x2D, buf)
print("power_ctl", buf[0])
try:
    i2c.readfrom(0x48, 2)
except OSError as e:
    print("nack", e.args[0])
adc = machine.ADC(machine.Pin(3))
print("adc", adc.read_uv(), adc.read_u16())
print("uid", machine.unique_id())
led = machine.Signal(machine.Pin(2, machine.Pin.OUT), invert=True)
led.on()
print("led", machine.Pin(2).value())
print("cause", machine.reset_cause() == machine.PWRON_RESET)
"""
    result = boot_board(app, {"setup": "stubs:setup_echo", "unique_id": "0102030405ff"})
    assert result.returncode == 0, result.stdout + result.stderr
    got = lines(result.stdout)
    assert got["scan"] == "[83]"
    assert got["devid"] == "0xe5"
    assert got["power_ctl"] == "8"
    assert got["nack"] == "19"
    assert got["adc"] == f"1500000 {1500000 * 65535 // 3300000}"
    assert got["uid"] == "b'\\x01\\x02\\x03\\x04\\x05\\xff'"
    assert got["led"] == "0"
    assert got["cause"] == "True"


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"speed": "fast"}, "'speed'"),
        ({"flash": {"image": 7}}, "'flash.image'"),
        ({"pins": {"4": {"level": 3}}}, "'pins.4.level'"),
        ({"uart": {"1": {"factory": "nocolon"}}}, "'uart.1.factory'"),
        ({"colour": "red"}, "'colour': unknown"),
        ({"deep_wake": "ext0"}, "'deep_wake'"),
        ({"deep_wake_pins": [0, "1"]}, "'deep_wake_pins'"),
    ],
)
def test_garbage_config_names_the_key(
    boot_board: BootBoard, tmp_path: Path, patch: dict[str, object], key: str
) -> None:
    """A bad config value stops boot.py with status 2 and a message naming the
    key; the supervisor refuses the same config naming the key too."""
    result = boot_board("print('ran')\n", patch)
    assert result.returncode == codes.EXIT_CONFIG
    assert "ran" not in result.stdout
    assert key in result.stderr, result.stderr
    with pytest.raises(SupervisorError, match=key.replace("'", "'?").replace(".", r"\.")):
        Supervisor(tmp_path / "board.json")


def write_board(tmp_path: Path, app: str, **config: object) -> Path:
    fw = tmp_path / "fw"
    fw.mkdir(exist_ok=True)
    (fw / "app.py").write_text(app)
    cfg: dict[str, object] = {
        "entry": "app",
        "paths": [str(fw), str(MP_DIR)],
        "flash": {"image": str(tmp_path / "flash.img"), "blocks": 32},
        "epoch": 1790000000,
    }
    cfg.update(config)
    path = tmp_path / "board.json"
    path.write_text(json.dumps(cfg))
    return path


def test_wdt_expiry_resets_and_supervisor_restarts(tmp_path: Path) -> None:
    """A WDT that is not fed ends the board with "WDT RESET" and status 17; the
    supervisor restarts it at once with reset_cause() == WDT_RESET, simulated
    time continues past the expiry, and RTC memory and flash files survive."""
    app = """
import machine, time
cause = machine.reset_cause()
rtc = machine.RTC()
print("boot", cause, time.time(), rtc.memory())
if cause == machine.WDT_RESET:
    print("after-wdt", open("marker").read())
else:
    rtc.memory(b"kept")
    with open("marker", "w") as f:
        f.write("on-flash")
    wdt = machine.WDT(timeout=2000)
    wdt.feed()
    time.sleep(1)
    wdt.feed()
    time.sleep(30)
    print("not reached")
"""
    sup = Supervisor(write_board(tmp_path, app, speed=100))
    boots = sup.run(max_boots=4, timeout=30)
    assert [b.exit_code for b in boots] == [codes.EXIT_WDT, 0]
    assert "WDT RESET" in boots[0].output and "not reached" not in boots[0].output
    assert [b.reset_cause for b in boots] == [codes.PWRON_RESET, codes.WDT_RESET]
    second = lines(boots[1].output)
    cause, t, mem = second["boot"].split(" ", 2)
    assert int(cause) == codes.WDT_RESET
    assert 1790000003 <= int(t) < 1790000010  # fed at 1 s, expired at 3 s
    assert mem == "b'kept'"
    assert second["after-wdt"] == "on-flash"


def test_deepsleep_round_trip(tmp_path: Path) -> None:
    """deepsleep(60 s) at speed 1000 ends the process (status 18); the supervisor
    brings the board back after ~60 ms with DEEPSLEEP_RESET and TIMER_WAKE, the
    clock 60 s later, RTC memory kept; a wake pin ends a second sleep early
    (PIN_WAKE at the pin's change, 10 s into a 1 h sleep)."""
    app = """
import machine, time
rtc = machine.RTC()
n = len(rtc.memory())
print("boot", n, machine.reset_cause(), machine.wake_reason(), time.time())
rtc.memory(b"x" * (n + 1))
if n == 0:
    machine.deepsleep(60000)
elif n == 1:
    machine.deepsleep(3600000)
"""
    path = write_board(
        tmp_path,
        app,
        speed=1000,
        wake_pins={"5": 1},
        pins={
            "5": {
                "factory": "stubs:door_schedule",
                "args": {"initial": 0, "changes": [[70000, 1]]},
            }
        },
    )
    sup = Supervisor(path)
    boots = sup.run(max_boots=5, timeout=30)
    assert [b.exit_code for b in boots] == [codes.EXIT_DEEPSLEEP, codes.EXIT_DEEPSLEEP, 0]
    rows = [lines(b.output)["boot"].split() for b in boots]
    assert [int(r[0]) for r in rows] == [0, 1, 2]
    assert [int(r[1]) for r in rows] == [
        codes.PWRON_RESET,
        codes.DEEPSLEEP_RESET,
        codes.DEEPSLEEP_RESET,
    ]
    assert [int(r[2]) for r in rows] == [0, codes.TIMER_WAKE, codes.PIN_WAKE]
    t = [int(r[3]) for r in rows]
    # At speed 1000 each real millisecond of scheduling jitter is a simulated
    # second, hence the few seconds of slack.
    assert 60 <= t[1] - t[0] <= 70
    assert 70 <= t[2] - t[0] <= 90  # woke at the pin's change, not after 1 h
    gap = boots[1].real_start - boots[0].real_end
    assert 0.05 <= gap < 1.0


def test_deepsleep_wakes_on_armed_pins_and_keeps_held_pads(tmp_path: Path) -> None:
    """Without configured wake pins only the pins the firmware armed end a deep
    sleep, at the level it armed (Pin.WAKE_HIGH / WAKE_LOW): pin 6 changes at 5 s
    but is not armed, pin 5 (armed high) rises at 20 s and wakes the board. An
    output held with Pin.init(hold=True) keeps its level through the sleep: a new
    Pin(4, OUT, value=0) after the wake changes only the register, until the hold
    is let go; any other restart releases held pads. A state kept in
    machine.device_state() by an exit hook (a chip simulator's registers) is
    there at the next start."""
    app = """
import machine, time
from hardware.hal import registry
mem = machine.RTC().memory()
kept = machine.device_state()
print("boot", len(mem), machine.reset_cause(), machine.wake_reason(), time.time())
out = machine.Pin(4, machine.Pin.OUT, value=0)
print("held", out.value(), kept.get("chip"))
if len(mem) == 0:
    machine.RTC().memory(b"x")
    out.value(1)
    out.init(hold=True)
    registry.exit_hooks.append(lambda: kept.update(chip=42))
    machine.Pin(5, machine.Pin.IN).irq(trigger=machine.Pin.WAKE_HIGH, wake=machine.DEEPSLEEP)
    machine.deepsleep(3600000)
elif len(mem) == 1:
    machine.RTC().memory(b"xx")
    out.init(hold=False)
    print("released", out.value())
    out.value(1)
    out.init(hold=True)
    machine.reset()
else:
    print("after-reset", out.value())
"""
    pins = {
        "5": {"factory": "stubs:door_schedule", "args": {"initial": 0, "changes": [[20000, 1]]}},
        "6": {"factory": "stubs:door_schedule", "args": {"initial": 0, "changes": [[5000, 1]]}},
    }
    sup = Supervisor(write_board(tmp_path, app, speed=1000, pins=pins))
    boots = sup.run(max_boots=5, timeout=30)
    assert [b.exit_code for b in boots] == [codes.EXIT_DEEPSLEEP, codes.EXIT_HARD_RESET, 0]
    first, second, third = (lines(b.output) for b in boots)
    assert first["held"] == "0 None"
    cause, reason, t = (int(v) for v in second["boot"].split()[1:])
    assert cause == codes.DEEPSLEEP_RESET and reason == codes.PIN_WAKE
    t0 = int(first["boot"].split()[3])
    assert 20 <= t - t0 <= 30  # pin 5 at 20 s, not pin 6 at 5 s
    assert second["held"] == "1 42" and second["released"] == "0"
    assert third["after-reset"] == "0"


def test_an_esp32c3_arms_deep_sleep_wakes_with_esp32_wake_on_gpio(tmp_path: Path) -> None:
    """A board configured as an ESP32-C3 (deep_wake "esp32_gpio", GPIO0-5 in the RTC
    domain) has an `esp32` module, as the ESP32 port does: Pin.irq cannot arm a
    deep-sleep wake there (no EXT0) and says what to use; esp32.wake_on_gpio refuses a
    pin outside the RTC domain (naming the pins that can) and anything but Pin objects;
    it arms its pins on one level, and the first armed pin to reach it wakes the board
    (pin 3 falls at 20 s; pin 6, not armed, at 5 s). Held pads outside the RTC domain
    are let go in a deep sleep unless esp32.gpio_deep_sleep_hold(True) was called;
    RTC pads stay held. A board without deep_wake has no esp32 module."""
    app = """
import machine, time
mem = machine.RTC().memory()
print("boot", len(mem), machine.reset_cause(), machine.wake_reason(), time.time())
import esp32
rtc_pad = machine.Pin(4, machine.Pin.OUT, value=0)
digital_pad = machine.Pin(7, machine.Pin.OUT, value=0)
print("held", rtc_pad.value(), digital_pad.value())
if len(mem) == 0:
    try:
        machine.Pin(5, machine.Pin.IN).irq(trigger=machine.Pin.WAKE_HIGH, wake=machine.DEEPSLEEP)
    except ValueError as e:
        print("irq", e)
    for bad in ((machine.Pin(9),), "pins", (3,)):
        try:
            esp32.wake_on_gpio(bad, esp32.WAKEUP_ANY_HIGH)
        except (ValueError, TypeError) as e:
            print("bad", type(e).__name__, e)
    machine.RTC().memory(b"x")
    rtc_pad.value(1)
    rtc_pad.init(hold=True)
    digital_pad.value(1)
    digital_pad.init(hold=True)
    esp32.wake_on_gpio((machine.Pin(5, machine.Pin.IN), machine.Pin(3, machine.Pin.IN)),
                       esp32.WAKEUP_ALL_LOW)
    machine.deepsleep(3600000)
elif len(mem) == 1:
    machine.RTC().memory(b"xx")
    rtc_pad.value(1)
    rtc_pad.init(hold=True)
    digital_pad.value(1)
    digital_pad.init(hold=True)
    esp32.gpio_deep_sleep_hold(True)
    esp32.wake_on_gpio(None, esp32.WAKEUP_ANY_HIGH)
    machine.deepsleep(1000)
"""
    pins = {
        "3": {"factory": "stubs:door_schedule", "args": {"initial": 1, "changes": [[20000, 0]]}},
        "5": {"factory": "stubs:door_schedule", "args": {"initial": 1}},
        "6": {"factory": "stubs:door_schedule", "args": {"initial": 1, "changes": [[5000, 0]]}},
    }
    board = write_board(
        tmp_path,
        app,
        speed=1000,
        pins=pins,
        deep_wake="esp32_gpio",
        deep_wake_pins=[0, 1, 2, 3, 4, 5],
    )
    boots = Supervisor(board).run(max_boots=3, timeout=30)
    assert [b.exit_code for b in boots[:2]] == [codes.EXIT_DEEPSLEEP] * 2, boots[0].output
    first, second, third = (lines(b.output) for b in boots)
    assert "esp32.wake_on_gpio" in first["irq"] and "no EXT0" in first["irq"]
    bad = [x for x in boots[0].output.splitlines() if x.startswith("bad ")]
    assert bad[0].startswith("bad ValueError Pin(9) cannot wake") and "0, 1, 2, 3, 4, 5" in bad[0]
    assert bad[1].startswith("bad TypeError") and bad[2].startswith("bad TypeError")
    cause, reason, t = (int(v) for v in second["boot"].split()[1:])
    assert cause == codes.DEEPSLEEP_RESET and reason == codes.PIN_WAKE
    assert 20 <= t - int(first["boot"].split()[3]) <= 30  # pin 3 at 20 s, not pin 6 at 5 s
    assert second["held"] == "1 0"  # the digital pad was let go: no gpio_deep_sleep_hold
    assert third["held"] == "1 1"  # with it, both kept
    assert int(third["boot"].split()[2]) == codes.TIMER_WAKE

    plain = write_board(tmp_path, "import esp32\n")
    [boot] = Supervisor(plain).run(max_boots=1, timeout=30)
    assert "ImportError" in boot.output and "esp32" in boot.output


def test_soft_reset_reboots_with_previous_cause(tmp_path: Path) -> None:
    """machine.soft_reset() restarts the board (status 20) with "soft reboot"
    printed and the previous reset cause; machine.reset() restarts it with
    SOFT_RESET (the ESP32's software restart)."""
    app = """
import machine
rtc = machine.RTC()
n = len(rtc.memory())
rtc.memory(b"x" * (n + 1))
print("boot", n, machine.reset_cause())
if n == 0:
    machine.soft_reset()
elif n == 1:
    machine.reset()
"""
    out: list[str] = []
    sup = Supervisor(write_board(tmp_path, app), on_output=out.append)
    boots = sup.run(max_boots=5, timeout=30)
    assert [b.exit_code for b in boots] == [codes.EXIT_SOFT_RESET, codes.EXIT_HARD_RESET, 0]
    causes = [int(lines(b.output)["boot"].split()[1]) for b in boots]
    assert causes == [codes.PWRON_RESET, codes.PWRON_RESET, codes.SOFT_RESET]
    assert "soft reboot\n" in out


def test_uart_link_to_external_pty_and_socket(boot_board: BootBoard, tmp_path: Path) -> None:
    """A UART whose config names a pty path or a unix socket talks to another
    process (here: this test) over it, both ways, with asyncio and without a
    busy loop; the tty is put in raw mode (no newline translation)."""
    import os
    import pty
    import socket as pysocket
    import threading
    import tty

    master, slave = pty.openpty()
    tty.setraw(slave)
    slave_path = os.ttyname(slave)
    sock_path = str(tmp_path / "link.sock")
    server = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    got: dict[str, bytes] = {}

    def peer() -> None:
        conn, _ = server.accept()
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                data += conn.recv(100)
            got["sock"] = data
            conn.sendall(b"ack:" + data)
        data = b""
        while not data.endswith(b"\n"):
            data += os.read(master, 100)
        got["pty"] = data
        os.write(master, b"pty-ack:" + data)

    thread = threading.Thread(target=peer, daemon=True)
    thread.start()
    app = """
import asyncio, machine
async def talk(uart, msg):
    r = asyncio.StreamReader(uart)
    w = asyncio.StreamWriter(uart, {})
    w.write(msg)
    await w.drain()
    return await asyncio.wait_for(r.readline(), 5)
async def main():
    print("sock", await talk(machine.UART(2, 115200), b"frame\\r\\n"))
    print("pty", await talk(machine.UART(1, 115200), b"hello\\r\\n"))
asyncio.run(main())
"""
    try:
        result = boot_board(
            app,
            {"uart": {"1": {"path": slave_path}, "2": {"path": "unix:" + sock_path}}},
            timeout=20,
        )
    finally:
        thread.join(5)
        server.close()
        os.close(master)
        os.close(slave)
    assert result.returncode == 0, result.stdout + result.stderr
    out = lines(result.stdout)
    assert got["sock"] == b"frame\r\n" and out["sock"] == "b'ack:frame\\r\\n'"
    assert got["pty"] == b"hello\r\n" and out["pty"] == "b'pty-ack:hello\\r\\n'"


def test_lightsleep_wake_pin_and_deferred_irq(boot_board: BootBoard) -> None:
    """lightsleep(1 h) ends at the wake pin's change (20 s, speed 1000); a pin
    handler set while interrupts are disabled runs only at enable_irq(); a
    world Level set by code fires the handler at the next wait."""
    app = """
import machine, time, simclock
from hardware.hal import registry
seen = []
p = machine.Pin(6, machine.Pin.IN)
p.irq(lambda pin: seen.append(pin.value()))
t0 = simclock.now_ms()
machine.lightsleep(3600000)
print("woke", simclock.now_ms() // 1000, t0 < 1000)
state = machine.disable_irq()
registry.pins[6].set(1)
time.sleep_ms(5)
print("while-disabled", seen)
machine.enable_irq(state)
print("enabled", seen)
registry.pins[6].set(0)
time.sleep_ms(1)
print("after", seen)
"""
    result = boot_board(
        app,
        {
            "speed": 1000,
            "wake_pins": {"5": 1},
            "pins": {
                "5": {
                    "factory": "stubs:door_schedule",
                    "args": {"initial": 0, "changes": [[20000, 1]]},
                },
                "6": {"level": 0},
            },
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    got = lines(result.stdout)
    woke, early = got["woke"].split()
    assert 20 <= int(woke) < 30 and early == "True"  # scenario time 20 s: the pin
    assert got["while-disabled"] == "[]"
    assert got["enabled"] == "[1]"
    assert got["after"] == "[1, 0]"
