"""Structured logging with ``structlog``: one JSON object per line, correlation id included.

``configure_logging("INFO")`` once at start-up; then ``get_logger(__name__).info("event", k=v)``.
Every record carries ``timestamp``, ``level``, ``logger`` and, inside a request, the current
``correlation_id``. Records logged with ``exc_info`` also get the ErrorDNA fingerprint and
category, so the same failure can be grouped across services.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

from centralhub.core.logs import quiet_chatty_libraries
from centralhub.kit.error_dna import ErrorDNA
from centralhub.kit.tracing import get_correlation_id

__all__ = ["configure_logging", "get_logger"]

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_error_dna = ErrorDNA()


def _add_correlation_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    cid = get_correlation_id()
    if cid is not None:
        event_dict.setdefault("correlation_id", cid)
    return event_dict


def _add_logger_name(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # stdlib records carry their logger name; structlog loggers bind it in get_logger().
    record = event_dict.get("_record")
    if record is not None:
        event_dict.setdefault("logger", record.name)
    return event_dict


def _add_error_dna(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    exc_info = event_dict.get("exc_info")
    exc: BaseException | None = None
    if isinstance(exc_info, BaseException):
        exc = exc_info
    elif exc_info is True:
        exc = sys.exc_info()[1]
    elif isinstance(exc_info, tuple):
        exc = exc_info[1]
    if exc is not None:
        dna = _error_dna.analyze(exc)
        event_dict.setdefault("error_fingerprint", dna.fingerprint)
        event_dict.setdefault("error_category", dna.category.value)
    return event_dict


def _orjson_dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure_logging(level: str | int = "INFO", *, json: bool = True, stream: TextIO | None = None) -> None:
    """Configure structlog (and stdlib ``logging``) to write to ``stream`` (default stdout).

    ``json=False`` gives human-readable console lines for development.
    """
    if isinstance(level, str):
        try:
            numeric = _LEVELS[level.upper()]
        except KeyError:
            raise ValueError(f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}") from None
    else:
        numeric = level
    out = stream or sys.stdout
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        _add_logger_name,
        _add_correlation_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_error_dna,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Route stdlib logging (libraries, uvicorn) through the same renderer.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    quiet_chatty_libraries(numeric)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger bound to ``logger=name`` and any ``initial`` key/values."""
    log = structlog.get_logger(name)
    if name:
        log = log.bind(logger=name)
    return log.bind(**initial) if initial else log
