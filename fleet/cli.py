"""The ``fleet`` command line.

Commands (``fleet COMMAND --help`` for their options)::

    fleet serve            HTTP API (and the MQTT status ingester with --mqtt-host)
    fleet db upgrade       apply schema migrations (fleet db current: show the revision)
    fleet token create     make an API token (printed once; only its hash is stored)
    fleet token list       list tokens (never the tokens themselves)
    fleet token revoke ID  revoke a token
    fleet ingest           the MQTT status ingester alone
    fleet edge-sync        edge side: pull the district's node keys into the edge's keys file
    fleet version          print the version

Plug-ins add commands through :data:`PLUGINS`: each module named there, when it
can be imported, has ``register(commands)`` called with this parser's
subparsers object; every parser it adds sets ``func`` (``set_defaults(func=F)``)
to a callable taking the parsed :class:`argparse.Namespace` and returning the
exit status. ``fleet flash`` and ``fleet discover`` arrive that way
(``fleet.flash.cli``).

Options common to the commands that use the database: ``--db URL`` (default
``$FLEET_DATABASE_URL``, else SQLite in the state directory) and ``--secret-file``
(default ``$FLEET_SECRET_FILE``, else ``fleet-secret.key`` in the state
directory; the key that encrypts node keys at rest).

Exit status: 0 ok, 1 runtime failure, 2 bad arguments or a database that needs
``fleet db upgrade``.
"""

# ruff: noqa: PLC0415 - commands import what they need when they run (`fleet version` stays fast)
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleet import __version__

PLUGINS = ("fleet.flash.cli",)
ROLES = ("admin", "operator", "technician", "viewer", "edge")

Subparsers = Any  # argparse._SubParsersAction[argparse.ArgumentParser]


def _db_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        help="database URL (sqlite:///PATH or postgresql+psycopg://...); "
        "default $FLEET_DATABASE_URL, else SQLite in the state directory",
    )
    p.add_argument(
        "--secret-file",
        metavar="PATH",
        type=Path,
        help="server secret (32 bytes, mode 0600) that encrypts node keys at rest; "
        "default $FLEET_SECRET_FILE, else fleet-secret.key in the state directory",
    )


