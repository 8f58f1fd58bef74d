"""Each capability's router imports on its own, in a fresh interpreter.

Tools (a plugin loading one router, a script importing one capability) import a single module;
an import cycle hidden by the order in which the app happens to import things breaks them.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys

import pytest

import centralhub

API_MODULES = sorted(
    f"centralhub.{info.name}.api"
    for info in pkgutil.iter_modules(centralhub.__path__)
    if info.ispkg and importlib.util.find_spec(f"centralhub.{info.name}.api") is not None
)


def test_every_capability_has_a_router_listed() -> None:
    assert "centralhub.registry.api" in API_MODULES and "centralhub.config.api" in API_MODULES


@pytest.mark.parametrize("module", API_MODULES)
def test_router_module_imports_alone(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
