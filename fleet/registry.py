"""The registry: nodes, edge agents, technicians, work orders, tokens and the audit log.

Everything the API, the CLI and the status ingester do to the database goes
through :class:`Registry` (SQLAlchemy Core over the tables of
:mod:`fleet.db.models`; the same statements run on SQLite and PostgreSQL).
Methods that change something write an audit record in the same transaction.
Inputs are checked for shape by the API (pydantic); the registry checks what
needs the database (existence, ownership, state) and raises
:class:`~fleet.errors.FleetError` subclasses that map to HTTP statuses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Table,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, RowMapping

from firmware.app import config as fw_config
from fleet.db.engine import make_engine
from fleet.db.models import Audit, Edge, Node, Technician, Token, WorkOrder
from fleet.errors import Conflict, FieldError, FleetError, Forbidden, NotFound
from fleet.secrets import KeyBox, load_secret, new_node_key, new_token, token_hash
from fleet.settings import Settings

log = logging.getLogger("fleet.registry")

nodes = cast(Table, Node.__table__)
edges = cast(Table, Edge.__table__)
technicians = cast(Table, Technician.__table__)
work_orders = cast(Table, WorkOrder.__table__)
tokens = cast(Table, Token.__table__)
audit = cast(Table, Audit.__table__)

MAX_REGISTER = 1000
MAX_NODE_ENDPOINTS = 8  # edge endpoints written into a node's config
BATTERY_LOW_MV = 3300
TOKEN_TOUCH_S = 60.0

# Node columns the API shows (never key_sealed)
_NODE_COLS = [c for c in nodes.c if c.name not in ("key_sealed", "status_at", "keys_changed_at")]


def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's identity and scope."""

    token_id: int
    name: str
    role: str
    technician_id: int | None = None
    district: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return f"token:{self.token_id}:{self.name}"


CLI = Principal(token_id=0, name="cli", role="admin")


@dataclass(slots=True)
class Page:
    """One page of a list and the cursor of the next (None: the last page)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(slots=True)
class NodeStatus:
    """What the status ingester learned about one node (None: not in this report)."""

    node: str
    last_seen: datetime | None = None
    status_at: datetime | None = None
    firmware: str | None = None
    slot: str | None = None
    boot: int | None = None
    health: str | None = None
    health_detail: dict[str, Any] | None = None
    health_at: datetime | None = None
    edge: str | None = None

    def merge(self, other: NodeStatus) -> None:
        """Fold a later report of the same node into this one (newest wins per field)."""
        if other.last_seen is not None and (
            self.last_seen is None or other.last_seen > self.last_seen
        ):
            self.last_seen = other.last_seen
        if other.status_at is not None and (
            self.status_at is None or other.status_at >= self.status_at
        ):
            self.status_at = other.status_at
            for name in ("firmware", "slot", "boot", "health", "health_detail", "health_at"):
                value = getattr(other, name)
                if value is not None:
                    setattr(self, name, value)
        if other.edge is not None:
            self.edge = other.edge


@dataclass(slots=True)
class EdgeStatus:
    """What the ingester learned about one edge agent."""

    edge: str
    district: str
    seen: datetime
    state: str | None = None
    version: str | None = None
    status: dict[str, Any] | None = field(default=None)


class Notifier(Protocol):
    """Told after a commit that nodes' keys changed (revocation notices to edges)."""

    def keys_changed(self, district: str, node_ids: Sequence[str]) -> None: ...


def health_of(report: Mapping[str, Any]) -> str:
    """A node's health from its health report: faulty, degraded or ok."""
    if report.get("faults"):
        return "faulty"
    for name in ("queue_dropped", "queue_rejected"):
        value = report.get(name)
        if isinstance(value, int) and value > 0:
            return "degraded"
    mv = report.get("battery_mv")
    if isinstance(mv, int) and 0 <= mv < BATTERY_LOW_MV:
        return "degraded"
    return "ok"


# --- cursors --------------------------------------------------------------------


def encode_cursor(key: str | int) -> str:
    """The cursor for 'after this key' (keyset pagination: the last key of the page)."""
    return str(key)


_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def decode_cursor(cursor: str | int, kind: type) -> Any:
    """The key in a cursor; FieldError when it cannot be one."""
    if kind is int:
        if isinstance(cursor, int) and not isinstance(cursor, bool) and 0 <= cursor < 2**63:
            return cursor
        if isinstance(cursor, str) and cursor.isdigit() and len(cursor) <= 18:
            return int(cursor)
        allowed = "the next_cursor of a page (a whole number)"
    else:
        if isinstance(cursor, str) and _KEY.match(cursor):
            return cursor
        allowed = "the next_cursor of a page (an id)"
    raise FieldError([("query.cursor", f"not a cursor of this list: {cursor!r}", allowed)])


def _page(
    rows: Sequence[RowMapping], limit: int, shape: Any, key: str = "id"
) -> Page:  # shape: Callable[[RowMapping], dict]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        items=[shape(r) for r in rows],
        next_cursor=encode_cursor(rows[-1][key]) if more and rows else None,
    )


# --- shapes -----------------------------------------------------------------------


