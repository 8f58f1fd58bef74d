"""The wheel as a user installs it: built from this tree, installed into a fresh virtualenv,
``centralhub serve`` answering with its packaged files (migrations, dashboard, docs assets)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _uv() -> str:
    found = ROOT / ".tools" / "bin" / "uv"
    if found.exists():
        return str(found)
    which = shutil.which("uv")
    if which is None:
        pytest.fail("uv is missing: `make .venv/.installed-dev` installs it into .tools/")
    return which


def test_the_wheel_installs_and_serves(tmp_path: Path) -> None:
    uv = _uv()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CENTRAL_HUB_", "DATABASE_URL", "NATS_URL"))
    }
    # only the installed wheel: not this tree through PYTHONPATH, not the project's virtualenv
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    dist = tmp_path / "dist"
    built = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(dist), str(ROOT)], env=env, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = list(dist.glob("centralhub-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], env=env, check=True)
    installed = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    centralhub = venv / "bin" / "centralhub"
    version = subprocess.run([str(centralhub), "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and version.stdout.startswith("centralhub ")

    port = free_port()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env.update(DATABASE_URL=f"sqlite:///{run_dir / 'hub.db'}", CENTRAL_HUB_PORT=str(port))
    log = (run_dir / "hub.log").open("wb")
    # run from an empty directory: nothing of the source tree is on hand
    proc = subprocess.Popen(
        [str(centralhub), "serve"], cwd=run_dir, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (run_dir / "hub.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (run_dir / "hub.log").read_text()[-3000:]
            time.sleep(0.2)
        for path in ("/dashboard", "/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json"):
            assert httpx.get(url + path, timeout=10).status_code == 200, path
        reg = httpx.post(
            f"{url}/api/v1/services/register", json={"name": "wheel-svc", "host": "h", "port": 1}, timeout=10
        )
        assert reg.status_code == 201, reg.text
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_the_container_files_describe_what_the_hub_reads() -> None:
    """No Docker engine runs here: the Dockerfile and compose file are checked as text."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER " in dockerfile and "HEALTHCHECK" in dockerfile and "/health" in dockerfile
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    hubs = [name for name in services if name.startswith("hub")]
    assert len(hubs) == 3
    for name in hubs:
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and env["NATS_URL"].startswith("nats://")
    assert {"postgres", "nats", "prometheus"} <= set(services)
    assert "-js" in " ".join(map(str, services["nats"]["command"]))
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == sorted(f"{h}:7000" for h in hubs)
