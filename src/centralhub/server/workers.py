"""``centralhub serve --workers N``: N hub processes serving one port, watched by a parent.

One Python process keeps one core busy at most; on a machine with several, N workers answer
N times the discovery reads. Each worker is a full hub replica (its own replica id, its own lease
in ``hub_replicas``) that follows the others' writes over NATS exactly as hubs on different hosts
do, so nothing here shares state between workers but the listening port.

Each worker binds its own socket with ``SO_REUSEPORT``: the kernel spreads new connections over
the workers evenly, rather than letting whichever process wakes first take a whole burst of them
from one shared queue.

The parent only supervises:

* it forks the workers once the database answers, and each tells it through a pipe when it
  serves; a worker that ends before that is a start-up failure (port taken, bad file, …): the
  others are stopped and the parent exits with that worker's status;
* a worker that dies later is replaced, so the port keeps its capacity; more than
  :data:`MAX_RESTARTS` deaths within :data:`RESTART_WINDOW_SECONDS` mean something is wrong
  with every worker, and the parent stops them all and exits 1 rather than loop;
* SIGTERM or SIGINT to the parent is passed on as SIGTERM to every worker, each drains as a
  single process does, and the parent exits 0 once they all have (a second signal asks them to
  stop at once). Workers run in their own process group, so Ctrl-C in a terminal reaches them
  through the parent only, once; and they receive SIGTERM themselves if the parent dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger(__name__)

#: worker deaths (after start-up) tolerated within :data:`RESTART_WINDOW_SECONDS`
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0
#: how long stopping workers may take beyond their own graceful shutdown before they are killed
STOP_MARGIN_SECONDS = 5.0

#: what a worker runs: serve on the socket, call ``ready()`` once serving, return or exit
WorkerTarget = Callable[[socket.socket, Callable[[], None]], None]

_PR_SET_PDEATHSIG = 1


class WorkersRefused(Exception):
    """``--workers N`` cannot run with these settings; ``str()`` is the one line to print."""


def check_workers(count: int, *, is_sqlite: bool, nats_url: str | None) -> None:
    """Refuse several workers where they could not follow each other's writes."""
    if count <= 1:
        return
    if is_sqlite:
        raise WorkersRefused(
            f"CENTRAL_HUB_WORKERS/--workers {count}: several workers need PostgreSQL "
            "(a SQLite database serves one hub process); use DATABASE_URL=postgresql://… or 1 worker"
        )
    if not nats_url:
        raise WorkersRefused(
            f"CENTRAL_HUB_WORKERS/--workers {count}: several workers need NATS_URL "
            "(each worker is a replica and follows the others' changes over NATS); set it or use 1 worker"
        )


def reuse_port_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that other workers can bind too."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class _Worker:
    pid: int
    ready_fd: int
    ready: bool = False