def node_dict(r: RowMapping) -> dict[str, Any]:
    """A node as the API shows it."""
    return {
        "id": r["id"],
        "kit": r["kit"],
        "board": r["board"],
        "hw_rev": r["hw_rev"],
        "district": r["district"],
        "site": r["site"],
        "position": None if r["lat"] is None else {"lat": r["lat"], "lon": r["lon"]},
        "install_date": r["install_date"],
        "state": r["state"],
        "firmware": r["firmware"],
        "slot": r["slot"],
        "boot": r["boot"],
        "last_seen": r["last_seen"],
        "health": r["health"],
        "health_detail": r["health_detail"],
        "health_at": r["health_at"],
        "edge": r["edge_id"],
        "work_order": r["work_order_id"],
        "sleep_s": r["sleep_s"],
        "provisioned_at": r["provisioned_at"],
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
    }


def _plain(r: RowMapping) -> dict[str, Any]:
    return dict(r)


def token_dict(r: RowMapping) -> dict[str, Any]:
    """A token without its hash."""
    return {k: v for k, v in r.items() if k != "token_hash"}


def audit_dict(r: RowMapping) -> dict[str, Any]:
    """An audit record."""
    return dict(r)


class Registry:
    """The fleet registry over one database."""

    def __init__(self, engine: Engine, keybox: KeyBox, *, notifier: Notifier | None = None):
        self.engine = engine
        self.wengine = engine.execution_options(sqlite_immediate=True)
        self.keybox = keybox
        self.notifier = notifier
        self.is_sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def open(cls, settings: Settings, **engine_kw: Any) -> Registry:
        """A registry for the settings' database and secret (the schema must exist)."""
        return cls(
            make_engine(settings.db_url, **engine_kw), KeyBox(load_secret(settings.secret_file))
        )

    def close(self) -> None:
        """Close the database connections."""
        self.engine.dispose()

    # --- audit ---------------------------------------------------------------------

    def _audit(  # noqa: PLR0917 - one audit record: who, what, which, where
        self,
        conn: Connection,
        who: Principal,
        action: str,
        target_type: str,
        target_id: str | int | None,
        remote: str | None,
        /,
        detail: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            insert(audit).values(
                at=now(),
                actor=who.actor,
                role=who.role,
                action=action,
                target_type=target_type,
                target_id=None if target_id is None else str(target_id),
                remote=remote,
                detail=detail,
            )
        )

    def list_audit(
        self,
        *,
        limit: int = 100,
        cursor: str | int | None = None,
        target: str | None = None,
        actor: str | None = None,
        action: str | None = None,
    ) -> Page:
        """The audit log, newest first."""
        q = select(audit)
        if target is not None:
            q = q.where(audit.c.target_id == target)
        if actor is not None:
            q = q.where(audit.c.actor == actor)
        if action is not None:
            q = q.where(audit.c.action == action)
        if cursor is not None:
            q = q.where(audit.c.id < decode_cursor(cursor, int))
        q = q.order_by(audit.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return _page(rows, limit, audit_dict)

    # --- tokens --------------------------------------------------------------------

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid token; None for an unknown, revoked or expired one."""
        h = token_hash(token)
        with self.engine.connect() as conn:
            r = conn.execute(select(tokens).where(tokens.c.token_hash == h)).mappings().first()
        if r is None or r["revoked_at"] is not None:
            return None
        t = now()
        if r["expires_at"] is not None and r["expires_at"] <= t:
            return None
        last = r["last_used_at"]
        if last is None or (t - last).total_seconds() > TOKEN_TOUCH_S:
            with self.wengine.begin() as conn:
                conn.execute(update(tokens).where(tokens.c.id == r["id"]).values(last_used_at=t))
        return Principal(
            token_id=r["id"],
            name=r["name"],
            role=r["role"],
            technician_id=r["technician_id"],
            district=r["district"],
        )

    def create_token(
        self,
        *,
        name: str,
        role: str,
        technician_id: int | None = None,
        district: str | None = None,
        expires_at: datetime | None = None,
        actor: str = "cli",
        remote: str | None = None,
        who: Principal | None = None,
    ) -> tuple[dict[str, Any], str]:
        """A new token: its record and the token itself (returned this once)."""
        who = who or Principal(token_id=0, name=actor, role="admin")
        problems: list[tuple[str, str, str]] = []
        if role == "technician" and technician_id is None:
            problems.append(
                ("body.technician_id", "required for role technician", "a technician id")
            )
        if role != "technician" and technician_id is not None:
            problems.append(
                ("body.technician_id", "only for role technician", "null for this role")
            )
        if role == "edge" and not district:
            problems.append(("body.district", "required for role edge", "a district name"))
        if role != "edge" and district:
            problems.append(("body.district", "only for role edge", "null for this role"))
        if expires_at is not None and expires_at <= now():
            problems.append(("body.expires_at", "in the past", "a time in the future"))
        if problems:
            raise FieldError(problems)
        secret = new_token()
        t = now()
        with self.wengine.begin() as conn:
            if technician_id is not None:
                self._technician(conn, technician_id, field="body.technician_id")
            tid = conn.execute(
                insert(tokens)
                .values(
                    name=name,
                    role=role,
                    token_hash=token_hash(secret),
                    technician_id=technician_id,
                    district=district,
                    created_by=who.actor,
                    created_at=t,
                    expires_at=expires_at,
                )
                .returning(tokens.c.id)
            ).scalar_one()
            self._audit(
                conn,
                who,
                "token.create",
                "token",
                tid,
                remote,
                {"name": name, "role": role, "technician_id": technician_id, "district": district},
            )
            r = conn.execute(select(tokens).where(tokens.c.id == tid)).mappings().one()
        return token_dict(r), secret

    def list_tokens(self, *, limit: int = 100, cursor: str | int | None = None) -> Page:
        """Tokens (never the token or its hash)."""
        q = select(tokens)
        if cursor is not None:
            q = q.where(tokens.c.id > decode_cursor(cursor, int))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(tokens.c.id).limit(limit + 1)).mappings().all()
        return _page(rows, limit, token_dict)

    def list_tokens_all(self) -> list[dict[str, Any]]:
        """Every token record (for the CLI)."""
        with self.engine.connect() as conn:
            return [
                token_dict(r) for r in conn.execute(select(tokens).order_by(tokens.c.id)).mappings()
            ]

    def revoke_token(
        self,
        token_id: int,
        *,
        actor: str = "cli",
        remote: str | None = None,
        who: Principal | None = None,
    ) -> dict[str, Any]:
        """Revoke a token (idempotent)."""
        who = who or Principal(token_id=0, name=actor, role="admin")
        with self.wengine.begin() as conn:
            r = conn.execute(select(tokens).where(tokens.c.id == token_id)).mappings().first()
            if r is None:
                raise NotFound(f"no token {token_id}")
            if r["revoked_at"] is None:
                if r["role"] == "admin" and self._last_admin(conn, token_id):
                    raise Conflict(
                        f"token {token_id} is the last valid admin token: create another "
                        "admin token first (fleet token create --role admin)"
                    )
                conn.execute(update(tokens).where(tokens.c.id == token_id).values(revoked_at=now()))
                self._audit(conn, who, "token.revoke", "token", token_id, remote)
            r = conn.execute(select(tokens).where(tokens.c.id == token_id)).mappings().one()
        return token_dict(r)

    def _last_admin(self, conn: Connection, token_id: int) -> bool:
        t = now()
        others = conn.execute(
            select(func.count())
            .select_from(tokens)
            .where(
                tokens.c.role == "admin",
                tokens.c.id != token_id,
                tokens.c.revoked_at.is_(None),
                or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > t),
            )
        ).scalar_one()
        return int(others) == 0

    # --- technicians and work orders --------------------------------------------------

    def _technician(self, conn: Connection, tech_id: int, *, field: str) -> RowMapping:
        r = conn.execute(select(technicians).where(technicians.c.id == tech_id)).mappings().first()
        if r is None:
            raise FieldError([(field, f"no technician {tech_id}", "the id of a technician")])
        return r

    def create_technician(
        self, who: Principal, *, name: str, contact: str | None, remote: str | None
    ) -> dict[str, Any]:
        """Add a technician."""
        with self.wengine.begin() as conn:
            tid = conn.execute(
                insert(technicians)
                .values(name=name, contact=contact, active=True, created_at=now())
                .returning(technicians.c.id)
            ).scalar_one()
            self._audit(conn, who, "technician.create", "technician", tid, remote, {"name": name})
            r = conn.execute(select(technicians).where(technicians.c.id == tid)).mappings().one()
        return dict(r)

    def list_technicians(self, *, limit: int = 100, cursor: str | int | None = None) -> Page:
        """Technicians in id order."""
        q = select(technicians)
        if cursor is not None:
            q = q.where(technicians.c.id > decode_cursor(cursor, int))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(technicians.c.id).limit(limit + 1)).mappings().all()
        return _page(rows, limit, _plain)

    def create_work_order(
        self,
        who: Principal,
        *,
        technician_id: int,
        district: str,
        kit: str,
        site: str | None,
        quantity: int,
        note: str | None,
        remote: str | None,
    ) -> dict[str, Any]:
        """A work order for a technician: provision up to ``quantity`` nodes of a kit."""
        with self.wengine.begin() as conn:
            tech = self._technician(conn, technician_id, field="body.technician_id")
            if not tech["active"]:
                raise FieldError(
                    [("body.technician_id", "technician is inactive", "an active technician")]
                )
            wid = conn.execute(
                insert(work_orders)
                .values(
                    technician_id=technician_id,
                    district=district,
                    kit=kit,
                    site=site,
                    quantity=quantity,
                    note=note,
                    state="open",
                    provisioned=0,
                    created_by=who.actor,
                    created_at=now(),
                )
                .returning(work_orders.c.id)
            ).scalar_one()
            self._audit(
                conn,
                who,
                "work_order.create",
                "work_order",
                wid,
                remote,
                {
                    "technician_id": technician_id,
                    "district": district,
                    "kit": kit,
                    "quantity": quantity,
                },
            )
            return self._work_order_dict(conn, wid)

    def _work_order_dict(self, conn: Connection, wid: int) -> dict[str, Any]:
        r = conn.execute(select(work_orders).where(work_orders.c.id == wid)).mappings().first()
        if r is None:
            raise NotFound(f"no work order {wid}")
        return dict(r)

    def _own_work_order(self, conn: Connection, who: Principal, wid: int) -> dict[str, Any]:
        wo = self._work_order_dict(conn, wid)
        if who.role == "technician" and wo["technician_id"] != who.technician_id:
            raise Forbidden(f"work order {wid} belongs to another technician")
        return wo

    def get_work_order(self, who: Principal, wid: int) -> dict[str, Any]:
        """One work order (a technician sees only their own)."""
        with self.engine.connect() as conn:
            return self._own_work_order(conn, who, wid)

    def list_work_orders(
        self,
        who: Principal,
        *,
        limit: int = 100,
        cursor: str | int | None = None,
        state: str | None = None,
        technician_id: int | None = None,
    ) -> Page:
        """Work orders in id order (a technician's own only)."""
        q = select(work_orders)
        if who.role == "technician":
            q = q.where(work_orders.c.technician_id == who.technician_id)
        if technician_id is not None:
            q = q.where(work_orders.c.technician_id == technician_id)
        if state is not None:
            q = q.where(work_orders.c.state == state)
        if cursor is not None:
            q = q.where(work_orders.c.id > decode_cursor(cursor, int))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(work_orders.c.id).limit(limit + 1)).mappings().all()
        return _page(rows, limit, _plain)

    def close_work_order(self, who: Principal, wid: int, remote: str | None) -> dict[str, Any]:
        """Close a work order (idempotent)."""
        with self.wengine.begin() as conn:
            wo = self._own_work_order(conn, who, wid)
            if wo["state"] != "closed":
                conn.execute(
                    update(work_orders)
                    .where(work_orders.c.id == wid)
                    .values(state="closed", closed_at=now())
                )
                self._audit(conn, who, "work_order.close", "work_order", wid, remote)
            return self._work_order_dict(conn, wid)

    # --- edges -----------------------------------------------------------------------

    def upsert_edge(
        self,
        who: Principal,
        *,
        edge_id: str,
        district: str,
        name: str | None,
        endpoints: list[str],
        remote: str | None,
    ) -> tuple[dict[str, Any], bool]:
        """Register an edge agent or update its district, name and endpoints; (edge, created)."""
        t = now()
        with self.wengine.begin() as conn:
            old = conn.execute(select(edges).where(edges.c.id == edge_id)).mappings().first()
            values = {"district": district, "name": name, "endpoints": endpoints, "updated_at": t}
            if old is None:
                conn.execute(
                    insert(edges).values(id=edge_id, created_at=t, state="unknown", **values)
                )
            else:
                conn.execute(update(edges).where(edges.c.id == edge_id).values(**values))
            self._audit(
                conn,
                who,
                "edge.create" if old is None else "edge.update",
                "edge",
                edge_id,
                remote,
                {"district": district, "endpoints": endpoints},
            )
            r = conn.execute(select(edges).where(edges.c.id == edge_id)).mappings().one()
        return dict(r), old is None

    def get_edge(self, edge_id: str) -> dict[str, Any]:
        """One edge agent."""
        with self.engine.connect() as conn:
            r = conn.execute(select(edges).where(edges.c.id == edge_id)).mappings().first()
        if r is None:
            raise NotFound(f"no edge agent {edge_id!r}")
        return dict(r)

    def list_edges(
        self, *, limit: int = 100, cursor: str | int | None = None, district: str | None = None
    ) -> Page:
        """Edge agents in id order."""
        q = select(edges)
        if district is not None:
            q = q.where(edges.c.district == district)
        if cursor is not None:
            q = q.where(edges.c.id > decode_cursor(cursor, str))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(edges.c.id).limit(limit + 1)).mappings().all()
        return _page(rows, limit, _plain)

    # --- nodes -----------------------------------------------------------------------

    def _node_row(self, conn: Connection, node_id: str, *, lock: bool = False) -> RowMapping:
        q = select(nodes).where(nodes.c.id == node_id)
        if lock:
            q = q.with_for_update()
        r = conn.execute(q).mappings().first()
        if r is None:
            raise NotFound(f"no node {node_id!r}")
        return r

    def _check_node_access(self, conn: Connection, who: Principal, r: Mapping[Any, Any]) -> None:
        if who.role != "technician":
            return
        wid = r["work_order_id"]
        owner = (
            None
            if wid is None
            else conn.execute(
                select(work_orders.c.technician_id).where(work_orders.c.id == wid)
            ).scalar()
        )
        if owner is None or owner != who.technician_id:
            raise Forbidden(f"node {r['id']} is not from one of your work orders")

    def get_node(self, who: Principal, node_id: str) -> dict[str, Any]:
        """One node (a technician sees only the nodes of their work orders)."""
        with self.engine.connect() as conn:
            r = self._node_row(conn, node_id)
            self._check_node_access(conn, who, r)
        return node_dict(r)

    def node_query(
        self,
        *,
        district: str | None = None,
        kit: str | None = None,
        firmware: str | None = None,
        health: str | None = None,
        state: str | None = None,
        edge: str | None = None,
        last_seen_before: datetime | None = None,
        include_never_seen: bool = False,
        after: str | None = None,
        limit: int = 100,
    ) -> Select[Any]:
        """The SELECT behind :meth:`list_nodes` (the benchmark runs it bare as a baseline)."""
        conds: list[ColumnElement[bool]] = []
        for col, value in (
            (nodes.c.district, district),
            (nodes.c.kit, kit),
            (nodes.c.firmware, firmware),
            (nodes.c.health, health),
            (nodes.c.state, state),
            (nodes.c.edge_id, edge),
        ):
            if value is not None:
                conds.append(col == value)
        # the partial indexes' conditions, so both databases see they may use them
        if health is not None and health != "ok":
            conds.append(nodes.c.health != "ok")
        if state is not None and state != "installed":
            conds.append(nodes.c.state != "installed")
        if last_seen_before is not None:
            older = nodes.c.last_seen < last_seen_before
            conds.append(or_(older, nodes.c.last_seen.is_(None)) if include_never_seen else older)
        if after is not None:
            conds.append(nodes.c.id > after)
        return select(*_NODE_COLS).where(*conds).order_by(nodes.c.id).limit(limit)

    def list_nodes(
        self, *, limit: int = 100, cursor: str | int | None = None, **filters: Any
    ) -> Page:
        """Nodes in id order, filtered (see :meth:`node_query`)."""
        after = decode_cursor(cursor, str) if cursor is not None else None
        q = self.node_query(after=after, limit=limit + 1, **filters)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return _page(rows, limit, node_dict)

    def register_nodes(
        self, who: Principal, items: Sequence[Mapping[str, Any]], remote: str | None
    ) -> int:
        """Register nodes in the inventory (no key yet); all or none."""
        if len(items) > MAX_REGISTER:
            raise FieldError(
                [("body.nodes", f"{len(items)} nodes", f"1..{MAX_REGISTER} per request")]
            )
        ids = [i["id"] for i in items]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:10]
            raise FieldError([("body.nodes", f"duplicate ids in the request: {dup}", "unique ids")])
        t = now()
        rows = [
            {
                "id": i["id"],
                "kit": i["kit"],
                "board": i.get("board"),
                "hw_rev": i.get("hw_rev"),
                "district": i["district"],
                "site": i.get("site"),
                "lat": (i.get("position") or {}).get("lat"),
                "lon": (i.get("position") or {}).get("lon"),
                "install_date": i.get("install_date"),
                "state": "registered",
                "health": "unknown",
                "key_revoked": False,
                "sleep_s": 0,
                "created_at": t,
                "updated_at": t,
            }
            for i in items
        ]
        with self.wengine.begin() as conn:
            existing: list[str] = []
            for at in range(0, len(ids), 500):
                chunk = ids[at : at + 500]
                existing.extend(
                    conn.execute(select(nodes.c.id).where(nodes.c.id.in_(chunk))).scalars().all()
                )
            if existing:
                raise Conflict(
                    f"{len(existing)} node(s) exist already, e.g. {sorted(existing)[:10]}; "
                    "nothing was registered (edit existing nodes with PATCH)"
                )
            conn.execute(insert(nodes), rows)
            self._audit(
                conn,
                who,
                "node.register",
                "node",
                ids[0] if len(ids) == 1 else None,
                remote,
                {"count": len(ids), "first": ids[0], "last": ids[-1]},
            )
        return len(rows)

    def patch_node(
        self, who: Principal, node_id: str, changes: Mapping[str, Any], remote: str | None
    ) -> dict[str, Any]:
        """Edit a node's site, position, district, board or hardware revision."""
        values: dict[str, Any] = {}
        for name in ("site", "board", "hw_rev", "district"):
            if name in changes:
                values[name] = changes[name]
        if "position" in changes:
            pos = changes["position"]
            values["lat"] = None if pos is None else pos["lat"]
            values["lon"] = None if pos is None else pos["lon"]
        t = now()
        with self.wengine.begin() as conn:
            r = self._node_row(conn, node_id, lock=True)
            moved = "district" in values and values["district"] != r["district"]
            if moved and r["key_sealed"] is not None:
                values["keys_changed_at"] = t
            if values:
                values["updated_at"] = t
                conn.execute(update(nodes).where(nodes.c.id == node_id).values(**values))
                detail = {k: v for k, v in changes.items()}
                self._audit(conn, who, "node.update", "node", node_id, remote, detail)
            r2 = self._node_row(conn, node_id)
        if moved and r["key_sealed"] is not None:
            self._notify(r["district"], [node_id])
            self._notify(r2["district"], [node_id])
        return node_dict(r2)

    def revoke_node(self, who: Principal, node_id: str, remote: str | None) -> dict[str, Any]:
        """Withdraw a node's key: edges drop it at their next pull (at once with notices)."""
        t = now()
        with self.wengine.begin() as conn:
            r = self._node_row(conn, node_id, lock=True)
            if r["state"] != "revoked":
                conn.execute(
                    update(nodes)
                    .where(nodes.c.id == node_id)
                    .values(state="revoked", key_revoked=True, keys_changed_at=t, updated_at=t)
                )
                self._audit(conn, who, "node.revoke", "node", node_id, remote)
            r = self._node_row(conn, node_id)
        self._notify(r["district"], [node_id])
        return node_dict(r)

    def mark_installed(
        self, who: Principal, node_id: str, install_date: date | None, remote: str | None
    ) -> dict[str, Any]:
        """A provisioned node that has said hello since it was provisioned is installed."""
        t = now()
        with self.wengine.begin() as conn:
            r = self._node_row(conn, node_id, lock=True)
            self._check_node_access(conn, who, r)
            if r["state"] == "installed":
                return node_dict(r)
            if r["state"] != "provisioned":
                raise Conflict(
                    f"node {node_id} is {r['state']}, not provisioned: provision it first "
                    "(POST /api/v1/work-orders/{id}/provision)"
                )
            seen, prov = r["last_seen"], r["provisioned_at"]
            if seen is None or prov is None or seen < prov:
                raise Conflict(
                    f"no hello from node {node_id} since it was provisioned "
                    f"({prov.isoformat() if prov else '?'}): check that it reaches its edge "
                    "agent and that the edge has pulled its key; then try again"
                )
            day = install_date or t.date()
            conn.execute(
                update(nodes)
                .where(nodes.c.id == node_id)
                .values(state="installed", install_date=day, updated_at=t)
            )
            self._audit(
                conn, who, "node.installed", "node", node_id, remote, {"install_date": str(day)}
            )
            return node_dict(self._node_row(conn, node_id))

    # --- provisioning -------------------------------------------------------------------

    def provision(
        self, who: Principal, wid: int, req: Mapping[str, Any], remote: str | None
    ) -> dict[str, Any]:
        """A node identity for a technician's work order: node, key (hex, once) and config."""
        t = now()
        with self.wengine.begin() as conn:
            wr = (
                conn.execute(select(work_orders).where(work_orders.c.id == wid).with_for_update())
                .mappings()
                .first()
            )
            if wr is None:
                raise NotFound(f"no work order {wid}")
            if who.role != "technician" or wr["technician_id"] != who.technician_id:
                raise Forbidden(f"work order {wid} belongs to another technician")
            if wr["state"] != "open":
                raise Conflict(
                    f"work order {wid} is {wr['state']}: ask an operator for an open one"
                )
            endpoints = self._district_endpoints(conn, wr["district"])
            if not endpoints:
                raise Conflict(
                    f"district {wr['district']} has no edge agent with endpoints: an operator "
                    "must register one (POST /api/v1/edges) before nodes can be provisioned"
                )
            node_id: str | None = req.get("node_id")
            old: RowMapping | None = None
            if node_id is not None:
                old = (
                    conn.execute(select(nodes).where(nodes.c.id == node_id).with_for_update())
                    .mappings()
                    .first()
                )
            if old is not None:
                if old["kit"] != wr["kit"] or old["district"] != wr["district"]:
                    raise Conflict(
                        f"node {node_id} is a {old['kit']} node in {old['district']}; work order "
                        f"{wid} is for {wr['kit']} nodes in {wr['district']}"
                    )
                if old["state"] == "installed":
                    raise Conflict(
                        f"node {node_id} is installed already: an operator must revoke it "
                        f"(POST /api/v1/nodes/{node_id}/revoke) before it is provisioned again"
                    )
                if old["state"] == "provisioned" and old["work_order_id"] not in (None, wid):
                    raise Conflict(
                        f"node {node_id} was provisioned under work order {old['work_order_id']}"
                    )
            counts = old is None or old["work_order_id"] != wid
            if counts:
                used = wr["provisioned"]
                if used >= wr["quantity"]:
                    raise Conflict(
                        f"work order {wid} is used up: {used} of {wr['quantity']} nodes "
                        "provisioned (re-provisioning one of them is allowed)"
                    )
            if node_id is None:
                node_id = self._new_node_id(conn, wr["district"], wr["kit"])
            cfg = self._node_config(node_id, wr, req, endpoints)
            sleep_s = (
                cfg["sample_s"] * cfg.get("uplink_every", 1) if cfg["power"] == "battery" else 0
            )
            key = new_node_key()
            pos = req.get("position")
            values: dict[str, Any] = {
                "board": req["board"],
                "hw_rev": req.get("hw_rev"),
                "site": req.get("site") or wr["site"],
                "lat": None if pos is None else pos["lat"],
                "lon": None if pos is None else pos["lon"],
                "state": "provisioned",
                "work_order_id": wid,
                "key_sealed": self.keybox.seal(node_id, key),
                "key_revoked": False,
                "sleep_s": sleep_s,
                "keys_changed_at": t,
                "provisioned_at": t,
                "updated_at": t,
            }
            if old is None:
                conn.execute(
                    insert(nodes).values(
                        id=node_id,
                        kit=wr["kit"],
                        district=wr["district"],
                        health="unknown",
                        created_at=t,
                        **values,
                    )
                )
            else:
                conn.execute(update(nodes).where(nodes.c.id == node_id).values(**values))
            if counts:
                conn.execute(
                    update(work_orders)
                    .where(work_orders.c.id == wid)
                    .values(provisioned=work_orders.c.provisioned + 1)
                )
            self._audit(
                conn,
                who,
                "node.provision",
                "node",
                node_id,
                remote,
                {"work_order": wid, "rekey": old is not None and old["key_sealed"] is not None},
            )
            node = node_dict(self._node_row(conn, node_id))
        self._notify(wr["district"], [node_id])
        return {"node": node, "key": key.hex(), "config": cfg}

    def _district_endpoints(self, conn: Connection, district: str) -> list[str]:
        out: list[str] = []
        for eps in conn.execute(
            select(edges.c.endpoints).where(edges.c.district == district).order_by(edges.c.id)
        ).scalars():
            out.extend(e for e in eps or () if e not in out)
        return out[:MAX_NODE_ENDPOINTS]

    def _new_node_id(self, conn: Connection, district: str, kit: str) -> str:
        for _ in range(20):
            node_id = f"{district}-{kit[:3]}-{secrets.token_hex(4)}"
            if conn.execute(select(nodes.c.id).where(nodes.c.id == node_id)).first() is None:
                return node_id
        raise FleetError("could not allocate a node id")  # pragma: no cover - 2^32 space

    def _node_config(
        self, node_id: str, wr: Mapping[Any, Any], req: Mapping[str, Any], endpoints: list[str]
    ) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "format": fw_config.CONFIG_FORMAT,
            "node_id": node_id,
            "kit": wr["kit"],
            "district": wr["district"],
            "edge": {"tcp": endpoints},
            "config_version": 1,
        }
        if req.get("thresholds"):
            cfg["thresholds"] = dict(req["thresholds"])
        try:
            return dict(fw_config.check(cfg, where="config"))  # type: ignore[no-untyped-call]
        except fw_config.ConfigError as e:
            field_name = "body.thresholds" if "threshold" in str(e) else "body"
            known = cast(dict[str, dict[str, int]], fw_config.DEFAULTS[wr["kit"]])["thresholds"]
            allowed = ", ".join(sorted(known))
            raise FieldError(
                [(field_name, str(e), f"integer thresholds of kit {wr['kit']}: {allowed}")]
            ) from None

    # --- keys for edges -----------------------------------------------------------------

    def edge_keys_etag(self, district: str) -> str:
        """A tag that changes whenever a key of the district's nodes changes."""
        with self.engine.connect() as conn:
            count, newest = conn.execute(
                select(func.count(), func.max(nodes.c.keys_changed_at)).where(
                    nodes.c.district == district, nodes.c.key_sealed.is_not(None)
                )
            ).one()
        raw = f"{district}|{count}|{newest.isoformat() if newest else ''}"
        return '"' + hashlib.sha256(raw.encode()).hexdigest()[:32] + '"'

    def edge_keys(self, who: Principal, district: str, remote: str | None) -> dict[str, Any]:
        """The keys file of a district's edge agents: ``{"nodes": {id: {...}}}``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(nodes.c.id, nodes.c.key_sealed, nodes.c.sleep_s, nodes.c.key_revoked)
                .where(nodes.c.district == district, nodes.c.key_sealed.is_not(None))
                .order_by(nodes.c.id)
            ).all()
        out: dict[str, dict[str, Any]] = {}
        box = self.keybox
        for node_id, sealed, sleep_s, revoked in rows:
            out[node_id] = {
                "key": box.open(node_id, sealed).hex(),
                "sleep_s": sleep_s,
                "revoked": bool(revoked),
            }
        with self.wengine.begin() as conn:
            self._audit(conn, who, "keys.pull", "district", district, remote, {"nodes": len(out)})
        return {"nodes": out}

    def _notify(self, district: str, node_ids: Sequence[str]) -> None:
        if self.notifier is None:
            return
        try:
            self.notifier.keys_changed(district, node_ids)
        except Exception:  # a notice is an optimisation: edges pull anyway
            log.exception("could not publish a keys notice for %s", district)

    # --- status ingestion ---------------------------------------------------------------

    def apply_status(self, reports: Iterable[NodeStatus]) -> int:
        """Write nodes' status reports in one transaction; return how many nodes matched.

        Status fields move only forward (``status_at``), ``last_seen`` only grows:
        an old retained document never moves a node back. Several reports of one node
        are merged first. One statement per batch: executemany on SQLite, an
        ``UPDATE ... FROM json_to_recordset(batch)`` on PostgreSQL (docs/benchmarks.md).
        """
        merged: dict[str, NodeStatus] = {}
        for r in reports:
            old = merged.get(r.node)
            if old is None:
                merged[r.node] = r
            else:
                old.merge(r)
        if not merged:
            return 0
        t = _naive(now())
        with self.wengine.begin() as conn:
            if self.is_sqlite:
                rows = [
                    (
                        r.node,
                        _sqlite_time(r.last_seen),
                        _sqlite_time(r.status_at),
                        r.firmware,
                        r.slot,
                        r.boot,
                        r.health,
                        None if r.health_detail is None else json.dumps(r.health_detail),
                        _sqlite_time(r.health_at),
                        r.edge,
                        _sqlite_time(t),
                    )
                    for r in merged.values()
                ]
                result = conn.exec_driver_sql(_SQLITE_STATUS, rows)
            else:  # one JSON document, taken apart by the server (json_to_recordset)
                doc = json.dumps(
                    [
                        {
                            "id": r.node,
                            "ls": _iso(r.last_seen),
                            "at": _iso(r.status_at),
                            "fw": r.firmware,
                            "slot": r.slot,
                            "boot": r.boot,
                            "health": r.health,
                            "hd": r.health_detail,
                            "hat": _iso(r.health_at),
                            "edge": r.edge,
                        }
                        for r in merged.values()
                    ],
                    separators=(",", ":"),
                )
                result = conn.exec_driver_sql(_PG_STATUS, (t, doc))  # SET's %s comes first
            return int(result.rowcount)

    def apply_edge_status(self, reports: Iterable[EdgeStatus]) -> int:
        """Record edge agents' status and presence; unknown edges are registered (no endpoints)."""
        n = 0
        t = now()
        with self.wengine.begin() as conn:
            for r in reports:
                old = conn.execute(select(edges).where(edges.c.id == r.edge)).mappings().first()
                values: dict[str, Any] = {"updated_at": t}
                if old is None or old["last_seen"] is None or old["last_seen"] <= r.seen:
                    values["last_seen"] = r.seen
                    if r.state is not None:
                        values["state"] = r.state
                    if r.version is not None:
                        values["version"] = r.version
                    if r.status is not None:
                        values["status"] = r.status
                        values.setdefault("state", "online")
                if old is None:
                    conn.execute(
                        insert(edges).values(
                            id=r.edge,
                            district=r.district,
                            endpoints=[],
                            created_at=t,
                            **{"state": "unknown", **values},
                        )
                    )
                else:
                    conn.execute(update(edges).where(edges.c.id == r.edge).values(**values))
                n += 1
        return n


