"""``fleet flash`` and ``fleet discover``: the technician's commands.

``fleet.cli`` calls :func:`register` with its subparsers; every parser added
here sets ``func`` to a callable taking the parsed arguments and returning the
exit status: 0 done, 1 the flash or discovery failed (the message names the port
and says what to do), 2 bad arguments, 130 interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleet import bundle as bundle_mod

KITS = ("elevator", "hydrant", "manhole")
WORK_ORDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Subparsers = Any  # argparse._SubParsersAction[argparse.ArgumentParser]


def _positive(kind: str) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind}: expected seconds, got {text!r}") from None
        if not value > 0 or value > 86400:
            raise argparse.ArgumentTypeError(f"{kind}: expected 0 < seconds <= 86400, got {text}")
        return value

    return parse


def _baud(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a baud rate, got {text!r}") from None
    if not 300 <= value <= 4_000_000:
        raise argparse.ArgumentTypeError(f"expected 300..4000000, got {value}")
    return value


def _pattern(regex: re.Pattern[str], what: str) -> Any:
    def parse(text: str) -> str:
        if not regex.match(text):
            raise argparse.ArgumentTypeError(
                f"{what} must be 1-64 letters, digits, '.', '_' or '-', got {text!r}"
            )
        return text

    return parse


def _port(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the serial port is empty: e.g. /dev/ttyUSB0")
    return text


def _site(text: str) -> str:
    if not text.strip() or len(text) > 200:
        raise argparse.ArgumentTypeError("the site must be 1-200 characters")
    return text


def register(commands: Subparsers) -> None:
    """Add ``flash`` and ``discover`` to the ``fleet`` command line."""
    p = commands.add_parser(
        "flash",
        help="flash, provision and install a node over a serial cable",
        description=(
            "Install the node firmware on a board connected over a serial cable, provision "
            "it for a work order, verify every file on the board, reset it, wait for its "
            "first hello through its edge agent and mark it installed. Safe to rerun after "
            "an interruption: it resumes."
        ),
    )
    p.add_argument("--port", required=True, type=_port, help="serial port, e.g. /dev/ttyUSB0")
    p.add_argument(
        "--work-order",
        required=True,
        type=_pattern(WORK_ORDER, "--work-order"),
        help="the work order this node belongs to",
    )
    p.add_argument(
        "--kit",
        choices=KITS,
        help="check that the work order is for this kit; a bundle built here then holds "
        "this kit's code only",
    )
    p.add_argument(
        "--site", type=_site, help="where the node is installed (default: the work order's)"
    )
    p.add_argument(
        "--board", choices=sorted(bundle_mod.BOARDS), help="expected board (default: detected)"
    )
    p.add_argument(
        "--node",
        type=_pattern(NODE_ID, "--node"),
        help="re-provision this node id (an interrupted flash whose resume file is lost)",
    )
    p.add_argument("--hw-rev", help="the board's hardware revision")
    p.add_argument(
        "--api",
        metavar="URL",
        help="fleet API base URL (default $FLEET_API_URL, else http://127.0.0.1:8700)",
    )
    p.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help="file (mode 0600) holding your technician token "
        "(default: $FLEET_TOKEN, or the file named by $FLEET_TOKEN_FILE)",
    )
    p.add_argument(
        "--bundle", type=Path, metavar="DIR", help="a saved release bundle (default: build one)"
    )
    p.add_argument("--baud", type=_baud, default=115200, help="serial speed (115200)")
    p.add_argument(
        "--hello-timeout",
        type=_positive("--hello-timeout"),
        default=120.0,
        metavar="S",
        help="how long to wait for the node's first hello (120 s)",
    )
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="reset and stop: do not wait for the hello (the node is then not marked installed)",
    )
    p.add_argument(
        "--wipe",
        action="store_true",
        help="erase what another node left on the board (its identity and queued readings)",
    )
    p.add_argument(
        "--reset",
        choices=("soft", "hard"),
        default="soft",
        help="soft: Ctrl-D (default); hard: machine.reset()",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where resume files are kept (default ~/.local/state/citynerve/flash)",
    )
    p.add_argument(
        "--micropython-image",
        type=Path,
        metavar="FILE",
        help="first install MicroPython itself (.bin for ESP32-C3 via esptool, .uf2 for Pico W)",
    )
    p.add_argument(
        "--uf2-drive", type=Path, metavar="DIR", help="the Pico's RPI-RP2 drive (default: found)"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be done (commands, files) and stop without touching anything",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_flash, _parser=p)

    d = commands.add_parser(
        "discover",
        help="list the edge agents on the network (zeroconf)",
        description="Browse for _citynerve-edge._tcp services and list the edge agents found.",
    )
    d.add_argument(
        "--timeout",
        type=_positive("--timeout"),
        default=3.0,
        metavar="S",
        help="how long to listen (3 s)",
    )
    d.add_argument(
        "--interface",
        action="append",
        metavar="IP",
        help="browse on this interface address only (repeatable; default: all)",
    )
    d.add_argument("--json", action="store_true", help="print JSON")
    d.set_defaults(func=cmd_discover, _parser=d)


def _fail(text: str, hint: str = "", code: int = 1) -> int:
    print(f"fleet: error: {text}", file=sys.stderr)
    if hint:
        print(f"  what to do: {hint}", file=sys.stderr)
    return code


def _read_token(path: Path, parser: argparse.ArgumentParser, what: str) -> str:
    try:
        st = path.stat()
        text = path.read_text().strip()
    except OSError as e:
        parser.error(f"{what} {path}: {e.strerror}")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        parser.error(
            f"{what} {path}: mode {stat.S_IMODE(st.st_mode):04o} lets others read your token; "
            f"chmod 600 {path}"
        )
    if not text:
        parser.error(f"{what} {path} is empty")
    return text


def _token(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    from fleet.flash.registry_client import TOKEN_ENV, TOKEN_FILE_ENV  # noqa: PLC0415

    if args.token_file is not None:
        return _read_token(args.token_file, parser, "--token-file")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    path = os.environ.get(TOKEN_FILE_ENV, "")
    if path:
        return _read_token(Path(path), parser, f"${TOKEN_FILE_ENV}")
    parser.error(f"no token: give --token-file PATH, or set {TOKEN_ENV} or {TOKEN_FILE_ENV}")


def cmd_flash(args: argparse.Namespace) -> int:
    """``fleet flash``."""
    from fleet.flash import baseimage  # noqa: PLC0415
    from fleet.flash.flow import FlashError, FlashOptions, flash, load_bundle  # noqa: PLC0415
    from fleet.flash.registry_client import (  # noqa: PLC0415
        DEFAULT_URL,
        URL_ENV,
        HttpRegistry,
        RegistryError,
    )
    from fleet.flash.report import Reporter, RichReporter  # noqa: PLC0415
    from fleet.flash.resume import ResumeStore  # noqa: PLC0415

    parser: argparse.ArgumentParser = args._parser
    api = args.api or os.environ.get(URL_ENV, "") or DEFAULT_URL
    if not re.match(r"^https?://[^/\s]+", api):
        parser.error(f"--api: expected http(s)://HOST[:PORT], got {api!r}")
    if args.uf2_drive is not None and args.micropython_image is None:
        parser.error("--uf2-drive goes with --micropython-image")
    if args.bundle is not None and not args.bundle.is_dir():
        parser.error(f"--bundle {args.bundle}: not a directory")
    if args.micropython_image is not None and args.board is None:
        parser.error("--micropython-image needs --board (a blank board cannot say what it is)")
    token = "" if args.dry_run else _token(args, parser)

    if args.micropython_image is not None:
        try:
            step = baseimage.plan(
                args.board, args.micropython_image, args.port, uf2_drive=args.uf2_drive
            )
        except baseimage.BaseImageError as e:
            return _fail(e.message, e.hint)
        print(f"would run: {step.describe()}" if args.dry_run else f"running: {step.describe()}")
        if not args.dry_run:
            try:
                baseimage.run(step, port=args.port)
            except baseimage.BaseImageError as e:
                return _fail(e.message, e.hint)

    try:
        bundle = load_bundle(args.bundle, kit=args.kit)
    except FlashError as e:
        return _fail(e.message, e.hint)
    if args.dry_run:
        print(
            f"would install bundle {bundle.version} ({len(bundle.files)} slot files, "
            f"{bundle.size} bytes; boards {', '.join(bundle.boards)}; "
            f"kits {', '.join(bundle.kits)}) on {args.port} "
            f"for work order {args.work_order} via {api}"
        )
        return 0
    opts = FlashOptions(
        port=args.port,
        work_order=args.work_order,
        api=api.rstrip("/"),
        kit=args.kit,
        site=args.site,
        board=args.board,
        node=args.node,
        hw_rev=args.hw_rev,
        baud=args.baud,
        hello_timeout=args.hello_timeout,
        wait_hello=not args.no_wait,
        wipe=args.wipe,
        reset=args.reset,
    )
    try:
        registry = HttpRegistry(opts.api, token)
    except RegistryError as e:
        return _fail(e.message, e.hint, 2)
    reporter = Reporter() if args.quiet else RichReporter()
    try:
        result = flash(
            opts,
            bundle=bundle,
            registry=registry,
            reporter=reporter,
            store=ResumeStore(args.state_dir),
        )
    except FlashError as e:
        return _fail(e.message, e.hint)
    except KeyboardInterrupt:
        return _fail("interrupted", "run the same command again: it resumes where it stopped", 130)
    summary = {
        "node": result.node_id,
        "board": result.board,
        "installed": result.installed,
        "files": result.files,
        "sent": result.sent,
        "copied_on_board": result.copied,
        "already_there": result.skipped,
        "bytes_sent": result.bytes_sent,
        "seconds": round(result.seconds, 1),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        state = "installed" if result.installed else "flashed (not marked installed)"
        print(
            f"node {result.node_id} {state}: {result.files} files verified "
            f"({result.sent} sent, {result.copied} copied on the board, "
            f"{result.skipped} already there) in {result.seconds:.1f} s"
        )
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    """``fleet discover``."""
    from fleet.discover import DiscoverError, discover  # noqa: PLC0415

    try:
        edges = discover(args.timeout, args.interface)
    except DiscoverError as err:
        return _fail(str(err), "check the network interface (--interface IP)")
    if args.json:
        print(json.dumps([edge.as_dict() for edge in edges]))
        return 0 if edges else 1
    if not edges:
        return _fail(
            f"no edge agents answered within {args.timeout:g} s",
            "check that the laptop is on the district's network (same LAN/VLAN as the edge "
            "agent, mDNS not blocked) and that the edge agent runs with discovery enabled; "
            "try a longer --timeout",
        )
    print(f"{'EDGE':<24} {'DISTRICT':<16} {'PROTO':<6} ENDPOINTS")
    for edge in edges:
        print(
            f"{edge.edge:<24} {edge.district:<16} {edge.protocol:<6} {', '.join(edge.endpoints())}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fleet.flash``: these two commands alone."""
    parser = argparse.ArgumentParser(prog="fleet")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(commands)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code
