"""Private servers a fault test may stop, kill or refuse: never the shared ones other tests use.

``nats_server_factory`` starts ``nats-server`` processes on free ports (optionally routed into
one cluster); ``private_postgres`` makes a PostgreSQL cluster with ``initdb`` on a free port,
owned by the ``postgres`` user, that a test may stop and start again.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _wait_port(port: int, *, up: bool, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port) == up:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} on port {port} did not {'open' if up else 'close'} within {timeout}s")


# ---------------------------------------------------------------------- NATS
@dataclass
class NatsServer:
    """One ``nats-server`` process; ``routes`` are the cluster ports of its peers."""

    port: int
    cluster_port: int
    workdir: Path
    routes: list[int] = field(default_factory=list)
    cluster_name: str = "test"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        args = [
            NATS_SERVER,
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-l",
            str(self.workdir / f"nats-{self.port}.log"),
        ]
        if self.routes:
            args += [
                "--cluster_name",
                self.cluster_name,
                "--cluster",
                f"nats://127.0.0.1:{self.cluster_port}",
                "--routes",
                ",".join(f"nats://127.0.0.1:{p}" for p in self.routes),
            ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, up=True, timeout=timeout, what="nats-server")

    def stop(self) -> None:
        """SIGTERM and wait (the port is free again when this returns)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        _wait_port(self.port, up=False, timeout=10, what="nats-server")

    def kill(self) -> None:
        """SIGKILL: the fault a crashed node gives its clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        _wait_port(self.port, up=False, timeout=10, what="nats-server")


class NatsFactory:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.servers: list[NatsServer] = []

    def single(self, port: int | None = None, start: bool = True) -> NatsServer:
        server = NatsServer(port=port or free_port(), cluster_port=free_port(), workdir=self.workdir)
        self.servers.append(server)
        if start:
            server.start()
        return server

    def cluster(self, size: int = 3) -> list[NatsServer]:
        """``size`` nodes routed to each other; returns once every node accepts clients and the
        routes have had time to form."""
        ports = [(free_port(), free_port()) for _ in range(size)]
        nodes = [
            NatsServer(
                port=p,
                cluster_port=c,
                workdir=self.workdir,
                routes=[other_c for other_p, other_c in ports if other_p != p],
            )
            for p, c in ports
        ]
        self.servers += nodes
        for node in nodes:
            node.start()
        time.sleep(1.0)  # route handshakes; subscriptions made before they form still propagate
        return nodes

    def close(self) -> None:
        for server in self.servers:
            if server.proc is not None and server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait(5)


@pytest.fixture
def nats_server_factory(tmp_path: Path) -> Iterator[NatsFactory]:
    """Start private ``nats-server`` processes (single or a routed cluster) this test may kill."""
    if not Path(NATS_SERVER).exists():
        pytest.fail(f"nats-server not found at {NATS_SERVER} (apt-get install nats-server)")
    factory = NatsFactory(tmp_path)
    yield factory
    factory.close()


# ---------------------------------------------------------------------- PostgreSQL
def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        pytest.fail("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return versions[-1].parent


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (``initdb`` as ``postgres``, trust auth)."""

    datadir: Path
    port: int
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        uid = pwd.getpwnam("postgres").pw_uid
        done = subprocess.run(
            [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={pwd.getpwnam('postgres').pw_gid}",
                "--init-groups",
                *args,
            ],
            check=False,
            capture_output=True,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
            cwd=self.datadir.parent,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-1500:]}"
            )
        return done

    def init(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.datadir, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync"
        )

    def start(self, timeout: float = 30.0) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir} -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-o",
            opts,
            "-l",
            str(self.datadir / "log"),
            "-w",
            "start",
        )
        _wait_port(self.port, up=True, timeout=timeout, what="postgres")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects clients and shuts down; ``immediate`` is the crash-like stop."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)
        _wait_port(self.port, up=False, timeout=30, what="postgres")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private PostgreSQL this test may stop and start; removed afterwards."""
    # pytest's own temporary directories are private to root; the server runs as ``postgres``
    base = Path(tempfile.mkdtemp(prefix="centralhub-pg-"))
    base.chmod(0o755)
    shutil.chown(base, "postgres", "postgres")
    pg = PrivatePostgres(datadir=base / "data", port=free_port(), bindir=_pg_bin())
    pg.init()
    pg.start()
    yield pg
    pg.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)
