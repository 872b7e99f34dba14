"""Errors of the fleet manager's registry, mapped to HTTP statuses by the API."""

from __future__ import annotations


class FleetError(Exception):
    """A request the registry refuses; ``status`` is the HTTP status it maps to."""

    status = 400


class FieldError(FleetError):
    """Bad input in one or more fields: ``[(field, problem, allowed), ...]``."""

    status = 400

    def __init__(self, fields: list[tuple[str, str, str]]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{f}: {p} (allowed: {a})" for f, p, a in fields))


class NotFound(FleetError):
    """No such object."""

    status = 404


class Conflict(FleetError):
    """The object is not in a state that allows the request; the message says what to do."""

    status = 409


class Forbidden(FleetError):
    """The caller's role or scope does not allow the request."""

    status = 403
