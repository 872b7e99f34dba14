"""Helpers of the firmware tests: virtual boards running test entries, flash images,
node processes whose events are watched live, the edge journal counted by key."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fleet.bundle import manifest
from hardware.flash.tool import FlashImage
from hardware.hal.codes import EXIT_DEEPSLEEP
from hardware.hal.supervisor import BOOT, find_micropython

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MP = HERE / "mp"
EVENT = "@@EV@@ "
RESULT = "@@RESULT@@ "
BOOT_MARK = "@@BOOT@@ "


def board_config(
    path: Path,
    *,
    entry: str,
    image: Path,
    blocks: int = 64,
    block_size: int = 4096,
    speed: float = 1.0,
    uart: dict[str, Any] | None = None,
    fmt: str = "if_blank",
) -> Path:
    """A hardware/hal/boot.py config running ``entry`` from tests/firmware/mp."""
    cfg: dict[str, Any] = {
        "entry": entry,
        "paths": [str(MP)],
        "flash": {"image": str(image), "blocks": blocks, "block_size": block_size, "format": fmt},
        "speed": speed,
    }
    if uart:
        cfg["uart"] = uart
    path.write_text(json.dumps(cfg))
    return path


class NodeProcess:
    """``micropython hardware/hal/boot.py CONFIG`` with its output read live."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        full = {k: v for k, v in os.environ.items() if not k.startswith("CITYNERVE_")}
        full.pop("MICROPYPATH", None)
        full.update(env or {})
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [find_micropython(), str(BOOT), str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full,
            cwd=config.parent,
        )
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            with self.lock:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            lines = list(self.lines)
        out = [json.loads(ln[len(EVENT) :]) for ln in lines if ln.startswith(EVENT)]
        return [e for e in out if kind is None or e["ev"] == kind]

    def result(self) -> Any:
        with self.lock:
            for ln in reversed(self.lines):
                if ln.startswith(RESULT):
                    return json.loads(ln[len(RESULT) :])
        return None

    def output(self) -> str:
        with self.lock:
            return "\n".join(self.lines)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self.reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def until(
    pred: Callable[[], bool], within: float, what: str, node: NodeProcess | None = None
) -> None:
    """Wait (asynchronously) until pred() holds; fail naming ``what`` (and showing the end
    of the node's output)."""
    import asyncio

    deadline = time.monotonic() + within
    while not pred():
        if time.monotonic() > deadline:
            tail = node.output()[-3000:] if node is not None else ""
            raise AssertionError(f"timed out after {within} s waiting for {what}\n{tail}")
        await asyncio.sleep(0.02)


def journal_keys(state_dir: Path) -> dict[tuple[str, int, int], int]:
    """(node, epoch, seq) -> rows in an edge agent's SQLite journal."""
    db = state_dir / "journal.sqlite"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT node, epoch, seq, COUNT(*) FROM journal GROUP BY node, epoch, seq"
        ).fetchall()
    finally:
        conn.close()
    return {(r[0], int(r[1]), int(r[2])): int(r[3]) for r in rows}


