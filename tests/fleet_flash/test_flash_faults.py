"""Faults while flashing: the cable pulled, the power cut, a line that flips bits,
a device answering garbage, a full flash, the wrong board, another node's board.
Each gives a clear error naming the port; a rerun completes; nothing is marked
installed before its hello."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flash_support import GarbageDevice, NoRawPasteProxy, VirtualBoard

from fleet.bundle import build
from fleet.flash import flow as flow_mod
from fleet.flash.flow import FlashError
from fleet.flash.report import Reporter
from fleet.transport import SerialTransport
from hardware.flash.tool import FlashImage

pytestmark = pytest.mark.micropython


class At(Reporter):
    """Runs ``action`` once, when file ``name`` is half sent (or starts, if small)."""

    def __init__(self, name: str, action: Callable[[], None], *, mid: bool = True) -> None:
        self.name = name
        self.action = action
        self.mid = mid
        self.fired = False
        self.size = 0

    def file_start(self, name: str, size: int, how: str) -> None:
        self.size = size
        if name == self.name and not self.mid:
            self._fire()

    def file_advance(self, name: str, done: int) -> None:
        if name == self.name and self.mid and done < self.size:
            self._fire()

    def _fire(self) -> None:
        if not self.fired:
            self.fired = True
            self.action()


def check_resume_file(state_dir: Path, wo: str) -> None:
    path = state_dir / f"{wo}.json"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700


def test_cable_pulled_mid_copy_then_rerun(
    boards: Any, stack: Any, run_flash: Any, state_dir: Path
) -> None:
    """Pulling the cable while a slot file is half sent: a clear error naming the
    port and saying to rerun; the node is provisioned, not installed; the resume file
    (the key) is 0600. Re-plugged the same command resumes: the files
    already verified are not sent again, no second node is provisioned."""
    board: VirtualBoard = boards()
    port = board.port
    cut = At("a/firmware/app/main.mpy", board.unplug)
    with pytest.raises(FlashError) as err:
        run_flash(board, reporter=cut)
    assert cut.fired
    assert err.value.kind == "disconnected"
    assert port in str(err.value)
    assert "rerun the same command" in str(err.value)
    [node_id] = stack.provisioned()
    assert stack.state(node_id) == "provisioned"
    assert stack.installed() == []
    check_resume_file(state_dir, stack.wo1)

    board.start()  # plugged in again (a new pty: the old one is gone)
    result = run_flash(board)
    assert result.installed and result.node_id == node_id
    assert result.skipped > 10
    assert stack.provisioned() == [node_id]  # no second node for the rerun
    assert stack.installed() == [node_id]
    assert stack.state(node_id) == "installed"
    assert not (state_dir / f"{stack.wo1}.json").exists()


@pytest.mark.parametrize(
    ("where", "mid"),
    [("a/firmware/app/link.mpy", True), ("cfg/node.json", False)],
    ids=["mid-slot-file", "before-config"],
)
def test_power_cut_during_copy_then_rerun(
    boards: Any, stack: Any, run_flash: Any, where: str, mid: bool
) -> None:
    """A power cut (the board process killed) mid-file or just before the config:
    the tool reports that the board stopped answering, naming the port; after power
    comes back the board mounts its flash, the rerun removes partial files,
    completes and installs; the node was never marked installed in between."""
    board: VirtualBoard = boards()
    cut = At(where, board.power_cut, mid=mid)
    with pytest.raises(FlashError) as err:
        run_flash(board, reporter=cut)
    assert err.value.kind == "disconnected"
    assert board.port in str(err.value) and "stopped answering" in str(err.value)
    [node_id] = stack.provisioned()
    assert stack.installed() == [] and stack.state(node_id) == "provisioned"

    notes: list[str] = []

    class Notes(Reporter):
        def note(self, text: str) -> None:
            notes.append(text)

    board.restart()
    result = run_flash(board, reporter=Notes())
    assert result.installed and result.node_id == node_id
    assert stack.provisioned() == [node_id] and stack.installed() == [node_id]
    if mid:
        assert any("partial files" in n for n in notes), notes


def test_line_flipping_bits_is_caught_then_rerun(boards: Any, stack: Any, run_flash: Any) -> None:
    """A serial line that corrupts one chunk: the board's hash of the written file
    does not match, the file is not renamed into place, the error names the port and
    the file; the rerun rewrites just what is missing."""
    board: VirtualBoard = boards()

    class Flipping(SerialTransport):
        puts = 0

        def exec_raw_no_follow(self, code: str | bytes, timeout: float = 10.0) -> None:
            data = code.encode() if isinstance(code, str) else code
            if b"['put']" in data:
                Flipping.puts += 1
                if Flipping.puts == 30:
                    i = data.index(b"('") + 10
                    data = data[:i] + (b"B" if data[i : i + 1] != b"B" else b"C") + data[i + 1 :]
            super().exec_raw_no_follow(data, timeout)

    with pytest.raises(FlashError) as err:
        run_flash(board, connect=Flipping)
    assert err.value.kind == "mismatch", str(err.value)
    assert board.port in str(err.value) and "verification failed" in str(err.value)
    assert ".mpy" in str(err.value)
    result = run_flash(board)
    assert result.installed
    assert result.skipped >= 20 and result.sent < 30


def test_plain_raw_repl_when_the_board_has_no_raw_paste(
    boards: Any, stack: Any, run_flash: Any
) -> None:
    """A board that answers the raw-paste request with R\\x00: the tool falls back to
    the plain raw REPL (as mpremote does) and the flash still completes (here a board
    that already holds the firmware becomes another node: config, verify, hello)."""
    board: VirtualBoard = boards()
    assert run_flash(board).installed
    proxy = NoRawPasteProxy(board.port)
    try:
        result = run_flash(board, port=proxy.port, work_order=stack.wo2, wipe=True)
    finally:
        proxy.close()
    assert proxy.refused == 1  # asked once, then plain raw REPL for the rest
    assert result.installed and result.sent == 3  # the config files


@pytest.mark.parametrize("silent", [False, True], ids=["garbage", "silent"])
def test_device_answering_garbage_or_nothing(
    stack: Any, run_flash: Any, silent: bool, tmp_path: Path
) -> None:
    """Not a MicroPython REPL: a clear error naming the port, before anything is
    provisioned."""
    dev = GarbageDevice(silent=silent)
    try:
        with pytest.raises(FlashError) as err:
            run_flash(None, port=dev.port)
    finally:
        dev.close()
    text = str(err.value)
    assert dev.port in text and "what to do:" in text
    if silent:
        assert "no answer from the device" in text
    else:
        assert "did not answer like a MicroPython REPL" in text
    assert stack.provisioned() == []


def test_flash_full_is_found_before_copying(boards: Any, stack: Any, run_flash: Any) -> None:
    """A board with a small flash: statvfs says the node cannot fit; the error says so
    with the numbers, before a node is provisioned or a file written."""
    board: VirtualBoard = boards(blocks=96)
    with pytest.raises(FlashError) as err:
        run_flash(board)
    assert err.value.kind == "flash-full"
    assert board.port in str(err.value) and "not enough flash" in str(err.value)
    assert "KiB" in str(err.value) and "--wipe" in str(err.value)
    assert stack.provisioned() == []


def test_flash_full_during_copy(
    boards: Any, stack: Any, run_flash: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the flash fills up during the copy anyway (the estimate was off), the
    board's ENOSPC becomes the same clear error, the partial file is removed and the
    node is not marked installed."""
    board: VirtualBoard = boards(blocks=96)
    monkeypatch.setattr(flow_mod._Flow, "check_space", lambda *a, **k: None)
    with pytest.raises(FlashError) as err:
        run_flash(board)
    assert err.value.kind == "flash-full"
    assert board.port in str(err.value) and "flash is full while" in str(err.value)
    assert stack.installed() == []
    from test_flash_e2e import mpremote

    tree = mpremote(board.port, "fs", "tree", ":")
    assert ".part" not in tree


