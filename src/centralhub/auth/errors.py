"""The two answers auth gives: 401 (who are you?) and 403 (you may not)."""

from __future__ import annotations

from centralhub.core.errors import HubError


class Unauthorized(HubError):
    """No credential, or one the hub does not accept (unknown, expired, revoked, bad signature).

    The message never repeats the credential."""

    code = "unauthorized"
    http_status = 401


class Forbidden(HubError):
    """A known caller asking for something its credential does not grant; the message names
    the missing scope, tenant or service."""

    code = "forbidden"
    http_status = 403
