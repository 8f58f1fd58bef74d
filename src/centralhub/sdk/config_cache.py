"""The config client's copy on disk: the last good configuration, for a start while the hub
is out of reach. Written atomically (a crash never leaves half a file)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from centralhub.sdk.hub_link import write_json_atomic

log = logging.getLogger("centralhub.sdk.config_client")

__all__ = ["load_config_copy", "save_config_copy"]


def save_config_copy(path: Path | None, doc: dict[str, Any]) -> None:
    if path is None:
        return
    try:
        record = {k: doc.get(k) for k in ("service_name", "version", "revision", "config")}
        write_json_atomic(path, record)
    except OSError as exc:
        log.warning("cannot write config cache %s: %s", path, exc)


def load_config_copy(path: Path | None, service: str) -> dict[str, Any] | None:
    """The stored record (``config``, ``version``, ``revision``), or ``None`` when there is
    none or it is not this service's."""
    if path is None or not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        config = record["config"]
        if not isinstance(config, dict) or record.get("service_name") not in (None, service):
            raise ValueError("not this service's configuration")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring config cache %s: %s", path, exc)
        return None
    return dict(record)
