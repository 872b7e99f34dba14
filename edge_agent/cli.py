"""The ``edge-agent`` command line.

For now it only reports its version (``edge-agent --version`` or
``edge-agent version``). ``edge-agent run --config ...`` arrives with the edge
agent issue; until then argparse rejects any other command with a usage message
and exit status 2.
"""

import argparse
from collections.abc import Sequence

from edge_agent import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``edge-agent``."""
    parser = argparse.ArgumentParser(prog="edge-agent", description="CityNerve edge agent.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("version", help="print the version and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``edge-agent`` with ``argv`` (default: the process arguments); return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"edge-agent {__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
