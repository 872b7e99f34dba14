"""The ``citynerve`` command: version, demo, and virtual nodes."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from hardware.demo import run_demo
from hardware.virtual_node import NodeStats, run_node


def _version() -> str:
    try:
        return version("citynerve")
    except PackageNotFoundError:
        return "0+unknown"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _endpoint(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port 1-65535, got {text!r}")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="citynerve", description="CityNerve: city infrastructure sensing."
    )
    parser.add_argument("--version", action="version", version=f"citynerve {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("version", help="print the version")
    demo = sub.add_parser(
        "demo", help="run virtual nodes against an edge endpoint on loopback and summarise"
    )
    demo.add_argument("--nodes", type=_positive, default=50, help="virtual nodes (default 50)")
    demo.add_argument("--batches", type=_positive, default=20, help="batches per node (default 20)")
    demo.add_argument(
        "--readings", type=_positive, default=20, help="readings per batch (default 20)"
    )
    nodes = sub.add_parser("nodes", help="run virtual nodes against a running edge endpoint")
    nodes.add_argument("--edge", type=_endpoint, required=True, help="edge endpoint HOST:PORT")
    nodes.add_argument("--count", type=_positive, default=10, help="virtual nodes (default 10)")
    nodes.add_argument("--batches", type=_positive, default=10, help="batches per node")
    nodes.add_argument("--readings", type=_positive, default=20, help="readings per batch")
    node = sub.add_parser("node", help="virtual nodes on the real MicroPython")
    node_sub = node.add_subparsers(dest="node_command", required=True, metavar="ACTION")
    run = node_sub.add_parser(
        "run", help="run the firmware on simulated chips and flash, in a world scenario"
    )
    run.add_argument("--kit", required=True, choices=["elevator", "hydrant", "manhole"])
    run.add_argument("--scenario", required=True, help="scenario name, e.g. entrapment")
    run.add_argument("--flash", required=True, help="flash image file (provisioned if blank)")
    run.add_argument("--board", default="esp32c3-devkitm-1", help="board (esp32c3-devkitm-1)")
    link = run.add_mutually_exclusive_group(required=True)
    link.add_argument("--edge", type=_endpoint, help="edge endpoint HOST:PORT (TCP)")
    link.add_argument("--serial", help="serial device (pty) of the edge's RS-485 line")
    run.add_argument("--speed", type=_speed, default=1.0, help="simulated time factor (>= 1)")
    run.add_argument("--node-id", help="node id when provisioning (default ja-KIT-000001)")
    run.add_argument("--sample-s", type=_positive, help="sampling period in seconds")
    run.add_argument("--reprovision", action="store_true", help="rewrite the image first")
    run.add_argument("--console", action="store_true", help="REPL console on a pty")
    run.add_argument(
        "--boots", type=_positive, default=1_000_000, help="stop after this many boots"
    )
    run.add_argument("--timeout", type=float, default=float("inf"), help="stop after S seconds")
    return parser


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _node_run(args: argparse.Namespace) -> int:
    from hardware.virtual_board import VirtualNodeError, make_supervisor, prepare  # noqa: PLC0415

    try:
        node = prepare(
            kit=args.kit,
            scenario=args.scenario,
            image=Path(args.flash),
            board=args.board,
            edge=args.edge,
            serial=args.serial,
            speed=args.speed,
            node_id=args.node_id,
            sample_s=args.sample_s,
            reprovision=args.reprovision,
        )
    except (VirtualNodeError, OSError, RuntimeError) as e:
        print(f"citynerve node run: {e}", file=sys.stderr)
        return 2
    sup = make_supervisor(node, console=args.console)
    action = "provisioned" if node.provisioned else "using"
    print(f"node {node.node_id} ({node.kit} on {node.board}): {action} {node.image}", flush=True)
    if sup.console_port:
        print(f"console: {sup.console_port}", flush=True)
    try:
        sup.run(max_boots=args.boots, timeout=args.timeout)
    except KeyboardInterrupt:
        return 130
    except TimeoutError:
        return 0
    finally:
        sup.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``citynerve`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"citynerve {_version()}")
        return 0
    if args.command == "demo":
        summary = asyncio.run(
            run_demo(nodes=args.nodes, batches=args.batches, readings=args.readings)
        )
        ok = summary["batches_acked"] == summary["batches_sent"] and not summary["refused"]
        print(
            f"{summary['nodes']} virtual nodes sent {summary['batches_sent']} batches "
            f"({summary['readings_acked']} readings acknowledged) in {summary['seconds']} s; "
            f"{summary['batches_per_s']} batches/s"
        )
        print(json.dumps(summary))
        return 0 if ok else 1
    if args.command == "node":
        return _node_run(args)
    host, port = args.edge
    try:
        results = asyncio.run(_run_nodes(host, port, args.count, args.batches, args.readings))
    except (OSError, TimeoutError) as e:
        print(f"citynerve nodes: cannot reach the edge at {host}:{port}: {e}", file=sys.stderr)
        return 1
    acked = sum(r.batches_acked for r in results)
    print(json.dumps({"nodes": len(results), "batches_acked": acked}))
    return 0 if acked == args.count * args.batches else 1


async def _run_nodes(
    host: str, port: int, count: int, batches: int, readings: int
) -> list[NodeStats]:
    return await asyncio.gather(
        *(
            run_node(f"ja-hyd-{i:06d}", host, port, batches=batches, readings=readings, seed=i)
            for i in range(count)
        )
    )


if __name__ == "__main__":
    sys.exit(main())