@dataclass
class WorkerPool:
    """Runs ``count`` forked workers of ``target`` on ``host:port`` until told to stop."""

    count: int
    target: WorkerTarget
    host: str
    port: int
    backlog: int = 2048
    graceful_seconds: float = 10.0
    workers: dict[int, _Worker] = field(default_factory=dict)
    _signals: int = 0
    _deaths: list[float] = field(default_factory=list)

    # ------------------------------------------------------------------ parent
    def run(self) -> int:
        """Serve until a signal (0 once every worker stopped cleanly) or a failure (non-zero)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for _ in range(self.count):
                self._fork()
            return self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        self._signals += 1
        # a second signal: the workers skip their drain (uvicorn's meaning of a second Ctrl-C)
        self._tell_workers(signal.SIGTERM if self._signals == 1 else signal.SIGINT)

    def _tell_workers(self, sig: int) -> None:
        for pid in list(self.workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _supervise(self) -> int:
        stop_deadline: float | None = None
        failure: int | None = None
        while self.workers:
            if self._signals and stop_deadline is None:
                stop_deadline = time.monotonic() + self.graceful_seconds + STOP_MARGIN_SECONDS
                log.info("stopping %d workers", len(self.workers))
            if stop_deadline is not None and time.monotonic() > stop_deadline:
                log.error("workers still running %.0fs after SIGTERM; killing them", self.graceful_seconds)
                self._tell_workers(signal.SIGKILL)
                failure = failure or 1
                stop_deadline = float("inf")
            self._read_ready(timeout=0.2)
            for pid, code in self._reap():
                worker = self.workers.pop(pid)
                os.close(worker.ready_fd)
                if self._signals:
                    # killed by the SIGTERM itself: it had not begun serving, nothing to drain
                    if code not in (0, -signal.SIGTERM):
                        failure = failure or (code if code > 0 else 1)
                    continue
                if not worker.ready:
                    log.error("worker %d exited with status %d before serving; stopping", pid, code)
                    return self._stop_all(code or 1)
                if not self._may_restart():
                    log.error(
                        "worker %d exited with status %d; %d workers died within %.0fs, stopping",
                        pid,
                        code,
                        MAX_RESTARTS + 1,
                        RESTART_WINDOW_SECONDS,
                    )
                    return self._stop_all(1)
                log.warning("worker %d exited with status %d; starting another", pid, code)
                self._fork()
        return failure or 0

    def _may_restart(self) -> bool:
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW_SECONDS] + [now]
        return len(self._deaths) <= MAX_RESTARTS

    def _stop_all(self, code: int) -> int:
        self._signals = max(self._signals, 1)
        self._tell_workers(signal.SIGTERM)
        deadline = time.monotonic() + self.graceful_seconds + STOP_MARGIN_SECONDS
        while self.workers and time.monotonic() < deadline:
            for pid, _ in self._reap():
                os.close(self.workers.pop(pid).ready_fd)
            time.sleep(0.05)
        self._tell_workers(signal.SIGKILL)
        for pid in list(self.workers):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            os.close(self.workers.pop(pid).ready_fd)
        return code

    def _read_ready(self, timeout: float) -> None:
        waiting = {w.ready_fd: w for w in self.workers.values() if not w.ready}
        if not waiting:
            time.sleep(timeout)
            return
        readable, _, _ = select.select(list(waiting), [], [], timeout)
        for fd in readable:
            worker = waiting[fd]
            if os.read(fd, 1):
                worker.ready = True
                log.info("worker %d serving on %s:%d", worker.pid, self.host, self.port)

    def _reap(self) -> list[tuple[int, int]]:
        ended = []
        for pid in list(self.workers):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                ended.append((pid, 1))
                continue
            if done:
                ended.append((pid, os.waitstatus_to_exitcode(status)))
        return ended

    def _fork(self) -> None:
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the worker process
            os.close(read_fd)
            os._exit(self._worker_main(write_fd, parent))
        os.close(write_fd)
        self.workers[pid] = _Worker(pid=pid, ready_fd=read_fd)
        if self._signals:  # the stop signal came while this worker was being started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    # ------------------------------------------------------------------ worker
    def _worker_main(self, ready_fd: int, parent: int) -> int:  # pragma: no cover - child process
        code = 1
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            os.setpgid(0, 0)
            _die_with_parent(parent)

            def ready() -> None:
                with contextlib.suppress(OSError):
                    os.write(ready_fd, b"r")

            sock = reuse_port_socket(self.host, self.port, self.backlog)
            self.target(sock, ready)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except OSError as exc:
            where = f"{self.host}:{self.port}"
            print(f"error: worker {os.getpid()}: cannot serve on {where}: {exc}", file=sys.stderr)
        except BaseException as exc:
            exit_code = getattr(exc, "exit_code", None)  # click/typer's Exit carries the status
            if isinstance(exit_code, int):
                code = exit_code
            else:
                traceback.print_exc()
        finally:
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
        return code


def _die_with_parent(parent: int) -> None:  # pragma: no cover - child process
    """Ask the kernel for SIGTERM when the parent dies, so no worker outlives it unsupervised."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)
