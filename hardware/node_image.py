"""Provision a virtual node's flash image: loader, app slot, base image, config.

The layout is the one a technician's ``fleet flash`` writes to a board (see
``firmware/loader.py``): ``main.py`` + ``loader.py`` at the root, the firmware
package compiled with the real ``mpy-cross`` into app slot ``a/`` and into the
safe-mode base image ``base/``, and the provisioned ``cfg/node.json``,
``cfg/key.bin`` and ``cfg/board.json``; the slots hold the modules of the node's
kit only. Each slot carries a ``manifest.json``
with every file's size and SHA-256. The bundle and the layout come from
:mod:`fleet.bundle`, the same code ``fleet flash`` installs with.
"""

from __future__ import annotations

from fleet.bundle import MAIN_PY, BundleError, compile_firmware, manifest, node_files
from fleet.bundle import build as build_bundle
from hardware.flash.tool import FlashImage
from hardware.kits import board_file

__all__ = ["MAIN_PY", "ImageError", "compile_firmware", "manifest", "node_config", "provision"]


class ImageError(BundleError):
    """The image could not be provisioned; the message names the file and step."""


def node_config(
    *,
    node_id: str,
    kit: str,
    edge_tcp: str | None = None,
    edge_uart: int | None = None,
    sample_s: int | None = None,
    batch_readings: int | None = None,
) -> dict[str, object]:
    """The provisioned node config (cfg/node.json)."""
    if (edge_tcp is None) == (edge_uart is None):
        raise ImageError("give exactly one edge endpoint: a TCP HOST:PORT or a serial UART id")
    edge: dict[str, object] = (
        {"tcp": [edge_tcp]} if edge_tcp is not None else {"serial": {"uart": edge_uart}}
    )
    cfg: dict[str, object] = {"format": 1, "node_id": node_id, "kit": kit, "edge": edge}
    if sample_s is not None:
        cfg["sample_s"] = sample_s
    if batch_readings is not None:
        cfg["batch_readings"] = batch_readings
    return cfg


def provision(
    image: FlashImage,
    *,
    config: dict[str, object],
    key: bytes,
    board: str,
    version: str = "0.1.0",
) -> None:
    """Write loader, slot a, base image and config into the image (formats it first);
    the slots hold the code of the node's kit only."""
    kit = str(config["kit"])
    bundle = build_bundle(version, kits=[kit])
    files = node_files(bundle, config=config, key=key, board_file=board_file(board, kit))
    image.create()
    image.format()
    image.write_files(dict(files))
