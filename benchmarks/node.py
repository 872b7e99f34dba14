"""Node firmware benchmark: heap, .mpy size, sampling rate, soak and battery life.

Everything runs the real firmware on the real MicroPython unix port: flash images are
provisioned by ``hardware.virtual_board.prepare`` (the firmware compiled by the real
``mpy-cross``), boards run under ``hardware.hal.supervisor.Supervisor`` with the kits'
chip simulators, and battery nodes talk to a real in-process edge agent (ingest only)
on loopback. Probes are entry modules of ``tests/firmware/mp`` that start the node the
way the board does (``import main``):

- ``app_mpy_bytes``: the app slot as mpy-cross compiles it for a node of each kit (the
  modules that kit imports, ``fleet.bundle.build(kits=[kit])``; the loader lives
  outside the slots), largest kit; the baseline is the whole package with every kit;
- ``readings_per_s``: a node's kit samples through its drivers and simulated chips,
  records SenML and queues batches on littlefs (``sample_entry.py``), per kit; the
  baselines in the same process are the recorder alone and the wire alone;
- heap: the simulators alone in the node's process setup (``sims_entry.py``), then the
  node (``heap_entry.py``, live heap sampled at every wait): the app's peak is the
  node's peak minus the live heap before the firmware started; the smallest
  ``-X heapsize`` that runs the node without MemoryError (bisection); whether it runs
  in 64 KiB plus the simulators' baseline; the heap the kit's modules take once
  imported, from .mpy files and from a ROMFS image, here and on the 32-bit
  webassembly port of the same MicroPython release (``benchmarks/mp32.py``, needs
  Node.js and npm);
- soak: each kit through ``--soak-hours`` simulated hours at its smallest heap plus a
  margin, no MemoryError, the heap peak per hour;
- ``battery_years``: the duty cycle the firmware runs over whole sample periods,
  measured at speed 1 (every boot's awake time, each load switch's on-time awake and
  held through a sleep, the accelerometer's charge in the modes the firmware set,
  conversions, link time; ``duty_entry.py``) times the currents of
  ``hardware/kits.py`` and ``hardware/boards.py``; the baseline is the same model with
  the kits' nominal duty (``Kit.duty``) and datasheet on-times.

Usage: ``.venv/bin/python benchmarks/node.py [--soak-hours 24] [--quick]
[--imports-only]``. The final line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (
    ROOT,
    ROOT / "benchmarks",
    ROOT / "tests",
    ROOT / "tests" / "firmware",
    ROOT / "tests" / "edge",
):
    sys.path.insert(0, str(_p))

import mp32  # noqa: E402
from edge_helpers import free_port, make_config, write_keys  # noqa: E402
from fw_helpers import BoardRun, heap_records, with_entry  # noqa: E402
from mpremote.romfs import make_romfs  # noqa: E402

from edge_agent.agent import EdgeAgent  # noqa: E402
from firmware.app import config as firmware_config  # noqa: E402
from hardware import boards, kits  # noqa: E402
from hardware.flash.tool import FlashImage  # noqa: E402
from hardware.hal import codes  # noqa: E402
from hardware.hal.supervisor import Supervisor, find_micropython  # noqa: E402
from hardware.node_image import compile_firmware  # noqa: E402
from hardware.virtual_board import VirtualNode, prepare  # noqa: E402

KIB = 1024
GOAL_HEAP = 64 * KIB
GOAL_MPY = 64 * KIB
GOAL_YEARS = 5.0
HOURS_PER_YEAR = 8766
KITS = ("hydrant", "manhole", "elevator")
BATTERY_KITS = ("hydrant", "manhole")
KITS_RUN = list(KITS)  # --kits
# sampling speed per kit: the A02YYUW simulator generates every frame of the
# elapsed simulated time, which above ~1000x outruns the UART reader
SAMPLE_SPEED = {"hydrant": 100_000, "manhole": 1000, "elevator": 10_000}
# soak speeds: a mains node's watchdog (30 s) and link timeouts are simulated time
# while its CPU work (and the collections of a tight heap) is real time
SOAK_SPEED = {"hydrant": 1000, "manhole": 1000, "elevator": 100}
SCENARIO = {"hydrant": "hydrant.idle", "manhole": "manhole.idle", "elevator": "elevator.trips"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


TAGS = ("sample", "heap", "bisect", "duty", "soak")


def node_id(kit: str, tag: str) -> str:
    """Each phase's node has its own id, so the edge's counts tell them apart."""
    return f"ja-{kit[:3]}-{tag}"


# -- sizes ----------------------------------------------------------------------------


def _size_parts(files: dict[str, bytes]) -> dict[str, int]:
    parts: dict[str, int] = {}
    for name, data in files.items():
        key = "/".join(name.split("/")[:3]) if "/kits/" in name or "/detect/" in name else ""
        key = key or "/".join(name.split("/")[:2])
        parts[key] = parts.get(key, 0) + len(data)
    return dict(sorted(parts.items()))


def mpy_sizes() -> dict[str, Any]:
    every = compile_firmware()
    per_kit = {kit: compile_firmware(kits=[kit]) for kit in KITS}
    slots = {kit: sum(len(v) for v in files.values()) for kit, files in per_kit.items()}
    loader = ROOT / "firmware" / "loader.py"
    return {
        "app_mpy_bytes": max(slots.values()),
        "slot_bytes_by_kit": slots,
        "files_by_kit": {kit: len(files) for kit, files in per_kit.items()},
        "all_kits_mpy_bytes": sum(len(v) for v in every.values()),
        "all_kits_files": len(every),
        "by_dir": _size_parts(every),
        "loader_py_bytes": loader.stat().st_size,
    }


_IMPORT_PROBE = """
import gc, sys, vfs
mode, root, kit = sys.argv[1], sys.argv[2], sys.argv[3]
gc.collect()
if mode == "romfs":
    with open(root, "rb") as f:
        image = f.read()  # on a board: a memory-mapped flash partition, not heap
    vfs.mount(vfs.VfsRom(image), "/slot")
    root = "/slot"
