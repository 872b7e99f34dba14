"""Migrations up from empty on SQLite and PostgreSQL match the models; down and up again;
the CLI's db and token commands; the plug-in hook."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from fleet import cli
from fleet.db import migrate
from fleet.db.engine import make_engine
from fleet.db.models import Base
from fleet.registry import Registry
from fleet.secrets import KeyBox, load_secret

TABLES = {"nodes", "edges", "technicians", "work_orders", "tokens", "audit", "alembic_version"}


def test_migrations_up_from_empty_match_the_models(backend: str, db_url_factory: Any) -> None:
    url = db_url_factory(backend, "mig")
    assert migrate.current(url) is None
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == TABLES
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
            idx = {i["name"] for i in inspect(conn).get_indexes("nodes")}
            assert {"ix_nodes_district_id", "ix_nodes_health_id", "ix_nodes_last_seen_id"} <= idx
        migrate.downgrade(url, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        migrate.require_head(url, auto_upgrade=True)
        assert migrate.current(url) == migrate.head()
    finally:
        engine.dispose()


def test_require_head_refuses_a_behind_schema(db_url_factory: Any) -> None:
    url = db_url_factory("postgres", "behind")
    with pytest.raises(migrate.SchemaBehind, match="fleet db upgrade"):
        migrate.require_head(url, auto_upgrade=False)


def test_encrypted_keys_at_rest(backend: str, db_url_factory: Any, tmp_path: Path) -> None:
    """Keys are stored sealed under the server secret, bound to their node id."""
    url = db_url_factory(backend, "keys")
    migrate.upgrade(url)
    secret = load_secret(tmp_path / "secret")
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600
    box = KeyBox(secret)
    reg = Registry(make_engine(url), box)
    try:
        sealed = box.seal("n-1", b"k" * 32)
        assert b"k" * 32 not in sealed and box.open("n-1", sealed) == b"k" * 32
        with pytest.raises(Exception):  # noqa: B017 - InvalidTag: another node's row
            box.open("n-2", sealed)
        assert "secret" not in repr(box) or "<secret>" in repr(box)
    finally:
        reg.close()
    (tmp_path / "loose").write_bytes(b"x" * 32)
    (tmp_path / "loose").chmod(0o644)
    with pytest.raises(Exception, match="0600"):
        load_secret(tmp_path / "loose")


def fleet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleet.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


def test_cli_db_and_tokens(tmp_path: Path) -> None:
    env = {"FLEET_STATE_DIR": str(tmp_path / "state")}
    r = fleet("db", "current", env=env)
    assert r.returncode == 0 and "empty" in r.stdout
    r = fleet("db", "upgrade", env=env)
    assert r.returncode == 0, r.stderr
    assert f"-> {migrate.head()}" in r.stdout
    assert stat.S_IMODE((tmp_path / "state" / "fleet-secret.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state" / "fleet.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    r = fleet("token", "create", "--name", "ada", "--role", "admin", env=env)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("cnf_") and "shown once" in r.stderr
    r = fleet(
        "token",
        "create",
        "--name",
        "e1",
        "--role",
        "edge",
        "--district",
        "jingan",
        "--out",
        str(tmp_path / "edge.token"),
        env=env,
    )
    assert r.returncode == 0 and r.stdout == ""
    assert stat.S_IMODE((tmp_path / "edge.token").stat().st_mode) == 0o600
    r = fleet("token", "create", "--name", "t", "--role", "technician", env=env)
    assert r.returncode == 2 and "technician_id" in r.stderr
    r = fleet("token", "list", env=env)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [t["name"] for t in rows] == ["ada", "e1"]
    assert token not in r.stdout and "token_hash" not in r.stdout
    r = fleet("token", "revoke", "1", env=env)  # the last admin token: refused
    assert r.returncode == 2 and "last valid admin token" in r.stderr
    assert fleet("token", "create", "--name", "bob", "--role", "admin", env=env).returncode == 0
    assert fleet("token", "revoke", "1", env=env).returncode == 0
    assert fleet("token", "revoke", "99", env=env).returncode == 2
    # only hashes are stored
    db = (tmp_path / "state" / "fleet.sqlite").read_bytes()
    assert token.encode() not in db
    r = fleet("version", env=env)
    assert r.returncode == 0 and r.stdout.startswith("fleet ")


def test_plugin_hook(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A plug-in module's register(commands) adds commands; a missing one is skipped."""
    (tmp_path / "fleet_test_plugin.py").write_text(
        "def register(commands):\n"
        "    p = commands.add_parser('hello')\n"
        "    p.set_defaults(func=lambda args: 7)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    done = cli.register_plugins(commands, ("fleet_test_plugin", "fleet.no_such_plugin"))
    assert done == ["fleet_test_plugin"]
    args = parser.parse_args(["hello"])
    assert args.func(args) == 7
    # the real parser registers whatever fleet.flash.cli provides, if present
    cli.build_parser()
