"""The ``edge-agent`` command line.

    edge-agent run --config edge.toml     run until SIGTERM/SIGINT (SIGHUP reloads keys)
    edge-agent check-config edge.toml     validate; explain every problem with its key path
    edge-agent check-keys keys.json       validate a keys file (permissions, every entry)
    edge-agent settings                   every setting with its default (Markdown table)
    edge-agent version                    print the version

Exit status: 0 ok, 1 runtime failure, 2 bad arguments or bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import uvloop

from edge_agent import __version__
from edge_agent.agent import EdgeAgent
from edge_agent.config import ConfigError, describe, load_config
from edge_agent.journal import JournalError
from edge_agent.keys import KeysError, read_keys
from edge_agent.logs import setup_logging

log = logging.getLogger("edge_agent")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``edge-agent``."""
    parser = argparse.ArgumentParser(prog="edge-agent", description="CityNerve edge agent.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("version", help="print the version and exit")
    run = commands.add_parser("run", help="run the agent until SIGTERM")
    run.add_argument("--config", required=True, metavar="FILE", help="TOML configuration file")
    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", metavar="FILE")
    keys = commands.add_parser("check-keys", help="validate a node keys file")
    keys.add_argument("file", metavar="FILE")
    commands.add_parser("settings", help="list every setting with its default")
    return parser


def _check_config(path: str) -> int:
    try:
        config = load_config(path)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    problems: list[str] = []
    try:
        read_keys(Path(config.keys.file))
    except KeysError as e:
        problems.append(f"keys.file: {e}")
    if problems:
        print(f"{path}: the configuration is valid, but:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 2
    print(f"{path}: ok (edge {config.edge_id}, district {config.edge.district})")
    return 0


def _check_keys(path: str) -> int:
    try:
        nodes, _ = read_keys(Path(path))
    except KeysError as e:
        print(e, file=sys.stderr)
        return 2
    revoked = sum(1 for n in nodes.values() if n.revoked)
    print(f"{path}: ok ({len(nodes)} nodes, {revoked} revoked)")
    return 0


def _settings() -> int:
    print("| setting | type | default | meaning |")
    print("| --- | --- | --- | --- |")
    for key, kind, default, doc in describe():
        print(f"| `{key}` | {kind} | `{default}` | {doc} |")
    return 0


async def _run(config_path: str) -> int:
    config = load_config(config_path)
    async with EdgeAgent(config=config) as agent:
        # once the signal handlers are in place (they are set before the first await)
        asyncio.get_running_loop().call_soon(_freeze_start_up_objects)
        await agent.run_until_signalled()
    return 0


def _freeze_start_up_objects() -> None:
    """Keep what start-up made out of every later cyclic GC pass.

    Modules, configuration, keys and journal state live as long as the process;
    a full collection would otherwise walk them all each time (a pause of tens
    of milliseconds in the acks with thousands of connections open).
    """
    gc.collect()
    gc.freeze()


def _install_loop() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run(config_path: str) -> int:
    """``edge-agent run``: configure logging, pick uvloop when present, run."""
    try:
        config = load_config(config_path)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    setup_logging(config.log.level)
    _install_loop()
    try:
        return asyncio.run(_run(config_path))
    except (KeysError, JournalError, ValueError, OSError) as e:
        log.error("edge agent cannot start: %s", e)
        print(f"edge-agent: cannot start: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``edge-agent`` with ``argv`` (default: the process arguments); return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"edge-agent {__version__}")
        return 0
    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "check-keys":
        return _check_keys(args.file)
    if args.command == "settings":
        return _settings()
    return run(args.config)


if __name__ == "__main__":
    raise SystemExit(main())
