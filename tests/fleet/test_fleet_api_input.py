"""Bad input gets 400 with one entry per field (what was wrong, what is allowed), for every
endpoint that takes input; cursor pagination; the provisioning flow."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import World
from fleet_helpers import ADMIN

from fleet.registry import NodeStatus, now

# method, path, role, body or query, fields expected in the 400
BAD: list[tuple[str, str, str, dict[str, Any], set[str]]] = [
    ("GET", "/api/v1/nodes", "viewer", {"params": {"limit": 0}}, {"query.limit"}),
    ("GET", "/api/v1/nodes", "viewer", {"params": {"limit": "many"}}, {"query.limit"}),
    ("GET", "/api/v1/nodes", "viewer", {"params": {"kit": "lift"}}, {"query.kit"}),
    (
        "GET",
        "/api/v1/nodes",
        "viewer",
        {"params": {"health": "meh", "state": "gone"}},
        {"query.health", "query.state"},
    ),
    ("GET", "/api/v1/nodes", "viewer", {"params": {"district": "Jing An"}}, {"query.district"}),
    (
        "GET",
        "/api/v1/nodes",
        "viewer",
        {"params": {"last_seen_before": "yesterday"}},
        {"query.last_seen_before"},
    ),
    ("GET", "/api/v1/nodes", "viewer", {"params": {"cursor": "a b"}}, {"query.cursor"}),
    ("GET", "/api/v1/nodes", "viewer", {"params": {"cursor": "!!"}}, {"query.cursor"}),
    ("POST", "/api/v1/nodes", "operator", {"json": {"nodes": []}}, {"body.nodes"}),
    ("POST", "/api/v1/nodes", "operator", {"json": {}}, {"body.nodes"}),
    (
        "POST",
        "/api/v1/nodes",
        "operator",
        {
            "json": {
                "nodes": [
                    {
                        "id": "bad id",
                        "kit": "lift",
                        "district": "ja",
                        "position": {"lat": 91, "lon": 0},
                        "colour": "red",
                    }
                ]
            }
        },
        {"body.nodes.0.id", "body.nodes.0.kit", "body.nodes.0.position.lat", "body.nodes.0.colour"},
    ),
    (
        "POST",
        "/api/v1/nodes",
        "operator",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        {"body.1"},
    ),
    ("GET", "/api/v1/nodes/{bad}", "viewer", {}, {"path.node_id"}),
    (
        "PATCH",
        "/api/v1/nodes/{node}",
        "operator",
        {"json": {"district": "", "position": {"lat": "x"}, "kit": "hydrant"}},
        {"body.district", "body.position.lat", "body.position.lon", "body.kit"},
    ),
    (
        "POST",
        "/api/v1/nodes/{own}/installed",
        "technician",
        {"json": {"install_date": "soon"}},
        {"body.install_date"},
    ),
    ("POST", "/api/v1/nodes/{bad}/revoke", "operator", {}, {"path.node_id"}),
    ("GET", "/api/v1/edges", "viewer", {"params": {"limit": 5000}}, {"query.limit"}),
    (
        "POST",
        "/api/v1/edges",
        "operator",
        {"json": {"id": "e/1", "district": "x" * 40, "endpoints": ["nohost", "h:70000"]}},
        {"body.id", "body.district", "body.endpoints.0", "body.endpoints.1"},
    ),
    ("GET", "/api/v1/edges/{bad}", "viewer", {}, {"path.edge_id"}),
    ("GET", "/api/v1/technicians", "viewer", {"params": {"cursor": "x"}}, {"query.cursor"}),
    ("GET", "/api/v1/audit", "admin", {"params": {"cursor": -1}}, {"query.cursor"}),
    ("POST", "/api/v1/technicians", "admin", {"json": {"name": ""}}, {"body.name"}),
    (
        "GET",
        "/api/v1/work-orders",
        "viewer",
        {"params": {"state": "done", "technician_id": 0}},
        {"query.state", "query.technician_id"},
    ),
    (
        "POST",
        "/api/v1/work-orders",
        "operator",
        {"json": {"technician_id": "x", "district": "JA", "kit": "lift", "quantity": 0}},
        {"body.technician_id", "body.district", "body.kit", "body.quantity"},
    ),
    (
        "POST",
        "/api/v1/work-orders",
        "operator",
        {"json": {"technician_id": 999999, "district": "ja", "kit": "hydrant", "quantity": 1}},
        {"body.technician_id"},
    ),
    ("GET", "/api/v1/work-orders/0", "viewer", {}, {"path.wid"}),
    ("POST", "/api/v1/work-orders/x/close", "operator", {}, {"path.wid"}),
    ("POST", "/api/v1/work-orders/{wo}/provision", "technician", {"json": {}}, {"body.board"}),
    (
        "POST",
        "/api/v1/work-orders/{wo}/provision",
        "technician",
        {"json": {"board": "esp32c3", "thresholds": {"hammer_pa": "big"}}},
        {"body.thresholds.hammer_pa"},
    ),
    (
        "POST",
        "/api/v1/work-orders/{wo}/provision",
        "technician",
        {"json": {"board": "esp32c3", "thresholds": {"door_open_s": 5}}},
        {"body.thresholds"},
    ),
    ("GET", "/api/v1/tokens", "admin", {"params": {"limit": -1}}, {"query.limit"}),
    ("POST", "/api/v1/tokens", "admin", {"json": {"name": "x", "role": "root"}}, {"body.role"}),
    (
        "POST",
        "/api/v1/tokens",
        "admin",
        {"json": {"name": "x", "role": "technician"}},
        {"body.technician_id"},
    ),
    ("POST", "/api/v1/tokens", "admin", {"json": {"name": "x", "role": "edge"}}, {"body.district"}),
    (
        "POST",
        "/api/v1/tokens",
        "admin",
        {"json": {"name": "x", "role": "viewer", "expires_at": "2020-01-01T00:00:00"}},
        {"body.expires_at"},
    ),
    (
        "POST",
        "/api/v1/tokens",
        "admin",
        {"json": {"name": "x", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z"}},
        {"body.expires_at"},
    ),
    ("DELETE", "/api/v1/tokens/abc", "admin", {}, {"path.token_id"}),
    ("GET", "/api/v1/audit", "admin", {"params": {"target": ""}}, {"query.target"}),
]


@pytest.mark.parametrize(
    "method,path,role,kw,fields", BAD, ids=[f"{m} {p} {sorted(f)}" for m, p, _, _, f in BAD]
)
def test_bad_input_is_400_with_fields(  # noqa: PLR0917
    world: World, method: str, path: str, role: str, kw: dict[str, Any], fields: set[str]
) -> None:
    url = (
        path.replace("{bad}", "bad%20id!")
        .replace("{node}", world.registered_node)
        .replace("{own}", world.own_node)
        .replace("{wo}", str(world.wo))
    )
    with world.client(role) as c:
        r = c.request(method, url, **kw)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "invalid request"
    got = {f["field"] for f in body["fields"]}
    assert fields <= got, body
    for f in body["fields"]:
        assert f["problem"] and f["allowed"], f


def test_field_errors_say_what_is_allowed(world: World) -> None:
    with world.client("operator") as c:
        r = c.post(
            "/api/v1/work-orders",
            json={
                "technician_id": world.tech,
                "district": "ja",
                "kit": "lift",
                "quantity": 1,
                "colour": 1,
            },
        )
    fields = {f["field"]: f for f in r.json()["fields"]}
    assert fields["body.kit"]["allowed"] == "one of: elevator, hydrant, manhole"
    assert fields["body.kit"]["got"] == "lift"
    assert fields["body.colour"]["allowed"].startswith("known fields: technician_id, district")


def test_cursor_pagination(world: World) -> None:
    reg = world.registry
    district = f"pg{world.next()}"
    ids = [f"pg-{district}-{i:04d}" for i in range(257)]
    reg.register_nodes(
        ADMIN, [{"id": i, "kit": "manhole", "district": district} for i in ids], None
    )
    seen: list[str] = []
    cursor = None
    pages = 0
    with world.client("viewer") as c:
        while True:
            params: dict[str, Any] = {"district": district, "limit": 50}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/api/v1/nodes", params=params).json()
            seen += [n["id"] for n in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            if pages == 2:  # a node inserted behind the cursor does not shift the pages
                reg.register_nodes(
                    ADMIN,
                    [{"id": f"pg-{district}-0000a", "kit": "manhole", "district": district}],
                    None,
                )
    assert seen == ids
    assert pages == 6
    # filters combine; last_seen_before / include_never_seen
    half = ids[:100]
    t = now()
    reg.apply_status([NodeStatus(node=i, last_seen=t, status_at=t, firmware="0.9.1") for i in half])
    with world.client("viewer") as c:
        fw = c.get(
            "/api/v1/nodes", params={"district": district, "firmware": "0.9.1", "limit": 1000}
        ).json()
        assert [n["id"] for n in fw["items"]] == half
        old = c.get(
            "/api/v1/nodes",
            params={
                "district": district,
                "limit": 1000,
                "last_seen_before": "2100-01-01T00:00:00Z",
            },
        ).json()
        assert len(old["items"]) == 100
        never = c.get(
            "/api/v1/nodes",
            params={
                "district": district,
                "limit": 1000,
                "last_seen_before": "2000-01-01T00:00:00",
                "include_never_seen": "true",
            },
        ).json()
        assert len(never["items"]) == 158
    # the other lists page too
    for _ in range(3):
        reg.create_technician(ADMIN, name="p", contact=None, remote=None)
    with world.client("admin") as c:
        for path in (
            "/api/v1/technicians",
            "/api/v1/tokens",
            "/api/v1/work-orders",
            "/api/v1/edges",
            "/api/v1/audit",
        ):
            first = c.get(path, params={"limit": 2}).json()
            assert len(first["items"]) == 2 and first["next_cursor"], path
            second = c.get(path, params={"limit": 2, "cursor": first["next_cursor"]}).json()
            a = [x["id"] for x in first["items"]]
            b = [x["id"] for x in second["items"]]
            assert not set(a) & set(b), path
            if path.endswith("audit"):
                assert a[0] > a[1] > b[0]  # newest first
            else:
                assert a[0] < a[1] < b[0]


def test_provisioning_flow(world: World) -> None:
    """provision -> (no hello: 409) -> hello -> installed; rerun safe; keys never in the audit."""
    reg = world.registry
    with world.client("technician") as tech:
        r = tech.post(
            f"/api/v1/work-orders/{world.wo}/provision",
            json={
                "board": "esp32c3",
                "hw_rev": "B",
                "position": {"lat": 31.2, "lon": 121.4},
                "thresholds": {"hammer_pa": 300000},
            },
        )
        assert r.status_code == 201, r.text
        got = r.json()
        node = got["node"]["id"]
        assert len(bytes.fromhex(got["key"])) == 32
        cfg = got["config"]
        assert cfg["node_id"] == node and cfg["kit"] == "hydrant"
        assert cfg["edge"]["tcp"][0] == "10.20.0.5:7300"  # edge-ja-1 first (id order)
        assert cfg["thresholds"]["hammer_pa"] == 300000
        assert got["node"]["state"] == "provisioned" and got["node"]["sleep_s"] == 900
        # rerun after an interrupted flash: a fresh key, the same node, not counted twice
        before = tech.get(f"/api/v1/work-orders/{world.wo}").json()["provisioned"]
        again = tech.post(
            f"/api/v1/work-orders/{world.wo}/provision", json={"board": "esp32c3", "node_id": node}
        ).json()
        assert again["node"]["id"] == node and again["key"] != got["key"]
        assert tech.get(f"/api/v1/work-orders/{world.wo}").json()["provisioned"] == before
        r = tech.post(f"/api/v1/nodes/{node}/installed", json={})
        assert r.status_code == 409 and "no hello" in r.json()["error"]
        # a hello older than the provisioning does not count
        old = now().replace(year=2020)
        reg.apply_status([NodeStatus(node=node, last_seen=old, status_at=old, firmware="0.1")])
        assert tech.post(f"/api/v1/nodes/{node}/installed", json={}).status_code == 409
        t = now()
        reg.apply_status(
            [
                NodeStatus(
                    node=node,
                    last_seen=t,
                    status_at=t,
                    firmware="0.3.1",
                    slot="a",
                    boot=1,
                    edge="edge-ja-1",
                )
            ]
        )
        n = tech.get(f"/api/v1/nodes/{node}").json()
        assert n["firmware"] == "0.3.1" and n["slot"] == "a" and n["edge"] == "edge-ja-1"
        r = tech.post(f"/api/v1/nodes/{node}/installed", json={"install_date": "2026-11-30"})
        assert r.status_code == 200 and r.json()["state"] == "installed"
        assert r.json()["install_date"] == "2026-11-30"
        assert tech.post(f"/api/v1/nodes/{node}/installed", json={}).status_code == 200  # again
        r = tech.post(
            f"/api/v1/work-orders/{world.wo}/provision", json={"board": "esp32c3", "node_id": node}
        )
        assert r.status_code == 409 and "revoke" in r.json()["error"]
    with world.client("operator") as op:
        assert op.post(f"/api/v1/nodes/{node}/revoke").json()["state"] == "revoked"
        audit = op.get("/api/v1/audit", params={"target": node, "limit": 100}).json()["items"]
    actions = [a["action"] for a in audit]
    assert actions == ["node.revoke", "node.installed", "node.provision", "node.provision"]
    assert all(a["remote"] == "127.0.0.1" for a in audit)
    assert got["key"] not in str(audit) and again["key"] not in str(audit)
    with world.client("edge") as edge:
        assert edge.get("/api/v1/edge/keys").json()["nodes"][node]["revoked"] is True
    # a revoked node may be provisioned again (new key, provisioned)
    with world.client("technician") as tech:
        r = tech.post(
            f"/api/v1/work-orders/{world.wo}/provision", json={"board": "esp32c3", "node_id": node}
        )
        assert r.status_code == 201 and r.json()["node"]["state"] == "provisioned"


def test_work_order_limits(world: World) -> None:
    reg = world.registry
    wo = reg.create_work_order(
        ADMIN,
        technician_id=world.tech,
        district="jingan",
        kit="elevator",
        site="Nanjing W Rd",
        quantity=1,
        note=None,
        remote=None,
    )["id"]
    nowhere = reg.create_work_order(
        ADMIN,
        technician_id=world.tech,
        district="minhang",
        kit="elevator",
        site=None,
        quantity=1,
        note=None,
        remote=None,
    )["id"]
    with world.client("technician") as tech:
        r = tech.post(f"/api/v1/work-orders/{wo}/provision", json={"board": "esp32"})
        assert r.status_code == 201 and r.json()["node"]["site"] == "Nanjing W Rd"
        assert r.json()["node"]["sleep_s"] == 0  # mains powered
        r = tech.post(f"/api/v1/work-orders/{wo}/provision", json={"board": "esp32"})
        assert r.status_code == 409 and "used up" in r.json()["error"]
        r = tech.post(f"/api/v1/work-orders/{nowhere}/provision", json={"board": "esp32"})
        assert r.status_code == 409 and "no edge agent" in r.json()["error"]
        r = tech.post(
            f"/api/v1/work-orders/{world.wo}/provision",
            json={"board": "esp32", "node_id": world.registered_node},
        )
        assert r.status_code == 409 and "elevator" in r.json()["error"]
        assert tech.post(f"/api/v1/work-orders/{wo}/close").json()["state"] == "closed"
        r = tech.post(f"/api/v1/work-orders/{wo}/provision", json={"board": "esp32"})
        assert r.status_code == 409 and "closed" in r.json()["error"]
        assert tech.get("/api/v1/work-orders/99999").status_code == 404
        assert (
            tech.post("/api/v1/work-orders/99999/provision", json={"board": "x"}).status_code == 404
        )
    with world.client("viewer") as v:
        assert v.get("/api/v1/nodes/no-such-node").status_code == 404
        assert v.get("/api/v1/edges/no-such-edge").status_code == 404
        assert v.get("/api/v1/nowhere").status_code == 404
    with world.client("operator") as op:
        r = op.post(
            "/api/v1/nodes",
            json={
                "nodes": [{"id": world.registered_node, "kit": "elevator", "district": "jingan"}]
            },
        )
        assert r.status_code == 409 and world.registered_node in r.json()["error"]
        r = op.post(
            "/api/v1/nodes",
            json={
                "nodes": [
                    {"id": "dup-1", "kit": "elevator", "district": "jingan"},
                    {"id": "dup-1", "kit": "elevator", "district": "jingan"},
                ]
            },
        )
        assert r.status_code == 400
