"""Helpers of the fleet tests: databases (SQLite, a private PostgreSQL schema), a live API
server on loopback, a private Mosquitto."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import uvicorn

from fleet.api.app import create_app
from fleet.db import migrate
from fleet.db.engine import make_engine
from fleet.registry import Principal, Registry
from fleet.secrets import KeyBox
from hardware.loopback import PrivateBroker, free_port, wait_port

PG_BASE = os.environ.get("FLEET_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# a private Mosquitto without persistence (see hardware.loopback)
Broker = PrivateBroker
ADMIN = Principal(token_id=0, name="test", role="admin")


def wait_for(pred: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


# --- PostgreSQL ----------------------------------------------------------------------


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def pg_check() -> None:
    """Raise with a clear message when PostgreSQL is not reachable."""
    try:
        with psycopg.connect(_libpq(PG_BASE), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        raise RuntimeError(
            f"PostgreSQL at {PG_BASE} is not reachable ({e}); the fleet tests need it: "
            "run ./dev setup (starts it) or set FLEET_TEST_PG_URL"
        ) from None


class PgSchema:
    """A private schema in the test database, dropped at the end."""

    def __init__(self, tag: str = "t") -> None:
        self.name = f"fleet_{tag}_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(_libpq(PG_BASE), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
        sep = "&" if "?" in PG_BASE else "?"
        self.url = f"{PG_BASE}{sep}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        with psycopg.connect(_libpq(PG_BASE), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


def make_registry(url: str, **engine_kw: Any) -> Registry:
    """A registry at the schema's head, with a fresh server secret."""
    migrate.upgrade(url)
    return Registry(make_engine(url, **engine_kw), KeyBox(secrets.token_bytes(32)))


# --- a live server -------------------------------------------------------------------


class LiveServer:
    """The API on a free loopback port, served by uvicorn in a thread."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(registry),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="fleet-api", daemon=True)
        self.thread.start()
        wait_port(self.port)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


# --- Mosquitto -----------------------------------------------------------------------
