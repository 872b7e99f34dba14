"""Tables of the registry (SQLAlchemy 2 declarative; one schema for SQLite and PostgreSQL).

Times are stored as UTC without a zone (``timestamp`` in PostgreSQL, ISO text
in SQLite, which then compares in time order) and come back zone-aware.
Migrations (fleet/migrations) create exactly this schema; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

KITS = ("elevator", "hydrant", "manhole")
NODE_STATES = ("registered", "provisioned", "installed", "revoked")
HEALTH = ("unknown", "ok", "degraded", "faulty")
ROLES = ("admin", "operator", "technician", "viewer", "edge")


class UTCDateTime(TypeDecorator[datetime]):
    """A zone-aware UTC datetime stored without a zone."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a zone-aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# BIGINT in PostgreSQL; INTEGER in SQLite, where only INTEGER PRIMARY KEY is the rowid
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kit: Mapped[str] = mapped_column(String(16))
    board: Mapped[str | None] = mapped_column(String(64))
    hw_rev: Mapped[str | None] = mapped_column(String(32))
    district: Mapped[str] = mapped_column(String(32))
    site: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    install_date: Mapped[date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="registered")
    firmware: Mapped[str | None] = mapped_column(String(64))
    slot: Mapped[str | None] = mapped_column(String(1))
    boot: Mapped[int | None] = mapped_column(Integer)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    health: Mapped[str] = mapped_column(String(16), default="unknown")
    health_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    health_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    edge_id: Mapped[str | None] = mapped_column(String(64))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    sleep_s: Mapped[int] = mapped_column(Integer, default=0)
    keys_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provisioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # Few indexes: every status report rewrites last_seen (and often firmware and health),
    # and in PostgreSQL such an update adds an entry to every index of the table. Kit (3
    # values) needs none: an id-order scan finds a page at once. Health and state are
    # partial: only the rare values (not ok, not installed) are indexed; queries on them
    # repeat the index's condition (Registry.node_query). SQLite keeps the table in id
    # order (WITHOUT ROWID): the id-order scans read rows directly.
    __table_args__ = (
        Index(None, "district", "id"),
        Index(None, "firmware", "id"),
        Index(None, "last_seen", "id"),
        Index(
            None,
            "health",
            "id",
            sqlite_where=text("health != 'ok'"),
            postgresql_where=text("health != 'ok'"),
        ),
        Index(
            None,
            "state",
            "id",
            sqlite_where=text("state != 'installed'"),
            postgresql_where=text("state != 'installed'"),
        ),
        {"sqlite_with_rowid": False},
    )


class Edge(Base):
    __tablename__ = "edges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    district: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    endpoints: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Technician(Base):
    __tablename__ = "technicians"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkOrder(Base):
    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"))
    district: Mapped[str] = mapped_column(String(32))
    kit: Mapped[str] = mapped_column(String(16))
    site: Mapped[str | None] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    provisioned: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index(None, "technician_id", "id"),)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("technicians.id"))
    district: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Audit(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[str | None] = mapped_column(String(64))
    remote: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index(None, "target_id", "id"), Index(None, "actor", "id"))