def _mqtt_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument(
        "--mqtt-host",
        required=required,
        help="broker of the edge agents' status topics"
        + ("" if required else " (enables the status ingester and revocation notices)"),
    )
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument("--mqtt-prefix", default="citynerve", help="first level of every topic")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``fleet``."""
    parser = argparse.ArgumentParser(prog="fleet", description="CityNerve fleet manager.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("version", help="print the version and exit")
    p.set_defaults(func=_cmd_version)

    p = commands.add_parser("serve", help="run the HTTP API")
    _db_options(p)
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8700, help="listen port (default 8700)")
    p.add_argument(
        "--no-upgrade",
        action="store_true",
        help="do not apply pending migrations to a SQLite database at start "
        "(PostgreSQL is never upgraded by serve: run `fleet db upgrade`)",
    )
    _mqtt_options(p, required=False)
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=_cmd_serve)

    p = commands.add_parser("db", help="database schema")
    db = p.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    q = db.add_parser("upgrade", help="apply the schema migrations up to REVISION (default head)")
    _db_options(q)
    q.add_argument("revision", nargs="?", default="head")
    q.set_defaults(func=_cmd_db_upgrade)
    q = db.add_parser("current", help="print the schema revision of the database")
    _db_options(q)
    q.set_defaults(func=_cmd_db_current)

    p = commands.add_parser("token", help="API tokens")
    tok = p.add_subparsers(dest="token_command", metavar="TOKEN_COMMAND", required=True)
    q = tok.add_parser("create", help="create a token and print it once")
    _db_options(q)
    q.add_argument("--name", required=True, help="who or what holds the token")
    q.add_argument("--role", required=True, choices=ROLES)
    q.add_argument("--technician", type=int, help="technician id (role technician)")
    q.add_argument("--district", help="district whose node keys the token reads (role edge)")
    q.add_argument("--expires-days", type=float, help="expire after this many days")
    q.add_argument(
        "--out",
        type=Path,
        help="write the token to this file (mode 0600) instead of standard output",
    )
    q.set_defaults(func=_cmd_token_create)
    q = tok.add_parser("list", help="list tokens (never the tokens themselves)")
    _db_options(q)
    q.set_defaults(func=_cmd_token_list)
    q = tok.add_parser("revoke", help="revoke a token")
    _db_options(q)
    q.add_argument("id", type=int)
    q.set_defaults(func=_cmd_token_revoke)

    p = commands.add_parser("ingest", help="run the MQTT status ingester alone")
    _db_options(p)
    _mqtt_options(p, required=True)
    p.add_argument("--flush-s", type=float, default=0.5, help="batch window (seconds)")
    p.set_defaults(func=_cmd_ingest)

    p = commands.add_parser(
        "edge-sync", help="edge side: keep the edge's keys file in step with the fleet"
    )
    p.add_argument("--api", required=True, metavar="URL", help="fleet API base URL")
    p.add_argument(
        "--token-file", required=True, type=Path, help="file holding the edge token (mode 0600)"
    )
    p.add_argument("--keys-file", required=True, type=Path, help="the edge's keys file")
    p.add_argument("--interval-s", type=float, default=30.0, help="pull interval")
    p.add_argument("--once", action="store_true", help="pull once and exit")
    p.add_argument("--district", help="district for revocation notices over MQTT")
    p.add_argument("--mqtt-host", help="broker carrying revocation notices (pull at once)")
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument("--mqtt-prefix", default="citynerve")
    p.set_defaults(func=_cmd_edge_sync)

    register_plugins(commands)
    return parser


def register_plugins(commands: Subparsers, names: Sequence[str] = PLUGINS) -> list[str]:
    """Let each importable plug-in module add its commands; return the names registered."""
    done = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            # only the plug-in itself (or its package) missing is fine; a plug-in
            # whose own imports fail must say so
            if e.name is not None and name.startswith(e.name):
                continue
            raise
        register: Callable[[Subparsers], None] = module.register
        register(commands)
        done.append(name)
    return done


# --- commands -----------------------------------------------------------------


def _cmd_version(args: argparse.Namespace) -> int:
    print(f"fleet {__version__}")
    return 0


def _settings(args: argparse.Namespace) -> Any:
    from fleet.settings import Settings

    return Settings.from_env(db_url=args.db, secret_file=args.secret_file)


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from fleet.db import migrate
    from fleet.secrets import SecretError, load_secret

    s = _settings(args)
    s.prepare()
    try:
        load_secret(s.secret_file)  # made on first use (mode 0600)
    except SecretError as e:
        print(f"fleet db upgrade: {e}", file=sys.stderr)
        return 2
    before = migrate.current(s.db_url)
    migrate.upgrade(s.db_url, args.revision)
    after = migrate.current(s.db_url)
    print(f"database {s.db_display}: {before or 'empty'} -> {after}")
    return 0


def _cmd_db_current(args: argparse.Namespace) -> int:
    from fleet.db import migrate

    s = _settings(args)
    path = s.sqlite_path
    rev = None if path is not None and not path.exists() else migrate.current(s.db_url)
    head = migrate.head()
    state = "up to date" if rev == head else f"behind head {head}: run `fleet db upgrade`"
    print(f"database {s.db_display}: {rev or 'empty'} ({state})")
    return 0


def _open_registry(args: argparse.Namespace) -> Any:
    from fleet.db import migrate
    from fleet.registry import Registry

    s = _settings(args)
    s.prepare()
    migrate.require_head(s.db_url, auto_upgrade=s.is_sqlite)
    return Registry.open(s)


def _cmd_token_create(args: argparse.Namespace) -> int:
    from fleet.errors import FleetError

    reg = _open_registry(args)
    expires = datetime.now(UTC) + timedelta(days=args.expires_days) if args.expires_days else None
    try:
        tok, secret = reg.create_token(
            name=args.name,
            role=args.role,
            technician_id=args.technician,
            district=args.district,
            expires_at=expires,
            actor="cli",
            remote="local",
        )
    except FleetError as e:
        print(f"fleet token create: {e}", file=sys.stderr)
        return 2
    finally:
        reg.close()
    if args.out:
        from fleet.secrets import write_private

        write_private(args.out, (secret + "\n").encode())
        print(f"token {tok['id']} ({args.role}) written to {args.out}", file=sys.stderr)
    else:
        print(secret)
        print(f"token {tok['id']} ({args.role}): shown once, store it now", file=sys.stderr)
    return 0


def _cmd_token_list(args: argparse.Namespace) -> int:
    reg = _open_registry(args)
    try:
        for t in reg.list_tokens_all():
            print(json.dumps(t, default=str))
    finally:
        reg.close()
    return 0


def _cmd_token_revoke(args: argparse.Namespace) -> int:
    from fleet.errors import FleetError

    reg = _open_registry(args)
    try:
        reg.revoke_token(args.id, actor="cli", remote="local")
    except FleetError as e:
        print(f"fleet token revoke: {e}", file=sys.stderr)
        return 2
    finally:
        reg.close()
    print(f"token {args.id} revoked")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fleet.api.app import create_app
    from fleet.db import migrate
    from fleet.registry import Registry

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    s = _settings(args)
    s.prepare()
    try:
        migrate.require_head(s.db_url, auto_upgrade=s.is_sqlite and not args.no_upgrade)
    except migrate.SchemaBehind as e:
        print(f"fleet serve: {e}", file=sys.stderr)
        return 2
    reg = Registry.open(s)
    notifier = ingester = None
    if args.mqtt_host:
        from fleet.ingest import StatusIngester
        from fleet.notify import MqttNotifier

        notifier = MqttNotifier(host=args.mqtt_host, port=args.mqtt_port, prefix=args.mqtt_prefix)
        reg.notifier = notifier
        ingester = StatusIngester(
            reg, host=args.mqtt_host, port=args.mqtt_port, prefix=args.mqtt_prefix
        )
        ingester.start()
    app = create_app(reg)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        if ingester is not None:
            ingester.stop()
        if notifier is not None:
            notifier.close()
        reg.close()
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    import signal
    import threading

    from fleet.ingest import StatusIngester

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reg = _open_registry(args)
    ing = StatusIngester(
        reg, host=args.mqtt_host, port=args.mqtt_port, prefix=args.mqtt_prefix, flush_s=args.flush_s
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ing.start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        ing.stop()
        reg.close()
    return 0


def _cmd_edge_sync(args: argparse.Namespace) -> int:
    from fleet.edge_sync import EdgeSync, SyncError

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sync = EdgeSync.from_token_file(
            api=args.api, token_file=args.token_file, keys_file=args.keys_file
        )
        if args.once:
            result = sync.pull()
            print(f"{args.keys_file}: {result}")
            return 0
        sync.run(
            interval_s=args.interval_s,
            mqtt_host=args.mqtt_host,
            mqtt_port=args.mqtt_port,
            prefix=args.mqtt_prefix,
            district=args.district,
        )
    except SyncError as e:
        print(f"fleet edge-sync: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fleet`` with ``argv`` (default: the process arguments); return the exit status."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    raise SystemExit(main())
