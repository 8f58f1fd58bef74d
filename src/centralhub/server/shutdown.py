"""Run the hub's server so that SIGTERM ends it in well under two seconds, cleanly.

uvicorn's graceful shutdown waits for every open request before the app's lifespan shutdown
runs; a held ``/watch`` request (up to five minutes) would keep it waiting until its timeout and
then be cancelled with a traceback. Here the held requests are released first (each answers
304, as at its own timeout, so a client simply watches again, on another replica), then uvicorn
finishes the requests still running and the hub stops. A SIGTERM shutdown exits with status 0.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn

from centralhub.hub import Hub

log = logging.getLogger("centralhub.server")


class PortTaken(Exception):
    """The hub's address is held by another process: said in one line, not a traceback."""


def bind_listener(host: str, port: int) -> socket.socket:
    """The hub's listening socket, bound before anything starts.

    Binding first means a taken port is reported at once, in one line, before the hub opens its
    database or says it is ready; uvicorn would otherwise start the hub, log a bind error and
    stop it again.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortTaken(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortTaken(
                f"port {port} on {host} is already in use (another hub or program holds it); "
                "pick another with --port or CENTRAL_HUB_PORT"
            ) from None
        raise PortTaken(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


class HubServer(uvicorn.Server):
    """uvicorn's server, releasing the hub's held requests as soon as shutdown begins.

    ``on_ready`` is called once the hub has started and the socket accepts connections (a
    worker tells its parent so)."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        ready_line = getattr(getattr(self.config.app, "state", None), "ready_line", None)
        if ready_line:
            log.info("%s", ready_line)
        if self.on_ready is not None:
            self.on_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub = _hub_of(self.config)
        if hub is not None:
            hub.release_held_requests()
        await super().shutdown(sockets)


def _hub_of(config: uvicorn.Config) -> Hub | None:
    app = config.app
    state = getattr(app, "state", None)
    hub = getattr(state, "hub", None)
    return hub if isinstance(hub, Hub) else None


def _exit_cleanly(_sig: int, _frame: FrameType | None) -> None:
    # uvicorn re-raises the signal it shut down for once it is done; by then the hub has
    # stopped in order, which is a successful end, not a death by signal
    sys.exit(0)


def serve_until_signalled(
    config: uvicorn.Config,
    *,
    sockets: list[socket.socket] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """``uvicorn.run`` with :class:`HubServer` (on ``sockets`` when given, else binding
    ``config``'s host and port); SIGTERM ends the process with status 0."""
    signal.signal(signal.SIGTERM, _exit_cleanly)
    server = HubServer(config, on_ready)
    server.run(sockets=sockets)
    if not server.started:
        sys.exit(3)  # what uvicorn.run answers when the app failed to start
