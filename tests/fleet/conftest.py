"""Fixtures of the fleet tests.

``backend`` is parametrized ``sqlite`` / ``postgres``: every test that uses a
database runs on both. PostgreSQL (127.0.0.1:5432, database ``test``, or
``$FLEET_TEST_PG_URL``) gets a private schema per session, dropped at the end;
when it is unreachable the tests FAIL (they never skip).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_helpers import ADMIN, Broker, LiveServer, PgSchema, make_registry, pg_check

from fleet.registry import Principal, Registry

BACKENDS = ("sqlite", "postgres")
ROLES = ("admin", "operator", "viewer", "technician", "edge")


@pytest.fixture(scope="session")
def pg_available() -> None:
    try:
        pg_check()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def pg_schema_factory(pg_available: None) -> Iterator[Any]:
    made: list[PgSchema] = []

    def make(tag: str = "t") -> PgSchema:
        s = PgSchema(tag)
        made.append(s)
        return s

    yield make
    for s in made:
        s.drop()


@pytest.fixture(scope="session")
def db_url_factory(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    """db_url_factory(backend, tag) -> a URL of an empty database."""

    def make(backend: str, tag: str = "t") -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('fleet-db') / (tag + '.sqlite')}"
        factory = request.getfixturevalue("pg_schema_factory")
        return str(factory(tag).url)

    return make


@dataclass
class World:
    """A live API server over a registry with a token per role and a small fleet."""

    backend: str
    registry: Registry
    server: LiveServer
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)
    tech: int = 0
    other_tech: int = 0
    wo: int = 0
    other_wo: int = 0
    own_node: str = ""
    other_node: str = ""
    registered_node: str = ""
    serial: int = 0

    def client(self, role: str | None) -> Any:
        return self.server.client(self.tokens[role] if role else None)

    def next(self) -> int:
        self.serial += 1
        return self.serial

    def principal(self, role: str) -> Principal:
        return self.registry.authenticate(self.tokens[role])  # type: ignore[return-value]


def build_world(backend: str, url: str) -> World:
    reg = make_registry(url)
    server = LiveServer(reg)
    w = World(backend=backend, registry=reg, server=server)
    w.tech = reg.create_technician(ADMIN, name="Li Wei", contact="li@example.org", remote=None)[
        "id"
    ]
    w.other_tech = reg.create_technician(ADMIN, name="Zhang Min", contact=None, remote=None)["id"]
    for role in ROLES:
        rec, secret = reg.create_token(
            name=f"{role}-1",
            role=role,
            technician_id=w.tech if role == "technician" else None,
            district="jingan" if role == "edge" else None,
        )
        w.tokens[role] = secret
        w.token_ids[role] = rec["id"]
    rec, secret = reg.create_token(name="tech-2", role="technician", technician_id=w.other_tech)
    w.tokens["other_technician"] = secret
    reg.upsert_edge(
        ADMIN,
        edge_id="edge-ja-1",
        district="jingan",
        name="Jing'an 1",
        endpoints=["10.20.0.5:7300"],
        remote=None,
    )
    reg.upsert_edge(
        ADMIN,
        edge_id="edge-xh-1",
        district="xuhui",
        name=None,
        endpoints=["10.21.0.5:7300"],
        remote=None,
    )
    w.wo = reg.create_work_order(
        ADMIN,
        technician_id=w.tech,
        district="jingan",
        kit="hydrant",
        site="Yanping Rd",
        quantity=1000,
        note=None,
        remote=None,
    )["id"]
    w.other_wo = reg.create_work_order(
        ADMIN,
        technician_id=w.other_tech,
        district="jingan",
        kit="hydrant",
        site=None,
        quantity=1000,
        note=None,
        remote=None,
    )["id"]
    me = w.principal("technician")
    w.own_node = reg.provision(me, w.wo, {"board": "esp32c3"}, None)["node"]["id"]
    other = w.principal("other_technician")
    w.other_node = reg.provision(other, w.other_wo, {"board": "esp32c3"}, None)["node"]["id"]
    w.registered_node = "ja-elv-000001"
    reg.register_nodes(
        ADMIN, [{"id": w.registered_node, "kit": "elevator", "district": "jingan"}], None
    )
    return w


@pytest.fixture(scope="session")
def _worlds(db_url_factory: Any) -> Iterator[dict[str, World]]:
    worlds: dict[str, World] = {}
    yield worlds
    for w in worlds.values():
        w.server.stop()
        w.registry.close()


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, _worlds: dict[str, World], db_url_factory: Any) -> World:
    """The shared live world of this backend (made on first use)."""
    backend = str(request.param)
    if backend not in _worlds:
        _worlds[backend] = build_world(backend, db_url_factory(backend, "world"))
    return _worlds[backend]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("mosquitto"))
    yield b
    b.stop()
