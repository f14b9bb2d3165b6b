"""Error shapes and the mapping of every failure to one status and one JSON body.

Every error the API answers — its own, the actor's replies, and Litestar's (404, 405, 413,
validation, 500) — is ``{"error": <one line>, "detail": <object, list or null>}`` with
``Content-Type: application/json``. A status maps from the failure alone:

==========================  ======  ==========================================================
failure                      status  notes
==========================  ======  ==========================================================
unknown route / CR           404     the CR's ``ns/name`` is named in ``error``
wrong method                 405     ``Allow`` header kept
body over the size limit     413
validation (path, body)      422     ``detail`` lists ``{"field", "message"}``, field is a path
``BadRequest`` reply          422     ``detail`` lists the one field the reply names
``SpecNotValid`` reply        409
``SwitchoverRefused`` reply   409     ``detail`` is the ``RefusalDetail`` (with the report)
``NotReady`` / ``ActorDead``  503     ``Retry-After``
``AskTimeout``                504
anything else                500     logged with its traceback; nothing of it in the body
==========================  ======  ==========================================================

Nothing here ever copies a request header into a body or a log line, so a token cannot leak
through an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from continuum.actors.replies import BadRequest, NotReady, SpecNotValid, SwitchoverRefused
from continuum.actors.runtime import ActorDead, AskTimeout, ReplyError
from continuum.logs import get_logger
from continuum.messages.requests import RefusalDetail


def _log() -> Any:
    # Looked up per use: a logger bound at import time would miss configure_logging().
    return get_logger("continuum.http")


RETRY_AFTER_ACTOR: Final = "1"
"""Seconds a client should wait after a 503 for an actor that is (re)starting."""
RETRY_AFTER_NOT_LEADER: Final = "5"
"""Seconds a client should wait after a 503 from a replica that is not the leader."""
WWW_AUTHENTICATE: Final = 'Bearer realm="continuum"'
OUTCOME_KEY: Final = "continuum.outcome"
"""``scope["state"]`` key under which a handler or guard records the request's outcome word
for the canonical log line (``ok`` and the status class are the default)."""


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    """One rejected input: ``field`` is a path (``body.toRegion``, ``path.ns``)."""

    field: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every error response. ``detail`` is null, a list of :class:`FieldError` (422), or an
    object specific to the status (e.g. the refusal of a switchover)."""

    error: str
    detail: Any = None


class RefusalBody(msgspec.Struct, frozen=True, kw_only=True):
    """The 409 of ``POST …/switchover`` and ``…/dry-run``: ``detail`` is the refusal (with the
    current DryRun report when there is one), or null when the CR's spec is not valid."""

    error: str
    detail: RefusalDetail | None = None


