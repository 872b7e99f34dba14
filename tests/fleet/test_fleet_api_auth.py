"""The full auth and role matrix: every endpoint x every role -> allowed, or 403; no or a
bad token -> 401. Runs against a live server on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ROLES, World
from fleet_helpers import ADMIN

from fleet.api.app import ACCESS

EVERYONE = frozenset(ROLES)
READERS = frozenset({"admin", "operator", "viewer"})
MANAGERS = frozenset({"admin", "operator"})
TECH = frozenset({"technician"})

# method, path, roles allowed, status when allowed (the docs' table, written out independently)
MATRIX: list[tuple[str, str, frozenset[str], int]] = [
    ("GET", "/api/v1/me", EVERYONE, 200),
    ("GET", "/api/v1/nodes", READERS, 200),
    ("POST", "/api/v1/nodes", MANAGERS, 201),
    ("GET", "/api/v1/nodes/{node_id}", READERS | TECH, 200),
    ("PATCH", "/api/v1/nodes/{node_id}", MANAGERS, 200),
    ("POST", "/api/v1/nodes/{node_id}/installed", MANAGERS | TECH, 409),  # no hello yet
    ("POST", "/api/v1/nodes/{node_id}/revoke", MANAGERS, 200),
    ("GET", "/api/v1/edges", READERS, 200),
    ("POST", "/api/v1/edges", MANAGERS, 200),
    ("GET", "/api/v1/edges/{edge_id}", READERS, 200),
    ("GET", "/api/v1/edge/keys", frozenset({"edge"}), 200),
    ("GET", "/api/v1/technicians", READERS, 200),
    ("POST", "/api/v1/technicians", frozenset({"admin"}), 201),
    ("GET", "/api/v1/work-orders", READERS | TECH, 200),
    ("POST", "/api/v1/work-orders", MANAGERS, 201),
    ("GET", "/api/v1/work-orders/{wid}", READERS | TECH, 200),
    ("POST", "/api/v1/work-orders/{wid}/close", MANAGERS | TECH, 200),
    ("POST", "/api/v1/work-orders/{wid}/provision", TECH, 201),
    ("GET", "/api/v1/tokens", frozenset({"admin"}), 200),
    ("POST", "/api/v1/tokens", frozenset({"admin"}), 201),
    ("DELETE", "/api/v1/tokens/{token_id}", frozenset({"admin"}), 200),
    ("GET", "/api/v1/audit", MANAGERS, 200),
]


def request_for(w: World, method: str, path: str) -> tuple[str, dict[str, Any] | None]:
    """A valid request (fresh objects for changes) for this endpoint."""
    n = w.next()
    reg = w.registry
    body: dict[str, Any] | None = None
    if path == "/api/v1/nodes" and method == "POST":
        body = {"nodes": [{"id": f"mx-{n:06d}", "kit": "manhole", "district": "jingan"}]}
    elif path.startswith("/api/v1/nodes/{node_id}"):
        if path.endswith("/revoke"):
            node = f"mxr-{n:06d}"
            reg.register_nodes(ADMIN, [{"id": node, "kit": "hydrant", "district": "jingan"}], None)
        elif path.endswith("/installed") or method == "GET":
            node = w.own_node
        else:
            node = w.registered_node
        path = path.replace("{node_id}", node)
        if method == "PATCH":
            body = {"site": f"Changde Rd {n}"}
        elif path.endswith("/installed"):
            body = {}
    elif path == "/api/v1/edges" and method == "POST":
        body = {"id": f"edge-mx-{n}", "district": "jingan", "endpoints": ["10.1.1.1:7300"]}
    elif "{edge_id}" in path:
        path = path.replace("{edge_id}", "edge-ja-1")
    elif path == "/api/v1/technicians" and method == "POST":
        body = {"name": f"Technician {n}"}
    elif path == "/api/v1/work-orders" and method == "POST":
        body = {"technician_id": w.tech, "district": "jingan", "kit": "hydrant", "quantity": 3}
    elif path.endswith("/close"):
        wo = reg.create_work_order(
            ADMIN,
            technician_id=w.tech,
            district="jingan",
            kit="manhole",
            site=None,
            quantity=1,
            note=None,
            remote=None,
        )
        path = path.replace("{wid}", str(wo["id"]))
    elif path.endswith("/provision"):
        path = path.replace("{wid}", str(w.wo))
        body = {"board": "esp32c3", "site": f"Yanping Rd {n}"}
    elif "{wid}" in path:
        path = path.replace("{wid}", str(w.wo))
    elif path == "/api/v1/tokens" and method == "POST":
        body = {"name": f"t-{n}", "role": "viewer"}
    elif "{token_id}" in path:
        rec, _ = reg.create_token(name=f"victim-{n}", role="viewer")
        path = path.replace("{token_id}", str(rec["id"]))
    return path, body


def test_matrix_covers_every_route(world: World) -> None:
    """The table above names every route of the app, with the same roles."""
    app_table = {(m, p): frozenset(roles) for m, p, roles in ACCESS}
    mine = {(m, p): roles for m, p, roles, _ in MATRIX}
    assert mine == app_table
    with world.server.client() as c:
        doc = c.get("/openapi.json").json()
    documented = {
        (m.upper(), p) for p, item in doc["paths"].items() for m in item if p.startswith("/api/")
    }
    assert documented == set(mine)


@pytest.mark.parametrize(
    "method,path,allowed,ok", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_roles(world: World, method: str, path: str, allowed: frozenset[str], ok: int) -> None:
    for role in ROLES:
        url, body = request_for(world, method, path)
        with world.client(role) as c:
            r = c.request(method, url, json=body)
        if role in allowed:
            assert r.status_code == ok, (role, method, url, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, method, url, r.status_code, r.text)
            assert role in r.json()["error"]


@pytest.mark.parametrize(
    "method,path,allowed,ok", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_no_or_bad_token_is_401(
    world: World, method: str, path: str, allowed: frozenset[str], ok: int
) -> None:
    url, body = request_for(world, method, path)
    with world.server.client() as c:
        for headers in (
            {},
            {"Authorization": "Bearer cnf_not-a-token"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": "Bearer"},
        ):
            r = c.request(method, url, json=body, headers=headers)
            assert r.status_code == 401, (headers, r.status_code, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "error" in r.json()


def test_revoked_and_expired_tokens_are_401(world: World) -> None:
    reg = world.registry
    rec, secret = reg.create_token(name="short", role="viewer")
    with world.server.client(secret) as c:
        assert c.get("/api/v1/me").status_code == 200
        with world.client("admin") as admin:
            assert admin.delete(f"/api/v1/tokens/{rec['id']}").status_code == 200
        assert c.get("/api/v1/me").status_code == 401
    rec, secret = reg.create_token(
        name="soon", role="viewer", expires_at=datetime.now(UTC) + timedelta(seconds=0.3)
    )
    with world.server.client(secret) as c:
        assert c.get("/api/v1/me").status_code == 200
        import time

        time.sleep(0.4)
        assert c.get("/api/v1/me").status_code == 401


def test_technician_scope(world: World) -> None:
    """A technician reads and acts only within their own work orders."""
    with world.client("technician") as c:
        assert c.get(f"/api/v1/nodes/{world.own_node}").status_code == 200
        assert c.get(f"/api/v1/nodes/{world.other_node}").status_code == 403
        assert c.get(f"/api/v1/nodes/{world.registered_node}").status_code == 403
        assert c.get(f"/api/v1/work-orders/{world.wo}").status_code == 200
        assert c.get(f"/api/v1/work-orders/{world.other_wo}").status_code == 403
        r = c.post(f"/api/v1/work-orders/{world.other_wo}/provision", json={"board": "esp32c3"})
        assert r.status_code == 403, r.text
        assert c.post(f"/api/v1/nodes/{world.other_node}/installed", json={}).status_code == 403
        assert c.post(f"/api/v1/work-orders/{world.other_wo}/close").status_code == 403
        listed = c.get("/api/v1/work-orders", params={"limit": 1000}).json()["items"]
        assert {wo["technician_id"] for wo in listed} == {world.tech}


def test_edge_reads_only_its_district(world: World) -> None:
    reg = world.registry
    other = world.principal("other_technician")
    # a node in another district, provisioned by a technician with a work order there
    wo = reg.create_work_order(
        ADMIN,
        technician_id=world.other_tech,
        district="xuhui",
        kit="manhole",
        site=None,
        quantity=1,
        note=None,
        remote=None,
    )
    xh = reg.provision(other, wo["id"], {"board": "rp2-pico-w"}, None)["node"]["id"]
    with world.client("edge") as c:
        keys = c.get("/api/v1/edge/keys").json()["nodes"]
    assert world.own_node in keys and world.other_node in keys
    assert xh not in keys
    assert world.registered_node not in keys  # no key yet
