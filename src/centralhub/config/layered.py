"""``InfrastructureConfigManager``: the hub's own infrastructure settings.

Layers, lowest priority first, deep-merged (a later layer wins key by key)::

    10  default.json|yaml                     in config_dir
    20  static/database/*.json               -> databases.<stem>
        static/messaging/*.json              -> messaging.<stem>
    30  infrastructure.yaml                  (also parsed into typed components)
    40  {service_name}.json|yaml
    50  {environment}.json|yaml
   100  environment variables                {PREFIX}__SECTION__KEY=value, PREFIX = service name
                                             upper-cased with '-' -> '_' (CENTRAL_HUB__DATABASES__
                                             POSTGRESQL__HOST=db); values parse as YAML scalars

This is where the platform's precedence "environment > hot-reload > static > defaults" applies to the
hub's own settings (files that change without a restart are the service-configuration store's
business, see ``config/hot_reload.py``). Secrets are read only from the environment: a password,
token or secret (or a URL with a password) in any file stops loading with the env var to use.
A file that does not parse stops loading with the file, line and key named.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from centralhub.config.documents import deep_merge
from centralhub.core.errors import InvalidInput
from centralhub.health.infrastructure import InfrastructureFile, parse_infrastructure

PRIORITY_ENV = 100
PRIORITY_ENVIRONMENT_FILE = 50
PRIORITY_SERVICE_FILE = 40
PRIORITY_INFRASTRUCTURE_FILE = 30
PRIORITY_STATIC = 20
PRIORITY_DEFAULT = 10

SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "secret_key",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "access_key",
        "client_secret",
    }
)
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]+:[^/@\s]+@", re.I)
_EXTENSIONS = (".yaml", ".yml", ".json")
_CACHE_NAMES = ("dragonflydb", "redis", "cache")


class InfraConfigError(ValueError):
    """Loading stopped; the message names the file and the key (and the line when known)."""


def _norm(key: str) -> str:
    return key.lower().replace("-", "_")


def _load_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InfraConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InfraConfigError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise InfraConfigError(
            f"{path}: {line}invalid YAML: {getattr(exc, 'problem', None) or exc}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InfraConfigError(f"{path}: the top level must be a mapping, not {type(data).__name__}")
    return data


class InfrastructureConfigManager:
    """Layered, validated infrastructure configuration for one service (normally the hub)."""

    def __init__(
        self,
        service_name: str,
        environment: str = "development",
        *,
        config_dir: str | Path = "config",
        infrastructure_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        env_prefix: str | None = None,
    ) -> None:
        self.service_name = service_name
        self.environment = environment
        self.config_dir = Path(config_dir)
        self.infrastructure_file = Path(infrastructure_file) if infrastructure_file else None
        self._env = env
        self.env_prefix = env_prefix or re.sub(r"[^A-Za-z0-9]", "_", service_name).upper()
        self._config: dict[str, Any] = {}
        #: (priority, source) of every layer that contributed, lowest first
        self.sources: list[tuple[int, str]] = []
        #: ``infrastructure.yaml`` as typed components (``None`` when there is no such file)
        self.infrastructure: InfrastructureFile | None = None
        self.loaded = False

    # ---------------------------------------------------------------- loading
    async def load_config(self) -> dict[str, Any]:
        """Read every layer; raises ``InfraConfigError`` and keeps the previous state on a bad file."""
        layers: list[tuple[int, str, dict[str, Any]]] = []
        default = self._find("default")
        if default:
            layers.append((PRIORITY_DEFAULT, str(default), _load_file(default)))
        for section, folder in (("databases", "database"), ("messaging", "messaging")):
            directory = self.config_dir / "static" / folder
            if directory.is_dir():
                for path in sorted(directory.glob("*.json")):
                    layers.append((PRIORITY_STATIC, str(path), {section: {path.stem: _load_file(path)}}))
        infra_path = self.infrastructure_file or self.config_dir / "infrastructure.yaml"
        infrastructure: InfrastructureFile | None = None
        if infra_path.is_file():
            doc = _load_file(infra_path)
            layers.append((PRIORITY_INFRASTRUCTURE_FILE, str(infra_path), doc))
        service_file = self._find(self.service_name)
        if service_file:
            layers.append((PRIORITY_SERVICE_FILE, str(service_file), _load_file(service_file)))
        env_file = self._find(self.environment)
        if env_file:
            layers.append((PRIORITY_ENVIRONMENT_FILE, str(env_file), _load_file(env_file)))
        for _priority, source, doc in layers:
            self._refuse_secrets(doc, source)
        if infra_path.is_file():
            try:
                infrastructure = parse_infrastructure(
                    next(d for _, s, d in layers if s == str(infra_path)), source=str(infra_path)
                )
            except InvalidInput as exc:
                raise InfraConfigError(exc.message) from None

        merged: dict[str, Any] = {}
        for _priority, _source, doc in sorted(layers, key=lambda layer: layer[0]):
            merged = deep_merge(merged, doc)
        env_keys = self._apply_env(merged)
        self._config = merged
        self.infrastructure = infrastructure
        self.sources = [(p, s) for p, s, _ in sorted(layers, key=lambda layer: layer[0])]
        if env_keys:
            self.sources.append((PRIORITY_ENV, "environment: " + ", ".join(sorted(env_keys))))
        self.loaded = True
        return copy.deepcopy(merged)

    async def reload(self) -> dict[str, Any]:
        """Read everything again (a bad file leaves the previous configuration in place)."""
        return await self.load_config()

    def _find(self, stem: str) -> Path | None:
        for ext in _EXTENSIONS:
            path = self.config_dir / f"{stem}{ext}"
            if path.is_file():
                return path
        return None

    def env_var_for(self, dotted: str) -> str:
        """The environment variable that sets ``dotted`` (``databases.postgresql.password``)."""
        return "__".join(
            [self.env_prefix, *(re.sub(r"[^A-Za-z0-9]", "_", p).upper() for p in dotted.split("."))]
        )

    def _refuse_secrets(self, node: Any, source: str, path: str = "") -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                dotted = f"{path}.{key}" if path else str(key)
                name = _norm(str(key))
                secret_key = name in SECRET_KEYS or name.endswith(("_password", "_secret", "_token"))
                if secret_key and value not in (None, ""):
                    raise InfraConfigError(
                        f"{source}: {dotted}: secrets are not read from files; "
                        f"set the environment variable {self.env_var_for(dotted)} instead"
                    )
                if isinstance(value, str) and _URL_WITH_PASSWORD.match(value):
                    raise InfraConfigError(
                        f"{source}: {dotted}: the URL contains a password; put it in the environment "
                        f"({self.env_var_for(dotted)}) instead"
                    )
                self._refuse_secrets(value, source, dotted)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                self._refuse_secrets(item, source, f"{path}.{i}")

    def _apply_env(self, merged: dict[str, Any]) -> list[str]:
        env = os.environ if self._env is None else self._env
        prefix = self.env_prefix + "__"
        applied = []
        for name, raw in env.items():
            if not name.startswith(prefix) or raw is None:
                continue
            tokens = [t for t in name[len(prefix) :].split("__") if t]
            if not tokens:
                continue
            node = merged
            for i, token in enumerate(tokens):
                existing = (
                    next((k for k in node if _norm(str(k)) == _norm(token)), None)
                    if isinstance(node, dict)
                    else None
                )
                key = existing if existing is not None else token.lower()
                if i == len(tokens) - 1:
                    try:
                        value = yaml.safe_load(raw) if raw.strip() else raw
                    except yaml.YAMLError:
                        value = raw
                    # keep secrets as text: "0123" must stay a string
                    node[key] = (
                        raw if isinstance(value, (dict, list)) or _norm(token) in SECRET_KEYS else value
                    )
                else:
                    child = node.get(key)
                    if not isinstance(child, dict):
                        child = node[key] = {}
                    node = child
            applied.append(name)
        return applied

    # ---------------------------------------------------------------- reads
    def _require_loaded(self) -> None:
        if not self.loaded:
            raise RuntimeError("call await load_config() first")

    async def get(self, path: str, default: Any = None) -> Any:
        """A value by dotted path (``"databases.postgresql.host"``); keys may use '-' or '_'."""
        self._require_loaded()
        node: Any = self._config
        for part in path.split("."):
            if not isinstance(node, dict):
                return default
            key = part if part in node else next((k for k in node if _norm(str(k)) == _norm(part)), None)
            if key is None:
                return default
            node = node[key]
        return copy.deepcopy(node)

    async def get_database_config(self, name: str = "postgresql") -> dict[str, Any]:
        """One database's settings (``{}`` when not configured)."""
        value = await self.get(f"databases.{name}", {})
        return value if isinstance(value, dict) else {}

    async def get_messaging_config(self, name: str = "nats") -> dict[str, Any]:
        value = await self.get(f"messaging.{name}", {})
        return value if isinstance(value, dict) else {}

    async def get_cache_config(self, name: str | None = None) -> dict[str, Any]:
        """The cache's settings: the ``cache`` section, else ``databases.dragonflydb`` / ``redis``."""
        self._require_loaded()
        if name is None and isinstance(self._config.get("cache"), dict):
            return copy.deepcopy(self._config["cache"])
        for candidate in (name,) if name else _CACHE_NAMES:
            value = await self.get(f"databases.{candidate}")
            if isinstance(value, dict) and value:
                return value
        return {}

    def get_all(self) -> dict[str, Any]:
        """The whole merged configuration (a copy)."""
        self._require_loaded()
        return copy.deepcopy(self._config)
