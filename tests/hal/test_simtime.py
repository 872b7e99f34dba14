"""Simulated time: the shadow time/select modules under the real MicroPython."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from hal_helpers import RunMp

pytestmark = pytest.mark.micropython


def lines(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        key, _sep, value = line.partition(" ")
        out[key] = value
    return out


def test_sleep_scales_with_speed(run_mp: RunMp) -> None:
    """time.sleep(60) and asyncio.sleep(60) at speed 1000 take ~60 ms of real
    time while ticks_ms() advances 60 s; timed tasks still run in order; the
    shadows are what `import time`/`select` and asyncio get."""
    result = run_mp(
        """
import time, select, asyncio, simclock
rt = simclock._rt
print("mods", time.__file__, select.__file__, asyncio.core.ticks is time.ticks_ms)
t0 = time.ticks_ms(); r0 = rt.ticks_ms()
time.sleep(60)
print("sleep", time.ticks_diff(time.ticks_ms(), t0), rt.ticks_diff(rt.ticks_ms(), r0))
async def main():
    t0 = time.ticks_ms(); r0 = rt.ticks_ms()
    await asyncio.sleep(60)
    print("asleep", time.ticks_diff(time.ticks_ms(), t0), rt.ticks_diff(rt.ticks_ms(), r0))
    order = []
    async def s(n):
        await asyncio.sleep_ms(n)
        order.append(n)
    await asyncio.gather(*[s(n) for n in (5000, 1000, 3000, 2000, 4000)])
    print("order", order)
asyncio.run(main())
""",
        env={"CITYNERVE_SIM_SPEED": "1000"},
    )
    assert result.returncode == 0, result.stderr
    got = lines(result.stdout)
    assert "simtime/time.py" in got["mods"] and "simtime/select.py" in got["mods"]
    assert got["mods"].endswith("True")
    for key in ("sleep", "asleep"):
        sim, real = (int(x) for x in got[key].split())
        # sim is real x 1000 (±1 real ms of rounding); a stall of the process
        # under load lengthens both, so only the lower bound of real is tight.
        assert sim >= 60000, got
        assert abs(sim - real * 1000) <= 2000, got
        assert 59 <= real < 2000, got
    assert got["order"] == "[1000, 2000, 3000, 4000, 5000]"


def test_fd_read_wakes_at_once_during_long_sleep(run_mp: RunMp, tmp_path: Path) -> None:
    """While another task sleeps a simulated hour (speed 1), an asyncio socket
    read wakes as soon as the peer sends (0.3 s later), not at a timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        time.sleep(0.3)
        conn.sendall(b"hello\n")
        time.sleep(0.5)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = run_mp(
            f"""
import asyncio, simclock
rt = simclock._rt
async def sleeper():
    await asyncio.sleep(3600)
async def main():
    asyncio.create_task(sleeper())
    r, w = await asyncio.open_connection("127.0.0.1", {port})
    t0 = rt.ticks_ms()
    line = await r.readline()
    print("read", line, rt.ticks_diff(rt.ticks_ms(), t0))
asyncio.run(main())
""",
            timeout=20,
        )
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    got = lines(result.stdout)["read"].split()
    assert got[0] == "b'hello\\n'"
    assert 250 <= int(got[1]) < 1500


def test_epoch_set_time_and_calendar(run_mp: RunMp) -> None:
    """CITYNERVE_SIM_EPOCH sets the start time; set_time() moves time() (the
    RTC) without moving ticks or the scenario clock; gmtime/mktime agree with the
    built-in calendar; localtime is gmtime as on a board."""
    result = run_mp(
        """
import time, simclock
rt = simclock._rt
print("start", time.time(), simclock.now_ms() < 50)
t0 = time.ticks_ms(); n0 = simclock.now_ms()
time.set_time(1800000000)
print("set", time.time(), time.ticks_diff(time.ticks_ms(), t0) < 50, simclock.now_ms() - n0 < 50)
ok = True
for s in (0, 951782400, 1790000000, 4102444800, 978307199):
    ok = ok and time.gmtime(s) == tuple(rt.gmtime(s)[:8]) and time.mktime(time.gmtime(s)) == s
print("cal", ok, time.localtime(86400) == time.gmtime(86400))
""",
        env={"CITYNERVE_SIM_EPOCH": "1790000000", "CITYNERVE_SIM_SPEED": "10"},
    )
    assert result.returncode == 0, result.stderr
    got = lines(result.stdout)
    assert got["start"] == "1790000000 True"
    assert got["set"] == "1800000000 True True"
    assert got["cal"] == "True True"


def test_bad_speed_names_the_variable(run_mp: RunMp) -> None:
    """A garbage CITYNERVE_SIM_SPEED stops the import with an error naming it
    (MicroPython's unix port prints an uncaught exception's traceback on
    stdout, not stderr)."""
    for value in ("fast", "0.5"):
        result = run_mp("import time\n", env={"CITYNERVE_SIM_SPEED": value})
        assert result.returncode != 0
        assert "ClockError: CITYNERVE_SIM_SPEED" in result.stdout, result.stdout