def loader_image(
    tmp: Path,
    plan: dict[str, str],
    *,
    replace: dict[str, str] | None = None,
    corrupt: dict[str, str | bytes] | None = None,
    drop: tuple[str, ...] = (),
    speed: float = 1000.0,
) -> tuple[FlashImage, Path]:
    """A flash image with the real loader at the root and the stub app of
    tests/firmware/mp/stub_app.py in slots a, b and base, each with its
    manifest.json; ``plan`` maps a boot number to the stub's steps.
    ``replace`` changes a slot's files as installed (its manifest agrees: a
    whole slot whose code is bad); ``corrupt`` and ``drop`` damage files after
    the install (the manifest no longer agrees)."""
    stub = (MP / "stub_app.py").read_text()
    files: dict[str, bytes | str] = {
        "main.py": "import loader\n\nloader.boot()\n",
        "loader.py": (REPO / "firmware" / "loader.py").read_text(),
        "plan.json": json.dumps(plan),
    }
    for slot in ("a", "b", "base"):
        files[f"{slot}/firmware/__init__.py"] = ""
        files[f"{slot}/firmware/app/__init__.py"] = ""
        files[f"{slot}/firmware/app/main.py"] = stub
    files.update(replace or {})
    for slot in ("a", "b", "base"):
        inside = {
            name[len(slot) + 1 :]: data.encode() if isinstance(data, str) else data
            for name, data in files.items()
            if name.startswith(slot + "/")
        }
        files[f"{slot}/manifest.json"] = manifest(inside, "0.0.0-stub")
    files.update(corrupt or {})
    for name in drop:
        files.pop(name)
    image = FlashImage(tmp / "loader.img", blocks=64)
    image.create()
    image.format()
    image.write_files(files)
    config = tmp / "loader.board.json"
    config.write_text(
        json.dumps(
            {
                "entry": "main",
                "flash": {"image": str(image.path), "blocks": 64, "format": "never"},
                "speed": speed,
            }
        )
    )
    return image, config


def boot_records(output: str) -> list[dict[str, Any]]:
    """What the stub app reported at each start it saw in ``output``."""
    return [
        json.loads(ln[len(BOOT_MARK) :]) for ln in output.splitlines() if ln.startswith(BOOT_MARK)
    ]


