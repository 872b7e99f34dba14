"""Schema migrations with Alembic, run from code (no alembic.ini needed).

``fleet db upgrade`` calls :func:`upgrade`; ``fleet serve`` calls
:func:`require_head` (it upgrades SQLite by itself, never PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from fleet.db.engine import make_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class SchemaBehind(Exception):
    """The database schema is not at the code's head revision."""


def config(url: str, engine: Engine | None = None) -> Config:
    """An Alembic config for ``url`` (the migrations of this package)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def head() -> str:
    """The newest revision the code knows."""
    rev = ScriptDirectory.from_config(config("sqlite://")).get_current_head()
    assert rev is not None
    return rev


def current(url: str, engine: Engine | None = None) -> str | None:
    """The database's revision (None: empty)."""
    eng = engine or make_engine(url)
    try:
        with eng.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if engine is None:
            eng.dispose()


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Apply the migrations up to ``revision``."""
    command.upgrade(config(url, engine), revision)


def downgrade(url: str, revision: str, engine: Engine | None = None) -> None:
    """Undo migrations down to ``revision`` (``base``: empty)."""
    command.downgrade(config(url, engine), revision)


def require_head(url: str, *, auto_upgrade: bool, engine: Engine | None = None) -> None:
    """Make sure the schema is at head: upgrade when allowed, else raise :class:`SchemaBehind`."""
    rev = current(url, engine)
    want = head()
    if rev == want:
        return
    if auto_upgrade:
        upgrade(url, "head", engine)
        return
    raise SchemaBehind(
        f"the database schema is at {rev or 'nothing (empty database)'}, the code needs {want}: "
        "run `fleet db upgrade` first"
    )
