"""``centralhub serve`` with the garbage collector's pauses recorded (for ``bench/gc_pauses.py``).

``python bench/_gc_probe.py REPORT.json serve …`` runs the hub's own command line; every
collection after the hub has started is timed, and the pauses are written to ``REPORT.json``
when the process ends. ``GC_PROBE_THRESHOLDS=700,10,10`` puts other thresholds in place once
the hub has started (Python's defaults, for the comparison).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import centralhub.hub as hub_module

REPORT = Path(sys.argv.pop(1))
pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
_state: dict[str, Any] = {"ready": False, "began": 0.0}


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _state["began"] = time.perf_counter()
    elif _state["ready"]:
        pauses[int(info["generation"])].append((time.perf_counter() - _state["began"]) * 1000)


_start = hub_module.Hub.start


async def _start_and_arm(self: hub_module.Hub) -> None:
    await _start(self)
    override = os.environ.get("GC_PROBE_THRESHOLDS")
    if override:
        gc.set_threshold(*(int(x) for x in override.split(",")))
    _state["ready"] = True


def _report() -> None:
    REPORT.write_text(json.dumps({"thresholds": gc.get_threshold(), "pauses_ms": pauses}))


gc.callbacks.append(_timed)
hub_module.Hub.start = _start_and_arm  # type: ignore[method-assign]
atexit.register(_report)

from centralhub.cli.main import main  # noqa: E402

sys.argv[0] = "centralhub"
main()
