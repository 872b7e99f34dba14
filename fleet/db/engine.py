"""Engines for SQLite (embedded default) and PostgreSQL.

SQLite: WAL, ``synchronous=FULL``, foreign keys on, a 10 s busy timeout, and
write transactions that start with ``BEGIN IMMEDIATE`` (engines made with
``execution_options(sqlite_immediate=True)``), so two writers queue on the
busy timeout instead of one failing when it upgrades its read lock.
PostgreSQL: psycopg 3, a connection pool with pre-ping; put a schema on the
search path with ``?options=-csearch_path%3DNAME`` in the URL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for ``url`` with the settings above."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        memory = u.database in (None, "", ":memory:")
        args: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 10}}
        if memory:
            args["poolclass"] = StaticPool
        args.update(kw)
        engine = create_engine(u, **args)
        _sqlite_events(engine, memory=memory)
        return engine
    if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    args = {"pool_pre_ping": True, "pool_size": 8, "max_overflow": 8}
    args.update(kw)
    return create_engine(u, **args)


def _sqlite_events(engine: Engine, *, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
