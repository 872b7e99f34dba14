"""The fleet manager's HTTP API (FastAPI): routes, token auth and roles, error bodies.

Every route lists the roles that may call it (:data:`ACCESS` is the table the
docs show). Bad input is a 400 whose body lists each field, what was wrong and
what is allowed (FastAPI's default 422 is replaced, also in the OpenAPI
document). Errors of the registry map to their statuses with ``{"error": ...}``.
"""

# ruff: noqa: PLR0917 - FastAPI endpoints take their parameters by name from the request
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleet import __version__
from fleet.api import schemas as S
from fleet.api.errors import validation_body
from fleet.errors import FieldError, FleetError
from fleet.registry import Principal, Registry

log = logging.getLogger("fleet.api")

ADMIN = "admin"
OPERATOR = "operator"
VIEWER = "viewer"
TECHNICIAN = "technician"
EDGE = "edge"
READERS = (ADMIN, OPERATOR, VIEWER)
MANAGERS = (ADMIN, OPERATOR)

# method, path, roles (a technician's access is further limited to their own work orders)
ACCESS: list[tuple[str, str, tuple[str, ...]]] = []

_bearer = HTTPBearer(auto_error=False, description="an API token: Authorization: Bearer TOKEN")


def _err(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": S.ErrorOut, "description": description}}


BASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_err(400, "bad input: each field, what was wrong, what is allowed"),
    **_err(401, "missing, unknown, expired or revoked token"),
    **_err(403, "the token's role or scope does not allow this"),
}
R404 = _err(404, "no such object")
R409 = _err(409, "the object's state does not allow this; the message says what to do")


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with a status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


def remote(request: Request) -> str | None:
    """The client's address (for the audit log)."""
    return request.client.host if request.client else None


