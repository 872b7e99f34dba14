"""The ``fleet`` command line.

For now it only reports its version (``fleet --version`` or ``fleet version``).
The fleet manager commands (flashing, provisioning, releases, rollouts) arrive
with the fleet issue; until then argparse rejects any other command with a
usage message and exit status 2.
"""

import argparse
from collections.abc import Sequence

from fleet import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``fleet``."""
    parser = argparse.ArgumentParser(prog="fleet", description="CityNerve fleet manager.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("version", help="print the version and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fleet`` with ``argv`` (default: the process arguments); return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"fleet {__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
