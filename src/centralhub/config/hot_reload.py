"""Hot-reload configuration files: one YAML/JSON/TOML file per service in a watched directory.

The file stem is the service name (``config/hot-reload/example-service.yaml`` configures
``example-service`` of the ``default`` tenant). A changed file is parsed, validated against the
service's schema, and stored and broadcast as a new version only when its content differs. A file
that does not parse or validate is rejected with its line; the service keeps its previous version
and the rejection stays visible (``status()``, ``GET /api/v1/config/reload/status``) until the file
is fixed or removed. Removing a file keeps the stored configuration (deletion is explicit, not
a side effect of a file going missing).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from centralhub.config.documents import SERVICE_RE, ConfigValidationError, deep_merge
from centralhub.core.errors import HubError, InvalidInput
from centralhub.core.tasks import Supervisor
from centralhub.core.time import rfc3339

if TYPE_CHECKING:
    from centralhub.config.service import ConfigService

log = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".json", ".toml")
HOT_RELOAD_TENANT = "default"
WATCH_TASK = "config-hot-reload"


@dataclass(slots=True)
class Rejection:
    """Why a file was not applied; ``line`` is 1-based when the parser could tell."""

    file: str
    message: str
    line: int | None = None
    service_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "service_name": self.service_name,
            "message": self.message,
        }


class FileRejected(Exception):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


def parse_config_file(path: Path) -> dict[str, Any]:
    """Parse one hot-reload file; raises ``FileRejected`` naming the file and line."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileRejected(Rejection(name, f"cannot read: {exc}")) from None
    try:
        if path.suffix == ".json":
            data = json.loads(text) if text.strip() else {}
        elif path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
            data = {} if data is None else data
    except json.JSONDecodeError as exc:
        raise FileRejected(Rejection(name, f"invalid JSON: {exc.msg}", exc.lineno)) from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise FileRejected(Rejection(name, f"invalid TOML: {exc}", int(m.group(1)) if m else None)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise FileRejected(
            Rejection(name, f"invalid YAML: {problem}", None if mark is None else mark.line + 1)
        ) from None
    if not isinstance(data, dict):
        raise FileRejected(Rejection(name, f"top level must be a mapping, not {type(data).__name__}", 1))
    return data


def create_service_config(service_name: str, service_type: str, **overrides: Any) -> dict[str, Any]:
    """The platform's standard service configuration with ``overrides`` deep-merged on top."""
    base: dict[str, Any] = {
        "service_info": {
            "name": service_name,
            "type": service_type,
            "version": "1.0.0",
            "environment": "development",
        },
        "performance": {"thread_pool_size": 10, "connection_pool_size": 20, "cache_ttl_seconds": 300},
        "monitoring": {
            "metrics_enabled": True,
            "health_check_interval": 30,
            "alert_thresholds": {"error_rate_percent": 5.0, "response_time_p95_ms": 1000},
        },
    }
    return deep_merge(base, overrides)


class HotReloader:
    """Applies the hot-reload directory to the config store, on demand and (if enabled) on change."""

    def __init__(
        self, service: ConfigService, directory: Path, *, supervisor: Supervisor, enabled: bool = False
    ) -> None:
        self.service = service
        self.directory = directory
        self.supervisor = supervisor
        self.enabled = enabled
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._rejected: dict[str, Rejection] = {}
        self._started = False
        self._runs = 0
        #: whether the directory watcher is running right now (between restarts it is not)
        self.watching = False
        self.last_result: dict[str, Any] | None = None
        self.reloads = 0

    async def start(self) -> None:
        """Apply the directory once, then follow it under the supervisor (if enabled)."""
        if not self.enabled:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            await self.reload()
        except Exception:
            log.exception("initial hot-reload of %s failed", self.directory)
        self._stop = asyncio.Event()
        self._runs = 0
        self.supervisor.start(WATCH_TASK, self._watch)
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        # the stop event ends the file watcher's thread promptly; cancelling then waits for it
        self._stop.set()
        await self.supervisor.stop(WATCH_TASK)
        self.watching = False

    async def _watch(self) -> None:
        from watchfiles import awatch

        self._runs += 1
        self.watching = True
        try:
            if self._runs > 1:
                # restarted after a crash: apply what changed while nobody was watching
                await self.reload()
            async for _changes in awatch(
                self.directory, stop_event=self._stop, debounce=200, step=50, recursive=False
            ):
                try:
                    await self.reload()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("hot-reload of %s failed", self.directory)
        finally:
            self.watching = False

    def _files(self) -> list[Path]:
        return sorted(
            p
            for p in self.directory.iterdir()
            if p.is_file() and p.suffix in SUFFIXES and not p.name.startswith(".")
        )

    async def reload(self) -> dict[str, Any]:
        """Re-read every file; returns ``{loaded, unchanged, rejected, ...}`` and keeps it as status."""
        if not self.directory.is_dir():
            raise InvalidInput(
                f"hot-reload directory {str(self.directory)!r} does not exist (HOT_RELOAD_DIR)"
            )
        async with self._lock:
            loaded: list[dict[str, Any]] = []
            unchanged: list[dict[str, Any]] = []
            rejected: dict[str, Rejection] = {}
            files = self._files()
            by_stem: dict[str, list[str]] = {}
            for path in files:
                by_stem.setdefault(path.stem, []).append(path.name)
            for path in files:
                stem = path.stem
                try:
                    if not SERVICE_RE.fullmatch(stem):
                        raise FileRejected(
                            Rejection(
                                path.name,
                                "file name must be <service>.<yaml|json|toml> "
                                "with letters, digits, '-' or '_'",
                            )
                        )
                    if len(by_stem[stem]) > 1:
                        raise FileRejected(
                            Rejection(
                                path.name,
                                f"service {stem!r} is configured by more than one file "
                                f"({', '.join(by_stem[stem])}); keep one",
                            )
                        )
                    document = parse_config_file(path)
                    stored = await self.service.put_if_changed(
                        HOT_RELOAD_TENANT,
                        stem,
                        document,
                        author=f"hot-reload:{path.name}",
                        source="hot_reload",
                        message=f"hot reload of {path.name}",
                    )
                except FileRejected as exc:
                    exc.rejection.service_name = stem
                    rejected[path.name] = exc.rejection
                    log.warning(
                        "hot-reload file %s rejected (line %s): %s",
                        path.name,
                        exc.rejection.line,
                        exc.rejection.message,
                    )
                    continue
                except ConfigValidationError as exc:
                    rejected[path.name] = Rejection(path.name, exc.message, None, stem)
                    log.warning("hot-reload file %s rejected: %s", path.name, exc.message)
                    continue
                except HubError as exc:
                    rejected[path.name] = Rejection(path.name, exc.message, None, stem)
                    continue
                entry = {"file": path.name, "service_name": stem}
                if stored is None:
                    unchanged.append(entry)
                else:
                    loaded.append(entry | {"version": stored.version, "revision": stored.revision})
                    log.info("hot-reloaded %s from %s (version %s)", stem, path.name, stored.version)
            self._rejected = rejected
            self.reloads += 1
            self.last_result = {
                "directory": str(self.directory),
                "reloaded_at": rfc3339(time.time()),
                "loaded": loaded,
                "unchanged": unchanged,
                "rejected": [r.to_dict() for r in rejected.values()],
            }
            return self.last_result

    def status(self) -> dict[str, Any]:
        """What the last reload did and which files are currently rejected."""
        return {
            "enabled": self.enabled,
            "watching": self.watching,
            "directory": str(self.directory),
            "reloads": self.reloads,
            "last_result": self.last_result,
            "rejected": [r.to_dict() for r in self._rejected.values()],
        }