class ApiError(Exception):
    """An error the API answers with ``status`` and :class:`ErrorBody`; raised by handlers and
    guards. ``outcome`` is the word of the canonical log line (e.g. ``not-found``)."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
        outcome: str = "",
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = dict(headers or {})
        self.outcome = outcome


def error_response(
    request: Request[Any, Any, Any],
    status: int,
    error: str,
    *,
    detail: Any = None,
    headers: Mapping[str, str] | None = None,
    outcome: str,
) -> Response[ErrorBody]:
    """The JSON error response; records ``outcome`` for the canonical log line."""
    request.scope["state"][OUTCOME_KEY] = outcome
    return Response(
        ErrorBody(error=error, detail=detail),
        status_code=status,
        headers=dict(headers or {}),
        media_type=MediaType.JSON,
    )


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[ErrorBody]:
    return error_response(
        request,
        exc.status,
        exc.error,
        detail=exc.detail,
        headers=exc.headers,
        outcome=exc.outcome or outcome_for(exc.status),
    )


_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `(?P<field>[^`]+)`")


def field_errors(exc: ValidationException) -> list[FieldError]:
    """Litestar's validation ``extra`` as field paths, in order: ``body.toRegion``,
    ``body.a[0].b``, ``path.ns``, ``query.fresh``."""
    out: list[FieldError] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = _one_line(str(item.get("message", "invalid value")))
        source = item.get("source", "body")
        source = str(getattr(source, "value", source))
        key = str(item.get("key", ""))
        if source == "body":
            out.append(FieldError(field=_body_path(key, message), message=message))
        else:
            out.append(FieldError(field=f"{source}.{key}" if key else source, message=message))
    return out


def _body_path(key: str, message: str) -> str:
    """``body`` + the key Litestar reports (``data`` is the whole body), + the field a
    missing/unknown-field message names."""
    path = "body" if key in ("", "data") else f"body.{key}"
    named = _NAMED_FIELD.search(message)
    return f"{path}.{named.group('field')}" if named else path


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = field_errors(exc)
    if not errors:
        errors = [FieldError(field="body", message=_one_line(exc.detail))]
    return error_response(
        request,
        422,
        "invalid request",
        detail=[msgspec.to_builtins(e) for e in errors],
        outcome="invalid",
    )


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    status = exc.status_code
    if status == 400:
        # Litestar's 400s are undecodable bodies ("JSON is malformed"): an invalid request.
        return error_response(
            request,
            422,
            "invalid request",
            detail=[msgspec.to_builtins(FieldError(field="body", message=_one_line(exc.detail)))],
            outcome="invalid",
        )
    if status >= 500:
        _log().error("api_internal_error", path=request.url.path, exc_info=exc)
        return error_response(request, status, "internal error", outcome="error")
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in ("allow",)}
    return error_response(
        request, status, _phrase(status, exc.detail), headers=headers, outcome=outcome_for(status)
    )


def _reply_error(request: Request[Any, Any, Any], exc: ReplyError) -> Response[Any]:
    if isinstance(exc, SwitchoverRefused):
        request.scope["state"][OUTCOME_KEY] = "refused"
        return Response(
            RefusalBody(error=str(exc) or "switchover refused", detail=exc.detail),
            status_code=409,
            media_type=MediaType.JSON,
        )
    if isinstance(exc, BadRequest):
        message = _one_line(str(exc))
        field = FieldError(field=exc.field, message=message)
        return error_response(
            request, 422, message, detail=[msgspec.to_builtins(field)], outcome="invalid"
        )
    if isinstance(exc, SpecNotValid):
        return error_response(request, 409, _one_line(str(exc)), outcome="spec-not-valid")
    if isinstance(exc, NotReady):
        return error_response(
            request,
            503,
            _one_line(str(exc)) or "not ready",
            headers={"Retry-After": RETRY_AFTER_ACTOR},
            outcome="not-ready",
        )
    _log().error("api_unexpected_reply_error", path=request.url.path, error=str(exc))
    return error_response(request, 500, "internal error", outcome="error")


def _actor_dead(request: Request[Any, Any, Any], exc: ActorDead) -> Response[ErrorBody]:
    return error_response(
        request,
        503,
        "the Continuum's actor is restarting; retry",
        headers={"Retry-After": RETRY_AFTER_ACTOR},
        outcome="actor-dead",
    )


def _ask_timeout(request: Request[Any, Any, Any], exc: AskTimeout) -> Response[ErrorBody]:
    return error_response(
        request, 504, "the Continuum's actor did not answer in time", outcome="timeout"
    )


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    _log().error("api_internal_error", path=request.url.path, exc_info=exc)
    return error_response(request, 500, "internal error", outcome="error")


def _phrase(status: int, detail: str) -> str:
    try:
        default = HTTPStatus(status).phrase
    except ValueError:
        default = "error"
    # Litestar's own messages are safe one-liners ("Not Found", "Method Not Allowed", ...).
    return _one_line(detail) or default


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:300]


def outcome_for(status: int) -> str:
    return {
        401: "denied",
        403: "denied",
        404: "not-found",
        405: "method-not-allowed",
        413: "too-large",
        422: "invalid",
        503: "unavailable",
        504: "timeout",
    }.get(status, "error" if status >= 500 else "client-error")


def exception_handlers() -> ExceptionHandlersMap:
    """The handlers ``create_app`` installs (most specific class wins)."""
    return {
        ApiError: _api_error,
        ValidationException: _validation_error,
        HTTPException: _http_exception,
        ReplyError: _reply_error,
        ActorDead: _actor_dead,
        AskTimeout: _ask_timeout,
        Exception: _internal,
    }
