"""ErrorDNA: a stable fingerprint, a category and a suggested fix for an exception.

The fingerprint is a SHA-256 over the exception's qualified type, its message with volatile
parts (uuids, hex, ids, IPs, ports, timestamps, numbers) replaced by placeholders, and the
traceback's ``file basename:function`` chain. Line numbers and process-local values (``id()``,
``hash()``) are left out, so the same failure at the same place gets the same fingerprint in
every process and after unrelated edits. :class:`ErrorDNA` also counts occurrences per
fingerprint (``first_seen`` / ``last_seen``) so repeated errors cluster.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
import time
import traceback
from dataclasses import dataclass
from enum import StrEnum

from centralhub.kit import exceptions as kit_errors

__all__ = ["ErrorCategory", "ErrorCluster", "ErrorDNA", "ErrorPattern", "normalize_message"]


class ErrorCategory(StrEnum):
    CONNECTION_ERROR = "CONNECTION_ERROR"
    TIMEOUT = "TIMEOUT"
    AUTH_ERROR = "AUTH_ERROR"
    PERMISSION_ERROR = "PERMISSION_ERROR"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    RATE_LIMIT = "RATE_LIMIT"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    CONFIGURATION_ERROR = "CONFIGURATION_ERROR"
    DATABASE_ERROR = "DATABASE_ERROR"
    UNKNOWN = "UNKNOWN"


# Order matters: the most specific shapes first so e.g. a uuid is not eaten by the number rule.
_VOLATILE: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<ts>",
    ),
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\[?\b(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}\]?(?::\d+)?"), "<ip>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"(?<=:)\d{2,5}\b"), "<port>"),
    (re.compile(r"\b[A-Za-z]+[-_]\d+\b"), "<id>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
]
_WELL_KNOWN_PORTS = {
    "5432": "PostgreSQL",
    "6379": "Redis",
    "4222": "NATS",
    "9092": "Kafka",
    "8123": "ClickHouse",
    "9000": "ClickHouse",
}
_MESSAGE_RULES: list[tuple[ErrorCategory, re.Pattern[str]]] = [
    (ErrorCategory.TIMEOUT, re.compile(r"timed? ?out|timeout|deadline exceeded", re.I)),
    (
        ErrorCategory.AUTH_ERROR,
        re.compile(
            r"authenticat|unauthori[sz]ed|\b401\b|invalid (?:token|credentials|password)"
            r"|password|access denied|invalid api key",
            re.I,
        ),
    ),
    (ErrorCategory.PERMISSION_ERROR, re.compile(r"permission denied|forbidden|\b403\b", re.I)),
    (ErrorCategory.RATE_LIMIT, re.compile(r"rate.?limit|too many requests|\b429\b", re.I)),
    (
        ErrorCategory.CONNECTION_ERROR,
        re.compile(
            r"connection (?:refused|reset|closed|aborted|lost|error)|could not connect|"
            r"connect call failed|unreachable|broken pipe|name or service not known|"
            r"no route to host|nodename nor servname",
            re.I,
        ),
    ),
    (ErrorCategory.NOT_FOUND, re.compile(r"not found|no such|does not exist|\b404\b", re.I)),
    (
        ErrorCategory.RESOURCE_EXHAUSTED,
        re.compile(r"out of memory|no space left|too many open", re.I),
    ),
    (
        ErrorCategory.VALIDATION_ERROR,
        re.compile(r"invalid|validation|must be|expected .* got|malformed|required", re.I),
    ),
]
_TYPE_NAME_RULES: list[tuple[ErrorCategory, tuple[str, ...]]] = [
    (ErrorCategory.TIMEOUT, ("timeout",)),
    (ErrorCategory.AUTH_ERROR, ("auth", "unauthori", "credential")),
    (ErrorCategory.PERMISSION_ERROR, ("permission", "forbidden")),
    (ErrorCategory.CONNECTION_ERROR, ("connection", "connect", "unavailable")),
    (ErrorCategory.VALIDATION_ERROR, ("validation", "invalid", "decode", "parse")),
    (ErrorCategory.NOT_FOUND, ("notfound",)),
    (ErrorCategory.CONFIGURATION_ERROR, ("config",)),
    (ErrorCategory.DATABASE_ERROR, ("query", "database", "sql", "integrity")),
]
_FIXES: dict[ErrorCategory, str] = {
    ErrorCategory.CONNECTION_ERROR: "Check the target service is running and reachable "
    "(host, port, network, firewall); connect with connect_with_retry.",
    ErrorCategory.TIMEOUT: "The dependency is slow or overloaded: check its health and load, "
    "raise the timeout only if the work is legitimately slow, guard it with a CircuitBreaker.",
    ErrorCategory.AUTH_ERROR: "Check the credentials (user, password, token, API key) in the "
    "service configuration and that they have not expired.",
    ErrorCategory.PERMISSION_ERROR: "The caller is authenticated but not allowed: check roles, "
    "grants or file permissions.",
    ErrorCategory.VALIDATION_ERROR: "The input is malformed: check the payload against its "
    "schema; the message names the offending field.",
    ErrorCategory.NOT_FOUND: "The resource does not exist: check the name or id, and that it "
    "was created or registered first.",
    ErrorCategory.RATE_LIMIT: "Slow down: back off and retry later, or raise the quota.",
    ErrorCategory.RESOURCE_EXHAUSTED: "Free or add resources (memory, disk, file descriptors) "
    "and look for leaks.",
    ErrorCategory.CONFIGURATION_ERROR: "Check the configuration source and the value named in the message.",
    ErrorCategory.DATABASE_ERROR: "Check the query and the schema it runs against.",
}


def normalize_message(message: str) -> str:
    """``message`` with volatile parts replaced, so equal failures compare equal."""
    for pattern, placeholder in _VOLATILE:
        message = pattern.sub(placeholder, message)
    return " ".join(message.split())


@dataclass(frozen=True)
class ErrorPattern:
    """What :meth:`ErrorDNA.analyze` learned about one exception."""

    fingerprint: str
    category: ErrorCategory
    suggested_fix: str
    error_type: str
    message: str
    normalized_message: str
    location: tuple[str, ...]
    occurrences: int
    first_seen: float
    last_seen: float


@dataclass
class ErrorCluster:
    """All occurrences of one fingerprint; ``sample`` is the first message seen."""

    fingerprint: str
    category: ErrorCategory
    error_type: str
    sample: str
    count: int
    first_seen: float
    last_seen: float


class ErrorDNA:
    """Analyse exceptions and cluster them by fingerprint (thread-safe, in memory)."""

    def __init__(self, *, max_clusters: int = 10_000) -> None:
        self.max_clusters = max_clusters
        self._clusters: dict[str, ErrorCluster] = {}
        self._lock = threading.Lock()

    def analyze(self, exc: BaseException) -> ErrorPattern:
        """Fingerprint, categorise and count ``exc``."""
        if not isinstance(exc, BaseException):
            raise TypeError(f"ErrorDNA.analyze expects an exception, got {type(exc).__name__}")
        error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        message = str(exc)
        normalized = normalize_message(message)
        location = tuple(
            f"{os.path.basename(frame.filename)}:{frame.name}"
            for frame in traceback.extract_tb(exc.__traceback__)
        )
        fingerprint = self.fingerprint_of(error_type, normalized, location)
        category = categorize(exc)
        now = time.time()
        with self._lock:
            cluster = self._clusters.get(fingerprint)
            if cluster is None:
                if len(self._clusters) >= self.max_clusters:
                    oldest = min(self._clusters.values(), key=lambda c: c.last_seen)
                    del self._clusters[oldest.fingerprint]
                cluster = self._clusters[fingerprint] = ErrorCluster(
                    fingerprint, category, error_type, message, 0, now, now
                )
            cluster.count += 1
            cluster.last_seen = now
            occurrences, first_seen = cluster.count, cluster.first_seen
        return ErrorPattern(
            fingerprint=fingerprint,
            category=category,
            suggested_fix=suggest_fix(category, message),
            error_type=error_type,
            message=message,
            normalized_message=normalized,
            location=location,
            occurrences=occurrences,
            first_seen=first_seen,
            last_seen=now,
        )

    analyze_error = analyze  # the name used in the older service overview

    @staticmethod
    def fingerprint_of(error_type: str, normalized_message: str, location: tuple[str, ...]) -> str:
        """The 16-hex-digit fingerprint of an already normalised error."""
        raw = "\x1f".join([error_type, normalized_message, *location])
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]

    def clusters(self) -> list[ErrorCluster]:
        """Every fingerprint seen, most frequent first."""
        with self._lock:
            return sorted(self._clusters.values(), key=lambda c: (-c.count, c.first_seen))

    def get_cluster(self, fingerprint: str) -> ErrorCluster | None:
        with self._lock:
            return self._clusters.get(fingerprint)

    def reset(self) -> None:
        with self._lock:
            self._clusters.clear()


def categorize(exc: BaseException) -> ErrorCategory:
    """The category of ``exc``: by type first, then type name, then message; else its cause."""
    category = _categorize_one(exc)
    cause = exc.__cause__ or exc.__context__
    if category is ErrorCategory.UNKNOWN and cause is not None and cause is not exc:
        return _categorize_one(cause)
    return category


def _categorize_one(exc: BaseException) -> ErrorCategory:
    by_type: list[tuple[type[BaseException] | tuple[type[BaseException], ...], ErrorCategory]] = [
        ((TimeoutError, asyncio.TimeoutError, kit_errors.QueryTimeoutError), ErrorCategory.TIMEOUT),
        (kit_errors.DiscoveryTimeout, ErrorCategory.TIMEOUT),
        (
            (ConnectionError, kit_errors.DatabaseConnectionError, kit_errors.ConnectionFailed),
            ErrorCategory.CONNECTION_ERROR,
        ),
        (PermissionError, ErrorCategory.PERMISSION_ERROR),
        ((FileNotFoundError, LookupError, kit_errors.ServiceNotFound), ErrorCategory.NOT_FOUND),
        (kit_errors.ConfigNotFound, ErrorCategory.NOT_FOUND),
        (
            (kit_errors.ValidationError, kit_errors.ConfigValidationError),
            ErrorCategory.VALIDATION_ERROR,
        ),
        (kit_errors.ConfigurationError, ErrorCategory.CONFIGURATION_ERROR),
        (MemoryError, ErrorCategory.RESOURCE_EXHAUSTED),
    ]
    for types, category in by_type:
        if isinstance(exc, types):
            return category
    names = [cls.__name__.lower() for cls in type(exc).__mro__]
    message = str(exc)
    # The message is more specific than a generic type name (an OSError saying "timed out").
    for category, pattern in _MESSAGE_RULES[:5]:
        if pattern.search(message):
            return category
    for category, needles in _TYPE_NAME_RULES:
        if any(needle in name for name in names for needle in needles):
            return category
    for category, pattern in _MESSAGE_RULES[5:]:
        if pattern.search(message):
            return category
    if isinstance(exc, (ValueError, TypeError)):
        return ErrorCategory.VALIDATION_ERROR
    return ErrorCategory.UNKNOWN


def suggest_fix(category: ErrorCategory, message: str = "") -> str:
    """A one-line hint for ``category``; names the server when the message shows a known port."""
    if category is ErrorCategory.CONNECTION_ERROR:
        for port, server in _WELL_KNOWN_PORTS.items():
            if re.search(rf"(?<![\d]){port}(?!\d)", message):
                return f"Check {server} is running and reachable on port {port}. " + _FIXES[category]
    return _FIXES.get(category, "No known fix: inspect the traceback and recent changes.")