def test_wrong_board(boards: Any, stack: Any, run_flash: Any) -> None:
    """--board pico-w on an ESP32-C3: refused, naming both, before provisioning."""
    board: VirtualBoard = boards()
    with pytest.raises(FlashError) as err:
        run_flash(board, board="pico-w")
    text = str(err.value)
    assert err.value.kind == "wrong-board"
    assert board.port in text and "esp32c3-devkitm-1" in text and "pico-w" in text
    assert stack.provisioned() == []


def test_a_bundle_without_the_work_orders_kit(boards: Any, stack: Any, run_flash: Any) -> None:
    """A bundle built for the hydrant kit only, for an elevator work order: refused with
    the kits named and what to do, before a node is provisioned (none is left in the
    registry, never flashed) and before anything is written to the board."""
    board: VirtualBoard = boards()
    with pytest.raises(FlashError) as err:
        run_flash(board, bundle=build(kits=["hydrant"]))
    assert err.value.kind == "wrong-kit"
    text = str(err.value)
    assert "holds the code of the hydrant kit(s)" in text and "elevator node" in text
    assert "--kit elevator" in text
    assert stack.provisioned() == []
    assert "loader.py" not in FlashImage(board.image).listdir()


def test_a_kit_other_than_the_work_orders(boards: Any, stack: Any, run_flash: Any) -> None:
    """--kit hydrant for an elevator work order: refused, naming both kits, before a
    node is provisioned and before anything is written to the board."""
    board: VirtualBoard = boards()
    with pytest.raises(FlashError) as err:
        run_flash(board, kit="hydrant")
    assert err.value.kind == "wrong-kit"
    assert f"work order {stack.wo1} is for an elevator node, not hydrant" in str(err.value)
    assert "drop --kit" in str(err.value)
    assert stack.provisioned() == []
    assert "loader.py" not in FlashImage(board.image).listdir()