def authenticated(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's principal, or 401."""
    if creds is None or not creds.credentials:
        raise ApiError(
            401, "missing token: send Authorization: Bearer TOKEN", {"WWW-Authenticate": "Bearer"}
        )
    who = _registry(request).authenticate(creds.credentials)
    if who is None:
        raise ApiError(
            401,
            "unknown, expired or revoked token",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return who


def allow(*roles: str) -> Callable[..., Principal]:
    """A dependency that lets only these roles through (403 for the others)."""

    def check(who: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if who.role not in roles:
            raise ApiError(
                403, f"role {who.role} may not do this; allowed roles: {', '.join(roles)}"
            )
        return who

    return check


def route(
    router: APIRouter,
    method: str,
    path: str,
    roles: Sequence[str],
    *,
    extra: dict[int | str, dict[str, Any]] | None = None,
    **kw: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a route with its roles and error responses."""
    ACCESS.append((method, "/api/v1" + path, tuple(roles)))
    responses = {**BASE_RESPONSES, **(extra or {})}
    return router.api_route(path, methods=[method], responses=responses, **kw)


Limit = Annotated[int, Query(ge=1, le=1000, description="items per page")]
Cursor = Annotated[
    int | None, Query(ge=0, le=2**31 - 1, description="next_cursor of the previous page")
]
AuditCursor = Annotated[
    int | None, Query(ge=0, le=2**62, description="next_cursor of the previous page")
]
KeyCursor = Annotated[
    str | None,
    Query(pattern=S.NODE_ID_PATTERN, description="next_cursor of the previous page"),
]
NodeIdPath = Annotated[str, Path(pattern=S.NODE_ID_PATTERN)]
EdgeIdPath = Annotated[str, Path(pattern=S.EDGE_ID_PATTERN)]
IntId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _utc(t: datetime | None) -> datetime | None:
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=UTC)


def build_router() -> APIRouter:
    """The /api/v1 routes."""
    ACCESS.clear()
    r = APIRouter(prefix="/api/v1")

    # --- me -------------------------------------------------------------------
    @route(r, "GET", "/me", (ADMIN, OPERATOR, VIEWER, TECHNICIAN, EDGE), response_model=S.Me)
    def me(who: Annotated[Principal, Depends(authenticated)]) -> dict[str, Any]:
        """The caller's token."""
        return {
            "token_id": who.token_id,
            "name": who.name,
            "role": who.role,
            "technician_id": who.technician_id,
            "district": who.district,
        }

    # --- nodes ----------------------------------------------------------------
    @route(r, "GET", "/nodes", READERS, response_model=S.NodePage)
    def list_nodes(
        request: Request,
        who: Annotated[Principal, Depends(allow(*READERS))],
        limit: Limit = 100,
        cursor: KeyCursor = None,
        district: Annotated[str | None, Query(pattern=S.DISTRICT_PATTERN)] = None,
        kit: S.Kit | None = None,
        firmware: Annotated[
            str | None, Query(min_length=1, max_length=64, pattern=S.PRINTABLE)
        ] = None,
        health: S.Health | None = None,
        state: S.NodeState | None = None,
        edge: Annotated[str | None, Query(pattern=S.EDGE_ID_PATTERN)] = None,
        last_seen_before: Annotated[
            S.IsoTime | None,
            Query(description="nodes silent since this time (ISO 8601; UTC when no zone)"),
        ] = None,
        include_never_seen: Annotated[
            bool, Query(description="with last_seen_before: also nodes never seen")
        ] = False,
    ) -> Any:
        """Nodes in id order; filters combine with AND."""
        page = _registry(request).list_nodes(
            limit=limit,
            cursor=cursor,
            district=district,
            kit=kit,
            firmware=firmware,
            health=health,
            state=state,
            edge=edge,
            last_seen_before=_utc(last_seen_before),
            include_never_seen=include_never_seen,
        )
        return {"items": page.items, "next_cursor": page.next_cursor}

    @route(
        r,
        "POST",
        "/nodes",
        MANAGERS,
        extra=R409,
        response_model=S.Registered,
        status_code=201,
    )
    def register_nodes(
        request: Request,
        body: S.NodesRegister,
        who: Annotated[Principal, Depends(allow(*MANAGERS))],
    ) -> Any:
        """Register nodes in the inventory (state registered, no key); all or none."""
        items = [n.model_dump() for n in body.nodes]
        count = _registry(request).register_nodes(who, items, remote(request))
        return {"registered": count}

    @route(
        r,
        "GET",
        "/nodes/{node_id}",
        (*READERS, TECHNICIAN),
        extra=R404,
        response_model=S.NodeOut,
    )
    def get_node(
        request: Request,
        node_id: NodeIdPath,
        who: Annotated[Principal, Depends(allow(*READERS, TECHNICIAN))],
    ) -> Any:
        """One node (a technician: only nodes of their work orders)."""
        return _registry(request).get_node(who, node_id)

    @route(r, "PATCH", "/nodes/{node_id}", MANAGERS, extra=R404, response_model=S.NodeOut)
    def patch_node(
        request: Request,
        node_id: NodeIdPath,
        body: S.NodePatch,
        who: Annotated[Principal, Depends(allow(*MANAGERS))],
    ) -> Any:
        """Edit a node's site, position, district, board or hardware revision."""
        changes = body.model_dump(exclude_unset=True)
        return _registry(request).patch_node(who, node_id, changes, remote(request))

    @route(
        r,
        "POST",
        "/nodes/{node_id}/installed",
        (*MANAGERS, TECHNICIAN),
        extra={**R404, **R409},
        response_model=S.NodeOut,
    )
    def mark_installed(
        request: Request,
        node_id: NodeIdPath,
        who: Annotated[Principal, Depends(allow(*MANAGERS, TECHNICIAN))],
        body: S.Installed | None = None,
    ) -> Any:
        """Mark a provisioned node installed; 409 until it has said hello."""
        day = body.install_date if body is not None else None
        return _registry(request).mark_installed(who, node_id, day, remote(request))

    @route(r, "POST", "/nodes/{node_id}/revoke", MANAGERS, extra=R404, response_model=S.NodeOut)
    def revoke_node(
        request: Request,
        node_id: NodeIdPath,
        who: Annotated[Principal, Depends(allow(*MANAGERS))],
    ) -> Any:
        """Withdraw the node's key (edges drop it)."""
        return _registry(request).revoke_node(who, node_id, remote(request))

    # --- edges ----------------------------------------------------------------
    @route(r, "GET", "/edges", READERS, response_model=S.EdgePage)
    def list_edges(
        request: Request,
        who: Annotated[Principal, Depends(allow(*READERS))],
        limit: Limit = 100,
        cursor: KeyCursor = None,
        district: Annotated[str | None, Query(pattern=S.DISTRICT_PATTERN)] = None,
    ) -> Any:
        """Edge agents in id order."""
        page = _registry(request).list_edges(limit=limit, cursor=cursor, district=district)
        return {"items": page.items, "next_cursor": page.next_cursor}

    @route(r, "POST", "/edges", MANAGERS, response_model=S.EdgeOut, status_code=200)
    def upsert_edge(
        request: Request,
        body: S.EdgeIn,
        who: Annotated[Principal, Depends(allow(*MANAGERS))],
    ) -> Any:
        """Register an edge agent, or update its district, name and endpoints."""
        edge, _created = _registry(request).upsert_edge(
            who,
            edge_id=body.id,
            district=body.district,
            name=body.name,
            endpoints=list(body.endpoints),
            remote=remote(request),
        )
        return edge

    @route(r, "GET", "/edges/{edge_id}", READERS, extra=R404, response_model=S.EdgeOut)
    def get_edge(
        request: Request,
        edge_id: EdgeIdPath,
        who: Annotated[Principal, Depends(allow(*READERS))],
    ) -> Any:
        """One edge agent."""
        return _registry(request).get_edge(edge_id)

    @route(
        r,
        "GET",
        "/edge/keys",
        (EDGE,),
        extra={304: {"description": "not modified since the ETag of If-None-Match"}},
        response_model=S.EdgeKeys,
    )
    def edge_keys(
        request: Request,
        who: Annotated[Principal, Depends(allow(EDGE))],
        if_none_match: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Any:
        """The keys file of the token's district (edge_agent/keys.py format)."""
        reg = _registry(request)
        district = who.district or ""
        etag = reg.edge_keys_etag(district)
        if if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]:
            return Response(status_code=304, headers={"ETag": etag})
        doc = reg.edge_keys(who, district, remote(request))
        return JSONResponse(doc, headers={"ETag": etag, "Cache-Control": "no-store"})

    # --- technicians and work orders -------------------------------------------
    @route(r, "GET", "/technicians", READERS, response_model=S.TechnicianPage)
    def list_technicians(
        request: Request,
        who: Annotated[Principal, Depends(allow(*READERS))],
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> Any:
        """Technicians in id order."""
        page = _registry(request).list_technicians(limit=limit, cursor=cursor)
        return {"items": page.items, "next_cursor": page.next_cursor}

    @route(r, "POST", "/technicians", (ADMIN,), response_model=S.TechnicianOut, status_code=201)
    def create_technician(
        request: Request,
        body: S.TechnicianIn,
        who: Annotated[Principal, Depends(allow(ADMIN))],
    ) -> Any:
        """Add a technician."""
        return _registry(request).create_technician(
            who, name=body.name, contact=body.contact, remote=remote(request)
        )

    @route(r, "GET", "/work-orders", (*READERS, TECHNICIAN), response_model=S.WorkOrderPage)
    def list_work_orders(
        request: Request,
        who: Annotated[Principal, Depends(allow(*READERS, TECHNICIAN))],
        limit: Limit = 100,
        cursor: Cursor = None,
        state: Literal["open", "closed"] | None = None,
        technician_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    ) -> Any:
        """Work orders in id order (a technician: their own)."""
        page = _registry(request).list_work_orders(
            who, limit=limit, cursor=cursor, state=state, technician_id=technician_id
        )
        return {"items": page.items, "next_cursor": page.next_cursor}

    @route(r, "POST", "/work-orders", MANAGERS, response_model=S.WorkOrderOut, status_code=201)
    def create_work_order(
        request: Request,
        body: S.WorkOrderIn,
        who: Annotated[Principal, Depends(allow(*MANAGERS))],
    ) -> Any:
        """A work order: a technician may provision up to quantity nodes of a kit in a district."""
        return _registry(request).create_work_order(
            who,
            technician_id=body.technician_id,
            district=body.district,
            kit=body.kit,
            site=body.site,
            quantity=body.quantity,
            note=body.note,
            remote=remote(request),
        )

    @route(
        r,
        "GET",
        "/work-orders/{wid}",
        (*READERS, TECHNICIAN),
        extra=R404,
        response_model=S.WorkOrderOut,
    )
    def get_work_order(
        request: Request,
        wid: IntId,
        who: Annotated[Principal, Depends(allow(*READERS, TECHNICIAN))],
    ) -> Any:
        """One work order (a technician: their own)."""
        return _registry(request).get_work_order(who, wid)

    @route(
        r,
        "POST",
        "/work-orders/{wid}/close",
        (*MANAGERS, TECHNICIAN),
        extra=R404,
        response_model=S.WorkOrderOut,
    )
    def close_work_order(
        request: Request,
        wid: IntId,
        who: Annotated[Principal, Depends(allow(*MANAGERS, TECHNICIAN))],
    ) -> Any:
        """Close a work order."""
        return _registry(request).close_work_order(who, wid, remote(request))

    @route(
        r,
        "POST",
        "/work-orders/{wid}/provision",
        (TECHNICIAN,),
        extra={**R404, **R409},
        response_model=S.Provisioned,
        status_code=201,
    )
    def provision(
        request: Request,
        wid: IntId,
        body: S.ProvisionIn,
        who: Annotated[Principal, Depends(allow(TECHNICIAN))],
    ) -> Any:
        """A node identity for the flash: node, key (this answer only) and config."""
        req = body.model_dump(exclude_none=True)
        return _registry(request).provision(who, wid, req, remote(request))

    # --- tokens ---------------------------------------------------------------
    @route(r, "GET", "/tokens", (ADMIN,), response_model=S.TokenPage)
    def list_tokens(
        request: Request,
        who: Annotated[Principal, Depends(allow(ADMIN))],
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> Any:
        """Tokens (never the token itself)."""
        page = _registry(request).list_tokens(limit=limit, cursor=cursor)
        return {"items": page.items, "next_cursor": page.next_cursor}

    @route(r, "POST", "/tokens", (ADMIN,), response_model=S.TokenCreated, status_code=201)
    def create_token(
        request: Request,
        body: S.TokenIn,
        who: Annotated[Principal, Depends(allow(ADMIN))],
    ) -> Any:
        """Create a token; the answer holds it, once."""
        record, secret = _registry(request).create_token(
            name=body.name,
            role=body.role,
            technician_id=body.technician_id,
            district=body.district,
            expires_at=body.expires_at,
            remote=remote(request),
            who=who,
        )
        return {**record, "token": secret}

    @route(
        r,
        "DELETE",
        "/tokens/{token_id}",
        (ADMIN,),
        extra={**R404, **R409},
        response_model=S.TokenOut,
    )
    def revoke_token(
        request: Request,
        token_id: IntId,
        who: Annotated[Principal, Depends(allow(ADMIN))],
    ) -> Any:
        """Revoke a token."""
        return _registry(request).revoke_token(token_id, remote=remote(request), who=who)

    # --- audit ----------------------------------------------------------------
    @route(r, "GET", "/audit", MANAGERS, response_model=S.AuditPage)
    def list_audit(
        request: Request,
        who: Annotated[Principal, Depends(allow(*MANAGERS))],
        limit: Limit = 100,
        cursor: AuditCursor = None,
        target: Annotated[
            str | None, Query(min_length=1, max_length=64, pattern=S.PRINTABLE)
        ] = None,
        actor: Annotated[
            str | None, Query(min_length=1, max_length=120, pattern=S.PRINTABLE)
        ] = None,
        action: Annotated[
            str | None, Query(min_length=1, max_length=40, pattern=S.PRINTABLE)
        ] = None,
    ) -> Any:
        """The audit log, newest first."""
        page = _registry(request).list_audit(
            limit=limit, cursor=cursor, target=target, actor=actor, action=action
        )
        return {"items": page.items, "next_cursor": page.next_cursor}

    return r


def _methods_of(app: FastAPI, path: str) -> set[str]:
    methods: set[str] = set()
    for r in app.router.routes:
        regex = getattr(r, "path_regex", None)
        if regex is not None and regex.match(path):
            methods.update(getattr(r, "methods", None) or ())
    return methods


def create_app(registry: Registry) -> FastAPI:
    """The ASGI application over a registry."""
    app = FastAPI(
        title="CityNerve fleet manager",
        version=__version__,
        description="Registry of nodes and edge agents, provisioning, node keys for edges. "
        "Authenticate with Authorization: Bearer TOKEN.",
    )
    app.state.registry = registry
    app.include_router(build_router())

    @app.get("/healthz", response_model=S.Health_, tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness (no token)."""
        return {"status": "ok", "version": __version__}

    @app.exception_handler(RequestValidationError)
    async def _bad_input(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_body(request, exc.errors()), status_code=400)

    @app.exception_handler(FleetError)
    async def _fleet_error(request: Request, exc: FleetError) -> JSONResponse:
        if isinstance(exc, FieldError):
            body = {
                "error": "invalid request",
                "fields": [{"field": f, "problem": p, "allowed": a} for f, p, a in exc.fields],
            }
            return JSONResponse(body, status_code=400)
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Allow: every method of the path, not just one route's
            methods = _methods_of(app, request.url.path)
            headers["Allow"] = ", ".join(sorted(methods))
            return JSONResponse(
                {"error": f"method {request.method} not allowed; allowed: {headers['Allow']}"},
                status_code=405,
                headers=headers,
            )
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=headers
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for item in doc.get("paths", {}).values():
            for op in item.values():
                if isinstance(op, dict):
                    op.get("responses", {}).pop("422", None)
        schemas = doc.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    return app