def flash_remove(image: Path, names: list[str], block_size: int = 4096) -> None:
    """Delete files from a littlefs flash image (through the real littlefs)."""
    script = (
        "import sys, os, vfs\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from hardware.flash import nor\n"
        f"bdev = nor.NorFlash({str(image)!r}, {block_size})\n"
        "vfs.mount(vfs.VfsLfs2(bdev), '/flash')\n"
        f"for name in {names!r}:\n"
        "    os.remove('/flash/' + name)\n"
        "vfs.umount('/flash')\n"
        "bdev.close()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
    proc = subprocess.run(
        [find_micropython(), "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"removing {names} from {image}: {proc.stdout}{proc.stderr}")


class BoardRun:
    """A virtual board under its Supervisor in a background thread (deep sleeps and
    resets restart it), stoppable from the test."""

    def __init__(self, config: Path, *, heapsize: str | None = None) -> None:
        from hardware.hal.supervisor import Supervisor

        self.sup = Supervisor(config, heapsize=heapsize)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def start(self, *, max_boots: int = 10_000, timeout: float = 300.0) -> BoardRun:
        def run() -> None:
            try:
                self.sup.run(max_boots=max_boots, timeout=timeout)
            except BaseException as e:
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def world_s(self) -> float:
        """Simulated seconds since the scenario's origin at the end of the last boot."""
        boots = list(self.sup.boots)
        if not boots:
            return 0.0
        world = boots[-1].exit_record.get("world_ms")
        if not isinstance(world, int | float):
            return 0.0
        return float(world) / 1000.0 - self.sup.origin

    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self) -> None:
        self.sup.stop()
        if self.thread is not None:
            self.thread.join(15)

    def output(self) -> str:
        return "".join(b.output for b in self.sup.boots)

    async def until(self, done: Callable[[list[Any]], bool], real_s: float, what: str) -> list[Any]:
        """Wait until ``done(boots)`` holds for the boots so far (checked every 50 ms of
        real time) and return them; fail at once when a boot ended other than in a deep
        sleep (its output shown), and after ``real_s`` naming ``what``."""
        import asyncio

        deadline = time.monotonic() + real_s
        while time.monotonic() < deadline:
            if self.error is not None:
                raise self.error
            boots = list(self.sup.boots)
            if boots and boots[-1].exit_code not in (None, EXIT_DEEPSLEEP):
                raise AssertionError("the board crashed:\n" + self.output()[-3000:])
            if done(boots):
                return boots
            await asyncio.sleep(0.05)
        raise AssertionError(f"the board did not reach {what} in {real_s} s")

    async def until_asleep_after(self, world_s: float, real_s: float) -> list[Any]:
        """Wait for a deep sleep after world_s scenario seconds (a battery node's cycle
        is never cut short); the boots so far."""
        return await self.until(
            lambda boots: (
                bool(boots) and boots[-1].exit_code is not None and self.world_s() >= world_s
            ),
            real_s,
            f"a deep sleep after {world_s} s of scenario",
        )

    def live(self) -> str:
        """Everything the board printed so far, the running boot included."""
        return self.sup.live_output()


def heap_records(output: str) -> list[dict[str, Any]]:
    """The @@HEAP@@ records of tests/firmware/mp/heap_entry.py and sims_entry.py."""
    out = []
    for ln in output.splitlines():
        if ln.startswith("@@HEAP@@ {"):
            out.append(json.loads(ln[len("@@HEAP@@ ") :]))
    return out


def with_entry(config: Path, entry: str, name: str) -> Path:
    """A copy of a virtual node's board config whose entry is a module of
    tests/firmware/mp (which then starts the flash's main.py itself, or not)."""
    cfg = json.loads(config.read_text())
    cfg["entry"] = entry
    cfg["paths"] = [str(MP)]
    path = config.with_name(name)
    path.write_text(json.dumps(cfg))
    return path


class EdgeNode:
    """A virtual node provisioned for a real in-process edge agent on loopback (see
    :func:`edge_node`); with a broker, also a subscriber to everything the platform
    receives under the agent's prefix."""

    def __init__(self, agent: Any, port: int, prefix: str) -> None:
        self.agent = agent
        self.port = port
        self.prefix = prefix
        self.node: Any = None  # hardware.virtual_board.VirtualNode once prepared
        self.run: BoardRun | None = None
        self.sub: Any = None  # edge_helpers.Subscriber with a broker

    def start(
        self,
        *,
        timeout: float,
        heapsize: str | None = None,
        config: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> BoardRun:
        """Run the board (after the test has changed its flash, if it wants to), from
        the node's board config or from ``config`` (the same board with a probe entry),
        with ``env`` added to the board process's environment."""
        self.run = BoardRun(config or self.node.config_path, heapsize=heapsize)
        self.run.sup.extra_env.update(env or {})
        return self.run.start(timeout=timeout)


@contextlib.asynccontextmanager
async def edge_node(
    tmp_path: Path,
    node_id: str,
    *,
    broker: Any = None,
    edge_port: int | None = None,
    **prepare_kw: Any,
) -> AsyncIterator[EdgeNode]:
    """An edge agent for ``node_id`` (its keys file, a free TCP port, ingest only unless
    a broker is given) and the node provisioned for it with
    ``hardware.virtual_board.prepare(**prepare_kw)``, edge and image filled in; the node
    is not started (``EdgeNode.start``). Everything is stopped on the way out.
    ``edge_port`` points the node at another port (an edge that never answers)."""
    from edge_helpers import Subscriber, free_port, make_config, write_keys

    from edge_agent.agent import EdgeAgent
    from hardware.virtual_board import prepare

    port = free_port()
    keys = write_keys(tmp_path / "keys.json", [node_id])
    config = make_config(tmp_path, broker=broker, keys=keys, tcp={"port": port})
    agent = EdgeAgent(config=config)
    await agent.__aenter__()
    edge = EdgeNode(agent, port, config.mqtt.prefix)
    try:
        if broker is not None:
            edge.sub = Subscriber(broker.port, f"{edge.prefix}/#", client_id=f"fw-{port}")
        prepare_kw.setdefault("image", tmp_path / "node.img")
        edge.node = prepare(edge=("127.0.0.1", edge_port or port), node_id=node_id, **prepare_kw)
        yield edge
    finally:
        if edge.run is not None:
            edge.run.stop()
        if edge.sub is not None:
            edge.sub.close()
        await agent.aclose()