def test_an_unknown_work_order(boards: Any, stack: Any, run_flash: Any) -> None:
    """A work order the registry does not know: the registry's 404 names the work order
    and says what to check; nothing is provisioned or written."""
    board: VirtualBoard = boards()
    with pytest.raises(FlashError) as err:
        run_flash(board, work_order="99999")
    text = str(err.value)
    assert "work order 99999" in text and "check the work order" in text, text
    assert stack.provisioned() == []
    assert "loader.py" not in FlashImage(board.image).listdir()


def test_another_nodes_board_needs_wipe(boards: Any, stack: Any, run_flash: Any) -> None:
    """A board that is already an installed node is not silently overwritten by the
    next work order: the error names the node; with --wipe its identity and queue go
    and it becomes the new node (the unchanged firmware files are kept)."""
    board: VirtualBoard = boards()
    first = run_flash(board)
    assert first.installed
    with pytest.raises(FlashError) as err:
        run_flash(board, work_order=stack.wo2)
    assert err.value.kind == "other-node"
    assert first.node_id in str(err.value) and "--wipe" in str(err.value)
    second = run_flash(board, work_order=stack.wo2, wipe=True)
    assert second.installed and second.node_id != first.node_id
    assert second.skipped >= 80  # firmware and loader kept; only the config written
    assert stack.state(second.node_id) == "installed"
    assert stack.state(first.node_id) == "installed"  # the registry's business, not ours


def test_port_busy(stack: Any, run_flash: Any) -> None:
    """Another program holds the port: say so, naming the port, before anything."""
    import serial

    dev = GarbageDevice(silent=True)
    holder = serial.Serial(dev.port, 115200, exclusive=True)
    try:
        with pytest.raises(FlashError) as err:
            run_flash(None, port=dev.port)
    finally:
        holder.close()
        dev.close()
    assert f"{dev.port}: the port is busy" in str(err.value)
    assert "close the other program" in str(err.value)
    assert stack.provisioned() == []


def test_lost_resume_file_then_node_option_and_hard_reset(
    boards: Any, stack: Any, run_flash: Any, state_dir: Path
) -> None:
    """The laptop lost the resume file after an interrupted flash: --node ID has the
    registry re-provision the same node (a fresh key), the flash completes; a hard
    reset (machine.reset()) starts the node as well."""
    board: VirtualBoard = boards()
    with pytest.raises(FlashError):
        run_flash(board, reporter=At("a/firmware/app/main.mpy", board.unplug))
    [node_id] = stack.provisioned()
    (state_dir / f"{stack.wo1}.json").unlink()
    board.start()
    result = run_flash(board, node=node_id, reset="hard")
    assert result.installed and result.node_id == node_id
    assert stack.provisioned() == [node_id, node_id]
    assert stack.installed() == [node_id]


def test_ctrl_c_on_the_laptop_mid_paste_then_rerun(boards: Any, stack: Any, run_flash: Any) -> None:
    """The technician presses Ctrl-C while code is half pasted into the board: the
    board is left inside raw-paste mode; the rerun's Ctrl-C gets it out and the flash
    completes."""
    board: VirtualBoard = boards()

    class Interrupted(SerialTransport):
        writes = 0
        fired = False

        def write(self, data: bytes) -> None:
            Interrupted.writes += 1
            if Interrupted.writes >= 200 and len(data) > 64 and not Interrupted.fired:
                Interrupted.fired = True
                super().write(data[: len(data) // 2])
                raise KeyboardInterrupt
            super().write(data)

    with pytest.raises(KeyboardInterrupt):
        run_flash(board, connect=Interrupted)
    assert stack.installed() == []
    result = run_flash(board)
    assert result.installed and result.skipped > 0


def test_no_hello_is_not_installed_then_rerun(
    boards: Any, stack: Any, run_flash: Any, state_dir: Path, tmp_path: Path
) -> None:
    """The edge agent is down: the node is flashed and verified but says no hello;
    the error says so (and that it is NOT marked installed), the registry agrees.
    With the edge back, the same command sends nothing again, resets the node and
    marks it installed after its hello."""
    from flash_support import EdgeThread

    board: VirtualBoard = boards()
    port = stack.edge.port
    stack.edge.stop()
    with pytest.raises(FlashError) as err:
        run_flash(board, hello_timeout=3.0)
    assert err.value.kind == "no-hello"
    text = str(err.value)
    assert board.port in text and "did not say hello" in text and "NOT marked installed" in text
    [node_id] = stack.provisioned()
    assert stack.state(node_id) == "provisioned" and stack.installed() == []
    assert (state_dir / f"{stack.wo1}.json").exists()

    stack.edge = EdgeThread(tmp_path, stack.fleet.keys_file, mqtt_port=stack.broker.port, port=port)
    result = run_flash(board)
    assert result.installed and result.sent == 0 and result.skipped == result.files
    assert stack.installed() == [node_id]
