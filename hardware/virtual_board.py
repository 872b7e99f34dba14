"""A virtual node: the real ``micropython`` running the firmware on simulated chips.

:func:`prepare` provisions the flash image (when it holds no node yet) and
writes the board config for :mod:`hardware.hal.boot`; :func:`make_supervisor`
returns the :class:`~hardware.hal.supervisor.Supervisor` that runs and restarts
the board (deep sleep, watchdog, resets), optionally with a REPL console on a
pty that behaves like a board's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hardware.boards import get_board
from hardware.flash.tool import FlashImage, FlashToolError
from hardware.hal.supervisor import Supervisor
from hardware.kits import KITS, board_file
from hardware.node_image import node_config, provision
from hardware.scenarios import names as scenario_names
from hardware.virtual_node import demo_key

DEFAULT_BOARD = "esp32c3-devkitm-1"
FLASH_BLOCKS = 512


class VirtualNodeError(ValueError):
    """A virtual node cannot be set up as asked; the message says what to change."""


@dataclass(frozen=True, slots=True)
class VirtualNode:
    """What :func:`prepare` made."""

    node_id: str
    kit: str
    board: str
    image: Path
    config_path: Path
    provisioned: bool


def check_scenario(kit: str, scenario: str) -> str:
    """The full scenario name (``kit.name``), or a clear error listing the choices."""
    full = scenario if "." in scenario else f"{kit}.{scenario}"
    known = scenario_names(kit)
    if full not in known:
        raise VirtualNodeError(
            f"unknown scenario {scenario!r} for kit {kit} (known: {', '.join(sorted(known))})"
        )
    return full


def prepare(
    *,
    kit: str,
    scenario: str,
    image: Path,
    board: str = DEFAULT_BOARD,
    edge: tuple[str, int] | None = None,
    serial: str | None = None,
    speed: float = 1.0,
    node_id: str | None = None,
    sample_s: int | None = None,
    batch_readings: int | None = None,
    reprovision: bool = False,
) -> VirtualNode:
    """Provision ``image`` if needed and write ``IMAGE.board.json`` next to it."""
    if kit not in KITS:
        raise VirtualNodeError(f"unknown kit {kit!r} (known: {', '.join(sorted(KITS))})")
    full = check_scenario(kit, scenario)
    if (edge is None) == (serial is None):
        raise VirtualNodeError("give exactly one of --edge HOST:PORT and --serial PTY")
    if speed < 1:
        raise VirtualNodeError(f"--speed must be at least 1, got {speed}")
    try:
        bfile = board_file(board, kit)
    except KeyError as e:
        raise VirtualNodeError(str(e.args[0])) from None
    node = node_id or f"ja-{kit[:3]}-000001"
    image = image.resolve()
    link_uart = None
    if serial is not None:
        uarts = bfile.get("uart", {})
        if "link" not in uarts:
            raise VirtualNodeError(
                f"kit {kit} on {board} has no serial link UART: use --edge HOST:PORT"
            )
        link_uart = uarts["link"]["id"]
    flash = FlashImage(image, blocks=FLASH_BLOCKS)
    provisioned = False
    if reprovision or not image.exists() or not _has_node(flash):
        cfg = node_config(
            node_id=node,
            kit=kit,
            edge_tcp=f"{edge[0]}:{edge[1]}" if edge is not None else None,
            edge_uart=link_uart,
            sample_s=sample_s,
            batch_readings=batch_readings,
        )
        provision(flash, config=cfg, key=demo_key(node), board=board)
        provisioned = True
    # No "wake_pins": as on a board, only the pins the firmware arms before a
    # deep sleep end it, armed the board's way (deep_wake) on the pins that can
    # wake it.
    facts = get_board(board)
    config: dict[str, object] = {
        "entry": "main",
        "flash": {"image": str(image), "blocks": FLASH_BLOCKS, "format": "never"},
        "speed": speed,
        "setup": "hardware.sim.attach:setup",
        "scenario": full,
        "kit": kit,
        "board": board,
        "node": node,
        "deep_wake": facts.deep_wake,
        "deep_wake_pins": sorted(facts.wake),
    }
    if serial is not None:
        config["uart"] = {str(link_uart): {"path": serial}}
    config_path = image.with_name(image.name + ".board.json")
    config_path.write_text(json.dumps(config, indent=1))
    return VirtualNode(node, kit, board, image, config_path, provisioned)


def _has_node(flash: FlashImage) -> bool:
    try:
        return "node.json" in flash.listdir("cfg")
    except FlashToolError:
        return False


def make_supervisor(node: VirtualNode, *, console: bool = False) -> Supervisor:
    """The supervisor that runs the board (restarting it after sleeps and resets)."""
    return Supervisor(
        node.config_path,
        console=console,
        on_output=None if console else (lambda text: print(text, end="", flush=True)),
    )