sys.path.insert(0, root)
gc.collect()
before = gc.mem_alloc()
import firmware.app.main
__import__("firmware.app.kits." + kit)
gc.collect()
print("@@IMPORT@@", gc.mem_alloc() - before)
"""


def import_heap(work: Path, kit: str) -> dict[str, int]:
    """Heap the kit's app modules take once imported (live, after a collection): from
    .mpy files as in a littlefs slot (bytecode copied into the heap) and from a ROMFS
    image, where MicroPython runs .mpy bytecode in place (the image itself is excluded:
    on a board it is a memory-mapped flash partition); on this 64-bit unix port and on
    the 32-bit webassembly port of the same release (``benchmarks/mp32.py``), whose
    figures are the ones a board's 32-bit heap would show."""
    files = compile_firmware(kits=[kit])
    slot = work / f"import-{kit}"
    for name, data in files.items():
        (slot / name).parent.mkdir(parents=True, exist_ok=True)
        (slot / name).write_bytes(data)
    image = work / f"import-{kit}.romfs"
    with contextlib.redirect_stdout(io.StringIO()):  # make_romfs prints the tree
        image.write_bytes(make_romfs(str(slot), mpy_cross=False))
    out: dict[str, int] = {"romfs_image_bytes": image.stat().st_size}
    for mode, root in (("mpy", slot), ("romfs", image)):
        run = subprocess.run(
            [find_micropython(), "-c", _IMPORT_PROBE, mode, str(root), kit],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        line = [x for x in run.stdout.splitlines() if x.startswith("@@IMPORT@@")]
        if not line:
            raise RuntimeError(f"import probe ({mode}, {kit}) failed: {run.stdout}{run.stderr}")
        out[f"{mode}_import_heap_bytes"] = int(line[0].split()[1])
        on32 = mp32.import_heap(slot, image, kit, mode)
        out[f"{mode}_import_heap_bytes_32bit"] = on32["bytes"]
        out[f"{mode}_import_qstr_bytes_32bit"] = on32["qstr_bytes"]
    return out


# -- boards ---------------------------------------------------------------------------------


def provision(work: Path, kit: str, port: int, speed: float, tag: str) -> VirtualNode:
    return prepare(
        kit=kit,
        scenario=SCENARIO[kit],
        image=work / f"{kit}-{tag}.img",
        edge=("127.0.0.1", port),
        speed=speed,
        node_id=node_id(kit, tag),
        reprovision=True,
    )


async def run_board(
    config: Path,
    *,
    heapsize: str | None,
    world_s: float,
    real_s: float,
    speed: float,
    battery: bool,
    env: dict[str, str] | None = None,
) -> tuple[Supervisor, bool, str]:
    """Runs a board until world_s simulated seconds have passed (battery: at a deep
    sleep; mains: real time times the speed). Returns the supervisor, whether it ran
    clean (no crash, no MemoryError, no watchdog reset) and why not."""
    run = BoardRun(config, heapsize=heapsize)
    if env:
        run.sup.extra_env.update(env)
    run.start(timeout=real_s + 60)
    started = time.monotonic()
    why = ""
    while True:
        await asyncio.sleep(0.05)
        boots = list(run.sup.boots)
        if boots and boots[-1].exit_code not in (codes.EXIT_DEEPSLEEP, codes.EXIT_WDT):
            why = f"exit {boots[-1].exit_code}"
            break
        if battery:
            asleep = bool(boots) and boots[-1].exit_code == codes.EXIT_DEEPSLEEP
            if asleep and run.world_s() >= world_s:
                break
        elif (time.monotonic() - started) * speed >= world_s:
            break
        if not run.running():
            why = why or "the board stopped"
            break
        if time.monotonic() - started > real_s:
            why = "real-time limit"
            break
    run.stop()
    out = run.output()
    if "MemoryError" in out:
        why = "MemoryError"
    if any(b.exit_code == codes.EXIT_WDT for b in run.sup.boots):
        why = why or "watchdog reset"
    return run.sup, why == "", why


def heap_of(sup: Supervisor) -> list[dict[str, Any]]:
    return [r for b in sup.boots for r in heap_records(b.output)]


# -- phases -----------------------------------------------------------------------------------


def readings(work: Path, samples: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kit in KITS_RUN:
        node = provision(work, kit, 9, SAMPLE_SPEED[kit], "sample")
        config = with_entry(node.config_path, "sample_entry", f"{kit}.sample.json")
        n = samples if kit != "manhole" else max(10, samples // 10)
        sup = Supervisor(config, env={"FWTEST_SAMPLES": str(n)})
        boots = sup.run(max_boots=1, timeout=300)
        line = next(
            (ln for ln in boots[-1].output.splitlines() if ln.startswith("@@SAMPLE@@ ")), None
        )
        if line is None:
            raise RuntimeError(f"{kit}: sampling failed:\n{boots[-1].output[-3000:]}")
        rec = json.loads(line[len("@@SAMPLE@@ ") :])
        rec["speed"] = SAMPLE_SPEED[kit]
        out[kit] = rec
        log(f"readings {kit}: {rec['readings_per_s']:.0f}/s ({rec['readings']} in {n} samples)")
    return out


async def heap_phase(work: Path, port: int, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kit in KITS_RUN:
        battery = kit in BATTERY_KITS
        # peak: the probe at the default heap; smallest heap: the bare firmware (the
        # probe's periodic collections would change the heap's fragmentation)
        speed = 400 if battery else 100  # mains: the 30 s watchdog is 300 ms of real time
        world = 3 * 900 + 60 if battery else (600 if quick else 1800)
        node = provision(work, kit, port, speed, "heap")
        sims_cfg = with_entry(node.config_path, "sims_entry", f"{kit}.sims.json")
        sims = Supervisor(sims_cfg).run(max_boots=1, timeout=120)
        sims_rec = heap_records(sims[-1].output)[-1]
        node = provision(work, kit, port, speed, "heap")
        probe = with_entry(node.config_path, "heap_entry", f"{kit}.heap.json")
        sup, ok, why = await run_board(
            probe, heapsize=None, world_s=world, real_s=120, speed=speed, battery=battery
        )
        recs = heap_of(sup)
        if not ok or not recs:
            raise RuntimeError(f"{kit}: heap run failed ({why})")
        base = min(r["base"] for r in recs)
        peak = max(r["peak"] for r in recs)
        # mains: a slower clock, so that collections on a tight heap do not starve
        # the (simulated) watchdog
        bspeed = speed if battery else 100
        bworld = world if battery else 600

        async def fits(
            kib: int, kit: str = kit, bspeed: float = bspeed, bworld: float = bworld
        ) -> str:
            node = provision(work, kit, port, bspeed, "bisect")
            _sup, _ok, why = await run_board(
                node.config_path,
                heapsize=f"{kib}k",
                world_s=bworld,
                real_s=120,
                speed=bspeed,
                battery=kit in BATTERY_KITS,
            )
            return why

        lo, hi = max(64, sims_rec["peak"] // KIB), 1024
        if await fits(hi):
            raise RuntimeError(f"{kit}: does not run in {hi} KiB")
        while hi - lo > 4:
            mid = (lo + hi) // 2
            if await fits(mid):
                lo = mid
            else:
                hi = mid
        goal_kib = (GOAL_HEAP + sims_rec["peak"] + KIB - 1) // KIB
        goal_why = await fits(goal_kib)
        rec = {
            "sims_base_bytes": sims_rec["base"],
            "sims_peak_bytes": sims_rec["peak"],
            "node_base_bytes": base,
            "node_peak_bytes": peak,
            "app_peak_bytes": peak - base,
            "min_heapsize_kib": hi,
            "goal_heapsize_kib": goal_kib,
            "fits_goal": goal_why == "",
            "goal_failure": goal_why,
        }
        out[kit] = rec
        log(f"heap {kit}: {rec}")
    return out


async def soak_phase(
    work: Path, port: int, hours: float, heap: dict[str, Any], agent: EdgeAgent
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kit in KITS_RUN:
        battery = kit in BATTERY_KITS
        speed = SOAK_SPEED[kit]
        # battery nodes at their smallest heap plus a margin; the mains node at the
        # default heap (on a tight heap its collections starve the simulated
        # watchdog at this speed), its peak tracked over the whole run
        kib = heap[kit]["min_heapsize_kib"] + 16 if battery else None
        node = provision(work, kit, port, speed, "soak")
        cfg = with_entry(node.config_path, "heap_entry", f"{kit}.soak.json")
        started = time.monotonic()
        world = hours * 3600
        sup, ok, why = await run_board(
            cfg,
            heapsize=f"{kib}k" if kib else None,
            world_s=world,
            real_s=world / speed * 3 + 120,
            speed=speed,
            battery=battery,
            env={"FWTEST_HEAP_PERIOD_MS": "10000"},
        )
        recs = heap_of(sup)
        peaks = [r["peak"] - r["base"] for r in recs]
        # where the node's batches are: journaled at the edge, or still queued on its
        # flash (at 1000x a battery node's 60 s drain deadline is 60 ms of real time)
        journaled = {
            (e.epoch, e.seq)
            for cls in (0, 1)
            for e in agent.journal.read(cls, 0, 1_000_000)
            if e.node == node_id(kit, "soak")
        }
        left = {
            (int(n[1:9], 16), int(n[9:17], 16))
            for n in FlashImage(node.image).listdir("q")
            if n != "state.json"
        }
        hourly: dict[int, int] = {}
        for r in recs:
            hour = int(r["t"] // 3_600_000)
            hourly[hour] = max(hourly.get(hour, 0), r["peak"] - r["base"])
        out[kit] = {
            "hours": hours,
            "speed": speed,
            "heapsize_kib": kib or "default",
            "ok": ok,
            "why": why,
            "boots": len(sup.boots),
            "app_peak_bytes": max(peaks) if peaks else None,
            "app_peak_by_hour": [hourly[h] for h in sorted(hourly)],
            "keys_journaled": len(journaled),
            "left_on_flash": len(left),
            "real_s": round(time.monotonic() - started, 1),
        }
        log(f"soak {kit}: {out[kit]}")
    return out


async def duty_phase(work: Path, port: int, periods: int) -> dict[str, Any]:
    """Power-on, then every boot of ``periods`` sample periods (timer wakes, and the
    wakes the firmware schedules itself, e.g. the end of the manhole's gas warm-up),
    started one after the other at speed 1: awake time is real time, the sleeps are
    skipped over."""
    out: dict[str, Any] = {}
    for kit in (k for k in BATTERY_KITS if k in KITS_RUN):
        node = provision(work, kit, port, 1, "duty")
        cfg = with_entry(node.config_path, "duty_entry", f"{kit}.duty.json")
        sup = Supervisor(cfg)
        sup.power_on_reset()
        cause, wake, epoch = codes.PWRON_RESET, 0, sup.epoch
        period_ms = firmware_config.DEFAULTS[kit]["sample_s"] * 1000
        records: list[dict[str, Any]] = []
        first = -1  # the first timer wake after the power-on: the window starts there
        while len(records) < 1 + 8 * periods:
            boot = await asyncio.to_thread(sup.run_once, cause, wake, epoch, 300)
            line = next((ln for ln in boot.output.splitlines() if ln.startswith("@@DUTY@@ ")), None)
            if boot.exit_code != codes.EXIT_DEEPSLEEP or line is None:
                raise RuntimeError(f"{kit}: duty boot failed:\n{boot.output[-3000:]}")
            records.append(json.loads(line[len("@@DUTY@@ ") :]))
            start = records[-1]["start_ms"]
            if first < 0 and start >= records[0]["start_ms"] + period_ms - 1000:
                first = len(records) - 1
            if first >= 0 and start - records[first]["start_ms"] >= periods * period_ms:
                break
            nxt = sup.next_start(boot)
            assert nxt is not None
            cause, wake, epoch, _wait = nxt
        out[kit] = {
            "power_on": records[0],
            "boots": records[first:-1],
            "end_ms": records[-1]["start_ms"],
            "periods": periods,
        }
        log(f"duty {kit}: {records[first:-1]}")
    return out


def energy(kit_name: str, board_name: str, duty: dict[str, Any]) -> dict[str, Any]:
    """Average current and battery life over the measured sample periods: every boot's
    awake time at the CPU's current (plus the board's boot time), its links at the
    radio's (plus the association time), each load switch's on-time (awake, and held
    through the sleep that follows) at the current of the parts it powers, the
    accelerometer's charge as its simulator integrated it (awake) and its current in
    the mode the firmware left it in (asleep), the DS18B20's and ADS1115's
    conversions, and between boots the board's deep-sleep current plus the other
    parts' standby currents."""
    kit = kits.get_kit(kit_name)
    board = boards.get_board(board_name)
    pw = board.power
    assert kit.battery is not None
    boots = duty["boots"]
    starts = [b["start_ms"] for b in boots] + [duty["end_ms"]]
    total_ms = starts[-1] - starts[0]
    periods = duty["periods"]
    powered = {g.role: sum(kit.part(k).active_ma for k in g.powers) for g in kit.gpio if g.powers}
    standby_ua = sum(p.standby_ua for p in kit.parts if p.key != "accel")
    q = dict.fromkeys(("cpu", "radio", "switched", "accel", "conversions", "sleep"), 0.0)
    awake = link_total = radio = 0.0
    switch_on = dict.fromkeys(powered, 0.0)
    for i, b in enumerate(boots):
        sleep = starts[i + 1] - b["start_ms"] - b["awake_ms"]
        link = sum(lk["ms"] for lk in b["links"])
        air = link + len(b["links"]) * pw.radio_connect_ms
        awake += b["awake_ms"] + pw.boot_ms
        link_total += link
        radio += air
        q["cpu"] += (b["awake_ms"] - link + pw.boot_ms) * pw.active_ma
        q["radio"] += air * pw.radio_connect_ma
        for name, on_ms in b["switch_on_ms"].items():
            on = on_ms + (sleep if name in b["held"] else 0)
            switch_on[name] += on
            q["switched"] += on * powered[name]
        q["accel"] += (b.get("accel_nams", 0) + b.get("accel_sleep_na", 0) * sleep) / 1e6
        for key, n in b["conversions"].items():
            part = kit.part(key)
            q["conversions"] += n * part.active_ma * part.active_ms
        q["sleep"] += sleep * (pw.sleep_ua + standby_ua) / 1000
    avg_ma = sum(q.values()) / total_ms
    bat = kit.battery
    usable = bat.total_mah * bat.usable_pct / 100
    per_year = avg_ma * HOURS_PER_YEAR + bat.total_mah * bat.self_discharge_pct_per_year / 100
    return {
        "board": board_name,
        "period_s": round(total_ms / periods / 1000, 1),
        "boots_per_period": round(len(boots) / periods, 2),
        "awake_ms_per_period": round(awake / periods),
        "link_ms_per_period": round(link_total / periods),
        "radio_ms_per_period": round(radio / periods),
        "switch_on_ms_per_period": {k: round(v / periods) for k, v in switch_on.items()},
        "charge_per_period_mAs": {k: round(v / periods / 1000, 2) for k, v in q.items()},
        "sleep_ua": round(pw.sleep_ua + standby_ua, 2),
        "accel_sleep_ua": [round(b.get("accel_sleep_na", 0) / 1000, 1) for b in boots],
        "avg_ua": round(avg_ma * 1000, 1),
        "usable_mah": usable,
        "years": round(usable / per_year, 2),
    }


def nominal_energy(kit_name: str, board_name: str) -> dict[str, Any]:
    """The baseline: the kit's nominal duty (Kit.duty) with datasheet on-times, one
    connection per batch period, no measured awake or link time."""
    kit = kits.get_kit(kit_name)
    pw = boards.get_board(board_name).power
    assert kit.battery is not None
    sample_s = kit.duty["sample_period_s"]
    batch_s = kit.duty["batch_period_s"]
    samples_per_batch = batch_s / sample_s
    wake_ms = pw.boot_ms + max(p.active_ms for p in kit.parts if p.key != "gas")
    q = samples_per_batch * (
        wake_ms * pw.active_ma + sum(p.active_ma * p.active_ms for p in kit.parts if p.key != "gas")
    )
    gas = [p for p in kit.parts if p.key == "gas"]
    if gas:
        q += batch_s / kit.duty.get("gas_period_s", batch_s) * gas[0].active_ma * gas[0].active_ms
    q += pw.radio_connect_ms * pw.radio_connect_ma
    sleep_ua = pw.sleep_ua + sum(p.standby_ua for p in kit.parts)
    avg_ma = q / (batch_s * 1000) + sleep_ua / 1000
    bat = kit.battery
    usable = bat.total_mah * bat.usable_pct / 100
    per_year = avg_ma * HOURS_PER_YEAR + bat.total_mah * bat.self_discharge_pct_per_year / 100
    return {"avg_ua": round(avg_ma * 1000, 1), "years": round(usable / per_year, 2)}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = subprocess.run(
        [find_micropython(), "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "micropython": version,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="citynerve-node-bench-"))
    try:
        keys = write_keys(work / "keys.json", [node_id(k, t) for k in KITS for t in TAGS])
        port = free_port()
        config = make_config(work, broker=None, keys=keys, tcp={"port": port})
        agent = EdgeAgent(config=config)
        await agent.__aenter__()
        try:
            sizes = mpy_sizes()
            log(f"mpy: {sizes}")
            imports = {kit: import_heap(work, kit) for kit in KITS}
            log(f"import heap: {imports}")
            if args.imports_only:
                return {
                    "app_mpy_bytes": sizes["app_mpy_bytes"],
                    "import_heap": imports,
                    "mpy": sizes,
                    "machine": machine(),
                }
            reads = readings(work, 40 if args.quick else 200)
            heap = await heap_phase(work, port, args.quick)
            duty = await duty_phase(work, port, 2 if args.quick else 4)
            soak = await soak_phase(work, port, args.soak_hours, heap, agent)
        finally:
            await agent.aclose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    years = {k: energy(k, "esp32c3-devkitm-1", duty[k]) for k in duty}
    years_pico = {k: energy(k, "pico-w", duty[k]) for k in duty}
    nominal = {k: nominal_energy(k, "esp32c3-devkitm-1") for k in duty}
    app_peak = max(h["app_peak_bytes"] for h in heap.values())
    result = {
        "heap_peak_bytes": app_peak,
        "app_mpy_bytes": sizes["app_mpy_bytes"],
        "readings_per_s": round(reads[KITS_RUN[0]]["readings_per_s"]),
        "battery_years": {k: v["years"] for k, v in years.items()},
        "goals": {
            "fits_64k_heap": all(h["fits_goal"] for h in heap.values()),
            "app_mpy_le_64k": sizes["app_mpy_bytes"] <= GOAL_MPY,
            "five_years": all(v["years"] >= GOAL_YEARS for v in years.values()),
        },
        "heap": heap,
        "import_heap": imports,
        "mpy": sizes,
        "readings": {
            k: {
                "readings_per_s": round(v["readings_per_s"]),
                "recorder_readings_per_s": round(v["recorder_readings_per_s"]),
                "wire_readings_per_s": round(v["wire_readings_per_s"]),
                "speed": v["speed"],
            }
            for k, v in reads.items()
        },
        "energy_esp32c3": years,
        "energy_pico_w_years": {k: v["years"] for k, v in years_pico.items()},
        "energy_nominal_baseline": nominal,
        "duty": {
            k: {
                "awake_ms": [b["awake_ms"] for b in d["boots"]],
                "links": [b["links"] for b in d["boots"]],
                "switch_on_ms": [b["switch_on_ms"] for b in d["boots"]],
                "held": [b["held"] for b in d["boots"]],
            }
            for k, d in duty.items()
        },
        "soak": soak,
        "machine": machine(),
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak-hours", type=float, default=24.0)
    parser.add_argument("--quick", action="store_true", help="fewer samples and wakes")
    parser.add_argument(
        "--imports-only",
        action="store_true",
        help="only the slot sizes and the import heap (64-bit and 32-bit), in a minute",
    )
    parser.add_argument(
        "--kits", default=",".join(KITS), help="comma-separated kits (default: all three)"
    )
    args = parser.parse_args()
    chosen = tuple(k for k in KITS if k in args.kits.split(","))
    KITS_RUN[:] = chosen
    started = time.monotonic()
    result = asyncio.run(main_async(args))
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
