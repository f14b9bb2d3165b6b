"""API errors as the real API server reports them: a ``Status`` object with a code.

Every failure the emulator answers is an :class:`StatusError` rendered by :meth:`StatusError.body`;
kubernetes-asyncio turns it into ``ApiException(status=code)`` and kubectl prints ``message``.
"""

from __future__ import annotations

from typing import Any

_REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def reason_for(code: int) -> str:
    """The conventional ``Status.reason`` for an HTTP code (``Unknown`` when none)."""
    return _REASONS.get(code, "Unknown")


class StatusError(Exception):
    """A request the API server refuses. ``details`` is the ``Status.details`` object."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or reason_for(code)
        self.details = details

    def body(self) -> dict[str, Any]:
        """The ``Status`` object (kind Status, apiVersion v1, status Failure)."""
        return status_body(self.code, self.message, reason=self.reason, details=self.details)


def status_body(
    code: int,
    message: str,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A failure ``Status`` object as the API server writes it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or reason_for(code),
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def _details(group: str, plural: str, name: str) -> dict[str, Any]:
    return {"name": name, "group": group, "kind": plural}


def _qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> StatusError:
    """404: ``<plural>.<group> "<name>" not found``."""
    return StatusError(
        404,
        f'{_qualified(group, plural)} "{name}" not found',
        details=_details(group, plural, name),
    )


def already_exists(group: str, plural: str, name: str) -> StatusError:
    """409 AlreadyExists."""
    return StatusError(
        409,
        f'{_qualified(group, plural)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(group, plural, name),
    )


def conflict(group: str, plural: str, name: str, why: str) -> StatusError:
    """409 Conflict: ``Operation cannot be fulfilled on ...: <why>``."""
    return StatusError(
        409,
        f'Operation cannot be fulfilled on {_qualified(group, plural)} "{name}": {why}',
        reason="Conflict",
        details=_details(group, plural, name),
    )


def stale(group: str, plural: str, name: str) -> StatusError:
    """409 for a stale ``metadata.resourceVersion`` (optimistic concurrency failed)."""
    return conflict(
        group,
        plural,
        name,
        "the object has been modified; please apply your changes to the latest version "
        "and try again",
    )


def invalid(
    *,
    kind: str,
    group: str,
    name: str,
    causes: list[dict[str, str]],
) -> StatusError:
    """422 Invalid with one cause per field error. As the API server writes it, each cause
    holds the path in ``field`` and the error without it in ``message`` (kubectl prints
    both), and the top-level message names every field: ``<field>: <message>``, joined
    as a list when there are several (identical errors once)."""
    messages: list[str] = []
    for cause in causes:
        text = f"{cause['field']}: {cause['message']}" if cause.get("field") else cause["message"]
        if text not in messages:
            messages.append(text)
    joined = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    qualified = f"{kind}.{group}" if group else kind
    return StatusError(
        422,
        f'{qualified} "{name}" is invalid: {joined}',
        details={"name": name, "group": group, "kind": kind, "causes": causes},
    )


def field_cause(field: str, message: str, *, reason: str = "FieldValueInvalid") -> dict[str, str]:
    """One ``Status.details.causes`` entry: ``field`` is the path, ``message`` the error
    without it (``Invalid value: 900: ...``), as the API server's ``field.Error`` bodies."""
    return {"reason": reason, "message": message, "field": field}


def bad_request(message: str) -> StatusError:
    """400 BadRequest."""
    return StatusError(400, message)


def unsupported_media_type(message: str) -> StatusError:
    """415 UnsupportedMediaType (a request body in a format the server does not read)."""
    return StatusError(415, message)
