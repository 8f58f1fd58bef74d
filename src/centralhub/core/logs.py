"""Log levels the hub and the SDK share for other people's libraries."""

from __future__ import annotations

import logging

#: libraries that log each request they make at INFO: at a hub's or a service's default level that
#: is one line per health probe and heartbeat, drowning what the process itself says
CHATTY_LIBRARIES = ("httpx", "httpcore", "hpack")


def quiet_chatty_libraries(level: str | int) -> None:
    """Keep :data:`CHATTY_LIBRARIES` at WARNING unless ``level`` asks for DEBUG."""
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    debug = isinstance(numeric, int) and numeric <= logging.DEBUG
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)
