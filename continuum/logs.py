"""Structured logging: one JSON object per line (or a console format for humans).

Every line carries ``timestamp`` (ISO-8601 UTC), ``level``, ``logger`` and ``event``, plus
whatever context is bound with :func:`bind_context` (``continuum``, ``region``, ``step``,
``epoch``, ...) in the current task. Exceptions are rendered as structured data under
``exception``. Secrets never reach the output: see :func:`redact_secrets`.

Logs of third-party libraries that use the standard :mod:`logging` module go through the
same renderer, so ``kubectl logs -f | jq`` sees one format.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any, Final, Literal, TextIO

import structlog
from structlog._config import BoundLoggerLazyProxy
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "console"]

LEVELS: Final[dict[str, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
REDACTED: Final = "[REDACTED]"

#: Keys whose value is always a secret (compared case-insensitively).
SECRET_KEYS: Final[frozenset[str]] = frozenset(
    {
        "authorization",
        "token",
        "password",
        "promotiontoken",
        "demotiontoken",
        "api_key",
        "apikey",
        "x-api-key",
        "dsn",
    }
)
_SECRET_SUFFIXES: Final = ("_token", "_secret", "_password", "Token", "Secret", "Password")


def is_secret_key(key: str) -> bool:
    """True when a value stored under ``key`` must never be logged."""
    return key.lower() in SECRET_KEYS or key.endswith(_SECRET_SUFFIXES)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_key(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: replace every secret value with ``"[REDACTED]"``, at any depth.

    A key is secret when it is one of :data:`SECRET_KEYS` (any case) or ends in ``_token``,
    ``_secret``, ``_password``, ``Token``, ``Secret`` or ``Password``; nested dicts and lists
    are walked. The ``event`` message itself is never rewritten.
    """
    for key in list(event_dict):
        if key == "event":
            continue
        event_dict[key] = REDACTED if is_secret_key(key) else _redact(event_dict[key])
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        redact_secrets,
    ]


def _stdlib_logger_name(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    if record is not None and "logger" not in event_dict:
        event_dict["logger"] = record.name
    return event_dict


def configure_logging(
    *,
    level: str = "info",
    fmt: LogFormat = "json",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the standard ``logging`` root for the whole process.

    ``level`` is one of ``debug``, ``info``, ``warning``, ``error``, ``critical`` (any
    case); ``fmt`` is ``json`` (one object per line) or ``console`` (aligned, for humans).
    ``stream`` defaults to the current ``sys.stdout``. Calling it again replaces the
    previous configuration. Raises ValueError for an unknown level or format.
    """
    try:
        numeric = LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}") from None
    if fmt not in ("json", "console"):
        raise ValueError(f"unknown log format {fmt!r}; use json or console")
    out = sys.stdout if stream is None else stream
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(default=str)
        # Frame locals could hold secrets (tokens in scope): never render them.
        exceptions: Processor = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        exceptions = structlog.processors.StackInfoRenderer()
    structlog.configure(
        processors=[*_shared_processors(), exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_shared_processors(), _stdlib_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                exceptions,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)


def get_logger(name: str, **context: Any) -> Any:
    """A structlog logger whose lines carry ``logger=name`` and ``context``.

    Lazy: safe to create at import time, it uses the configuration in force when it logs
    (or when ``.bind()`` is called), so :func:`configure_logging` later still applies."""
    # A lazy proxy (what ``structlog.get_logger`` returns); built directly because the
    # context key ``logger`` collides with get_logger's own parameter name.
    return BoundLoggerLazyProxy(None, initial_values={"logger": name, **context})


@contextlib.contextmanager
def bind_context(**values: Any) -> Iterator[MutableMapping[str, Any]]:
    """Bind ``values`` to every log line of the current task (and tasks it starts) inside
    the ``with`` block; the previous values are restored on exit, even on error.

    Typical keys: ``continuum`` (``ns/name``), ``region``, ``step``, ``epoch``.
    """
    with structlog.contextvars.bound_contextvars(**values):
        yield structlog.contextvars.get_contextvars()
