"""Request and response bodies of the HTTP API (pydantic; they make the OpenAPI document)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

NODE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
EDGE_ID_PATTERN = NODE_ID_PATTERN
DISTRICT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
ENDPOINT_PATTERN = (
    r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}:"
    r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
)
THRESHOLD_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _date_text(value: Any) -> Any:
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("expected a date as text YYYY-MM-DD")
    return value


def _time_text(value: Any) -> Any:
    if not isinstance(value, str) or not _TIME.match(value):
        raise ValueError("expected an ISO 8601 time as text, e.g. 2026-11-30T10:00:00Z")
    return value


# Dates and times only as ISO 8601 text (pydantic would also take numbers as epoch times)
IsoDate = Annotated[date, Strict(False), BeforeValidator(_date_text)]
IsoTime = Annotated[datetime, Strict(False), BeforeValidator(_time_text)]
AwareIsoTime = Annotated[AwareDatetime, Strict(False), BeforeValidator(_time_text)]

NodeId = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
EdgeId = Annotated[str, StringConstraints(pattern=EDGE_ID_PATTERN)]
District = Annotated[str, StringConstraints(pattern=DISTRICT_PATTERN)]
Endpoint = Annotated[str, StringConstraints(pattern=ENDPOINT_PATTERN)]
# free text: printable, no control characters (PostgreSQL refuses NUL in text)
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PRINTABLE)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE)]
HwRev = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=PRINTABLE)]
Kit = Literal["elevator", "hydrant", "manhole"]
Role = Literal["admin", "operator", "technician", "viewer", "edge"]
Health = Literal["unknown", "ok", "degraded", "faulty"]
NodeState = Literal["registered", "provisioned", "installed", "revoked"]
WorkOrderState = Literal["open", "closed"]


class In(BaseModel):
    """Request bodies refuse unknown fields (a typo is a 400, not silently ignored) and take
    JSON types as they are (no "1" for 1, no true for 1.0)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Position(In):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="latitude, degrees")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="longitude, degrees")


class NodeIn(In):
    id: NodeId
    kit: Kit
    district: District
    board: ShortText | None = None
    hw_rev: HwRev | None = None
    site: Text | None = None
    position: Position | None = None
    install_date: IsoDate | None = None


class NodesRegister(In):
    nodes: list[NodeIn] = Field(min_length=1, max_length=1000)


class Registered(BaseModel):
    registered: int


class NodePatch(In):
    site: Text | None = None
    board: ShortText | None = None
    hw_rev: HwRev | None = None
    district: District = Field(default=None, description="not null")  # type: ignore[assignment]
    position: Position | None = None


class Installed(In):
    install_date: IsoDate | None = Field(default=None, description="default: today (UTC)")


class NodeOut(BaseModel):
    id: str
    kit: str
    board: str | None
    hw_rev: str | None
    district: str
    site: str | None
    position: dict[str, float] | None
    install_date: date | None
    state: str
    firmware: str | None
    slot: str | None
    boot: int | None
    last_seen: datetime | None
    health: str
    health_detail: dict[str, Any] | None
    health_at: datetime | None
    edge: str | None
    work_order: int | None
    sleep_s: int
    provisioned_at: datetime | None
    created_at: datetime
    updated_at: datetime


class NodePage(BaseModel):
    items: list[NodeOut]
    next_cursor: str | None


class ProvisionIn(In):
    board: ShortText = Field(description="board of the node (a board file of hardware/boards)")
    hw_rev: HwRev | None = None
    site: Text | None = Field(default=None, description="default: the work order's site")
    position: Position | None = None
    node_id: NodeId | None = Field(
        default=None,
        description="re-provision this node (an interrupted flash) or use this id; "
        "default: a new id",
    )
    thresholds: (
        dict[
            Annotated[str, StringConstraints(pattern=THRESHOLD_PATTERN)],
            Annotated[int, Field(ge=-(2**31), le=2**31 - 1)],
        ]
        | None
    ) = Field(default=None, description="kit thresholds that differ from the firmware defaults")


class Provisioned(BaseModel):
    node: NodeOut
    key: str = Field(description="the node key, 64 hex digits: in this answer only")
    config: dict[str, Any] = Field(description="the node's cfg/node.json")


class EdgeIn(In):
    id: EdgeId
    district: District
    name: Text | None = None
    endpoints: list[Endpoint] = Field(
        default_factory=list, max_length=16, description="HOST:PORT where nodes reach it"
    )


class EdgeOut(BaseModel):
    id: str
    district: str
    name: str | None
    endpoints: list[str]
    version: str | None
    state: str
    last_seen: datetime | None
    status: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class EdgePage(BaseModel):
    items: list[EdgeOut]
    next_cursor: str | None


class NodeKey(BaseModel):
    key: str
    sleep_s: int
    revoked: bool


class EdgeKeys(BaseModel):
    nodes: dict[str, NodeKey]


class TechnicianIn(In):
    name: Text
    contact: Text | None = None


class TechnicianOut(BaseModel):
    id: int
    name: str
    contact: str | None
    active: bool
    created_at: datetime


class TechnicianPage(BaseModel):
    items: list[TechnicianOut]
    next_cursor: str | None


class WorkOrderIn(In):
    technician_id: int = Field(ge=1, le=2**31 - 1)
    district: District
    kit: Kit
    site: Text | None = None
    quantity: int = Field(ge=1, le=10000, description="nodes that may be provisioned")
    note: Annotated[str, StringConstraints(max_length=500, pattern=PRINTABLE)] | None = None


class WorkOrderOut(BaseModel):
    id: int
    technician_id: int
    district: str
    kit: str
    site: str | None
    quantity: int
    provisioned: int
    note: str | None
    state: str
    created_by: str
    created_at: datetime
    closed_at: datetime | None


class WorkOrderPage(BaseModel):
    items: list[WorkOrderOut]
    next_cursor: str | None


class TokenIn(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=PRINTABLE)]
    role: Role
    technician_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    district: District | None = None
    expires_at: AwareIsoTime | None = None


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    technician_id: int | None
    district: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="the bearer token: in this answer only")


class TokenPage(BaseModel):
    items: list[TokenOut]
    next_cursor: str | None


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target_type: str
    target_id: str | None
    remote: str | None
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


class Me(BaseModel):
    token_id: int
    name: str
    role: str
    technician_id: int | None
    district: str | None


class FieldProblem(BaseModel):
    field: str = Field(description="where: body.x.y, query.x, path.x or header.x")
    problem: str
    allowed: str
    got: str | None = None


class ErrorOut(BaseModel):
    error: str
    fields: list[FieldProblem] | None = None


class Health_(BaseModel):
    status: Literal["ok"]
    version: str