def _naive(t: datetime | None) -> datetime | None:
    """UTC without a zone, as the tables store it."""
    return None if t is None else t.astimezone(UTC).replace(tzinfo=None)


def _iso(t: datetime | None) -> str | None:
    """UTC ISO 8601 without a zone (PostgreSQL reads it as a timestamp)."""
    n = _naive(t)
    return None if n is None else n.isoformat()


def _sqlite_time(t: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DateTime stores (so comparisons stay in time order)."""
    n = _naive(t)
    return None if n is None else n.isoformat(" ", "microseconds")


# The status update: CASE guards keep status fields moving forward only (status_at) and
# last_seen growing only; COALESCE keeps fields a report did not carry.
_GUARDED = """
  last_seen = CASE WHEN {ls} IS NOT NULL AND ({n}last_seen IS NULL OR {n}last_seen < {ls})
                   THEN {ls} ELSE {n}last_seen END,
  status_at = CASE WHEN {newer} THEN {at} ELSE {n}status_at END,
  firmware = CASE WHEN {newer} THEN COALESCE({fw}, {n}firmware) ELSE {n}firmware END,
  slot = CASE WHEN {newer} THEN COALESCE({slot}, {n}slot) ELSE {n}slot END,
  boot = CASE WHEN {newer} THEN COALESCE({boot}, {n}boot) ELSE {n}boot END,
  health = CASE WHEN {newer} THEN COALESCE({health}, {n}health) ELSE {n}health END,
  health_detail = CASE WHEN {newer} THEN COALESCE({hd}, {n}health_detail)
                       ELSE {n}health_detail END,
  health_at = CASE WHEN {newer} THEN COALESCE({hat}, {n}health_at) ELSE {n}health_at END,
  edge_id = COALESCE({edge}, {n}edge_id),
  updated_at = {now}"""


def _guarded(n: str, **p: str) -> str:
    newer = f"{p['at']} IS NOT NULL AND ({n}status_at IS NULL OR {n}status_at <= {p['at']})"
    return _GUARDED.format(n=n, newer=newer, **p)


_SQLITE_STATUS = (
    "UPDATE nodes SET"
    + _guarded(
        "",
        ls="?2",
        at="?3",
        fw="?4",
        slot="?5",
        boot="?6",
        health="?7",
        hd="?8",
        hat="?9",
        edge="?10",
        now="?11",
    )
    + " WHERE id = ?1"
)

_PG_STATUS = (
    "UPDATE nodes AS n SET"
    + _guarded(
        "n.",
        ls="v.ls",
        at="v.at",
        fw="v.fw",
        slot="v.slot",
        boot="v.boot",
        health="v.health",
        hd="v.hd",
        hat="v.hat",
        edge="v.edge",
        now="%s::timestamp",
    )
    + " FROM json_to_recordset(%s::json) AS v(id text, ls timestamp, at timestamp, fw text,"
    " slot text, boot int, health text, hd json, hat timestamp, edge text) WHERE n.id = v.id"
)

__all__ = [
    "CLI",
    "EdgeStatus",
    "NodeStatus",
    "Page",
    "Principal",
    "Registry",
    "health_of",
    "now",
]
