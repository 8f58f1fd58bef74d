"""TimezoneHandler: UTC / New York / London / Tokyo conversions and forex market sessions.

All session rules are written in each centre's *local* time and evaluated with ``zoneinfo``,
so daylight-saving changes move the UTC boundaries automatically:

* Asian (Tokyo)    09:00–18:00 Asia/Tokyo (no DST)
* European (London) 08:00–17:00 Europe/London
* US (New York)    08:00–17:00 America/New_York

The forex week opens Sunday 17:00 New York time and closes Friday 17:00 New York time
(22:00 UTC in winter, 21:00 UTC in summer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from centralhub.market.instants import Instant, to_datetime

__all__ = ["SESSIONS", "MarketSession", "TimezoneHandler", "is_forex_open"]

_ALIASES = {
    "UTC": "UTC",
    "NY": "America/New_York",
    "NEW_YORK": "America/New_York",
    "NEWYORK": "America/New_York",
    "AMERICA/NEW_YORK": "America/New_York",
    "LONDON": "Europe/London",
    "EUROPE/LONDON": "Europe/London",
    "TOKYO": "Asia/Tokyo",
    "ASIA/TOKYO": "Asia/Tokyo",
}
NEW_YORK = ZoneInfo("America/New_York")

# name → (zone, local open, local close)
SESSIONS: dict[str, tuple[ZoneInfo, time, time]] = {
    "asian": (ZoneInfo("Asia/Tokyo"), time(9), time(18)),
    "european": (ZoneInfo("Europe/London"), time(8), time(17)),
    "us": (NEW_YORK, time(8), time(17)),
}
_FOREX_ROLL = time(17)  # New York 17:00: daily roll, weekly open (Sunday) and close (Friday)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(
            f"naive datetime {value.isoformat()} is ambiguous; attach a tzinfo "
            "or convert with TimezoneHandler.localize()"
        )
    return value


def is_forex_open(instant: datetime) -> bool:
    """True between Sunday 17:00 and Friday 17:00 New York time (DST aware)."""
    local = _aware(instant).astimezone(NEW_YORK)
    weekday, t = local.weekday(), local.time()  # Monday == 0
    if weekday == 5:  # Saturday
        return False
    if weekday == 4:  # Friday
        return t < _FOREX_ROLL
    if weekday == 6:  # Sunday
        return t >= _FOREX_ROLL
    return True


@dataclass(frozen=True, slots=True)
class MarketSession:
    """Sessions active at an instant; ``name`` is e.g. ``"european_us_overlap"``."""

    instant: datetime
    active: tuple[str, ...]
    market_open: bool

    @property
    def name(self) -> str:
        if not self.market_open:
            return "closed"
        if not self.active:
            return "off_hours"
        if len(self.active) == 1:
            return self.active[0]
        return "_".join(self.active) + "_overlap"

    @property
    def is_overlap(self) -> bool:
        return self.market_open and len(self.active) > 1


class TimezoneHandler:
    """Conversions between market time zones and session detection for any instant."""

    def zone(self, name: str) -> ZoneInfo:
        """Resolve ``"UTC"``, ``"NY"``/``"New_York"``, ``"London"``, ``"Tokyo"`` or an IANA name."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"time zone name must be a non-empty str, got {name!r}")
        key = _ALIASES.get(name.upper().replace(" ", "_"), name)
        try:
            return ZoneInfo(key)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc

    def localize(self, naive: datetime, tz: str) -> datetime:
        """Attach ``tz`` to a naive wall-clock time (``fold=0``: first occurrence in DST fall-back)."""
        if naive.tzinfo is not None:
            raise ValueError(f"{naive.isoformat()} already has a tzinfo")
        return naive.replace(tzinfo=self.zone(tz))

    def convert(self, value: datetime, to_tz: str, from_tz: str | None = None) -> datetime:
        """Convert ``value`` to ``to_tz``; a naive ``value`` needs ``from_tz``."""
        if value.tzinfo is None:
            if from_tz is None:
                raise ValueError(f"naive datetime {value.isoformat()} needs from_tz=")
            value = self.localize(value, from_tz)
        return value.astimezone(self.zone(to_tz))

    def to_utc(self, value: datetime, from_tz: str | None = None) -> datetime:
        return self.convert(value, "UTC", from_tz)

    def from_timestamp(self, timestamp: float, tz: str = "UTC", *, ms: bool = False) -> datetime:
        """Unix seconds (or milliseconds with ``ms=True``) → aware datetime in ``tz``."""
        seconds = timestamp / 1000 if ms else timestamp
        return datetime.fromtimestamp(seconds, tz=UTC).astimezone(self.zone(tz))

    def format(self, value: datetime, tz: str = "UTC", fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
        return self.convert(_aware(value), tz).strftime(fmt)

    def is_dst(self, value: datetime, tz: str) -> bool:
        local = self.convert(_aware(value), tz)
        return bool(local.dst())

    def get_market_session(self, instant: Instant) -> MarketSession:
        """Sessions active at ``instant`` (in Asian → European → US order).

        ``instant``: an aware datetime or Unix milliseconds, as ``TickData.timestamp_ms``.
        """
        instant = _aware(instant) if isinstance(instant, datetime) else to_datetime(instant)
        active = tuple(
            name
            for name, (zone, opens, closes) in SESSIONS.items()
            if self._in_session(instant, zone, opens, closes)
        )
        return MarketSession(instant, active, is_forex_open(instant))

    @staticmethod
    def _in_session(instant: datetime, zone: ZoneInfo, opens: time, closes: time) -> bool:
        local = instant.astimezone(zone)
        return local.weekday() < 5 and opens <= local.time() < closes
