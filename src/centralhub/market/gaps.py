"""GapFillVerifier: find missing candles for a symbol/timeframe, aware of market hours.

A candle slot is expected when its open time falls inside market hours (``forex``: Sunday 17:00
to Friday 17:00 New York time, so the weekend is never a gap; ``24x7`` for crypto). Slots are
aligned to multiples of the timeframe since the Unix epoch (UTC). Consecutive missing slots form
one :class:`Gap`; a market closure splits gaps, so a Friday and a Sunday hole stay separate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from centralhub.market.models import datetime_to_ms, ms_to_datetime
from centralhub.market.sessions import is_forex_open

if TYPE_CHECKING:
    from centralhub.market.router import DataRouter

__all__ = ["Gap", "GapFillVerifier", "GapReport", "parse_timeframe"]

_TF = re.compile(r"^(?:(\d+)([mhdw])|([MHDW])(\d+))$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

MARKETS: dict[str, Callable[[datetime], bool]] = {
    "forex": is_forex_open,
    "24x7": lambda _instant: True,
    "crypto": lambda _instant: True,
}


def parse_timeframe(timeframe: str) -> timedelta:
    """``"1m"``, ``"15m"``, ``"1h"``, ``"4h"``, ``"1d"`` (or ``"M15"``, ``"H1"``) → timedelta."""
    m = _TF.match(timeframe) if isinstance(timeframe, str) else None
    if m is None:
        raise ValueError(f"timeframe {timeframe!r} not understood; use e.g. '1m', '1h', 'H4', '1d'")
    amount, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3).lower())
    if int(amount) == 0:
        raise ValueError(f"timeframe {timeframe!r} must be positive")
    return timedelta(**{_UNITS[unit]: int(amount)})


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing candles ``[start, end)``: ``start`` is the first missing open time."""

    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    missing_candles: int
    critical: bool

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class GapReport:
    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    expected_candles: int
    present_candles: int
    gaps: tuple[Gap, ...]

    @property
    def missing_candles(self) -> int:
        return sum(g.missing_candles for g in self.gaps)

    @property
    def completeness_pct(self) -> float:
        if not self.expected_candles:
            return 100.0
        return round(100.0 * (self.expected_candles - self.missing_candles) / self.expected_candles, 2)

    @property
    def has_critical_gaps(self) -> bool:
        return any(g.critical for g in self.gaps)

    def to_text(self) -> str:
        """Operator-readable summary, one line per gap."""
        fmt = "%Y-%m-%d %H:%M UTC"
        lines = [
            f"Gap report {self.symbol} {self.timeframe} "
            f"{self.start.strftime(fmt)} → {self.end.strftime(fmt)}",
            f"  expected {self.expected_candles} candles, missing {self.missing_candles} "
            f"({self.completeness_pct}% complete), {len(self.gaps)} gap(s)",
        ]
        for g in self.gaps:
            flag = "  CRITICAL" if g.critical else ""
            lines.append(
                f"  - {g.start.strftime(fmt)} → {g.end.strftime(fmt)}  "
                f"{_human(g.duration)}  ({g.missing_candles} candles){flag}"
            )
        if not self.gaps:
            lines.append("  no gaps")
        return "\n".join(lines)


def _human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{mins}m"] * bool(mins)
    return " ".join(parts) or "0m"


class GapFillVerifier:
    """Compares present candle open times with the slots market hours say should exist.

    ``critical_after`` flags gaps at least that long (the "alert on critical gaps" rule).
    """

    def __init__(
        self,
        router: DataRouter | None = None,
        *,
        market: str | Callable[[datetime], bool] = "forex",
        critical_after: timedelta = timedelta(hours=1),
    ) -> None:
        if isinstance(market, str):
            if market not in MARKETS:
                raise ValueError(f"unknown market {market!r}; known: {', '.join(MARKETS)}")
            self.is_open = MARKETS[market]
        else:
            self.is_open = market
        self.router = router
        self.critical_after = critical_after

    def expected_slots(self, timeframe: str, start: datetime, end: datetime) -> list[datetime]:
        """Open times of every candle expected in ``[start, end)``."""
        step_ms = int(parse_timeframe(timeframe).total_seconds() * 1000)
        start_ms, end_ms = datetime_to_ms(start), datetime_to_ms(end)
        if end_ms <= start_ms:
            raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
        first = -(-start_ms // step_ms) * step_ms  # first aligned slot >= start
        slots = (ms_to_datetime(ms) for ms in range(first, end_ms, step_ms))
        return [s for s in slots if self.is_open(s)]

    def find_gaps(
        self,
        symbol: str,
        timeframe: str,
        present: Iterable[datetime],
        start: datetime,
        end: datetime,
    ) -> GapReport:
        """Gaps in ``[start, end)`` given the open times of the candles that exist."""
        step = parse_timeframe(timeframe)
        have = {datetime_to_ms(t) for t in present}
        expected = self.expected_slots(timeframe, start, end)
        gaps: list[Gap] = []
        run: list[datetime] = []

        def close_run() -> None:
            if run:
                gap_start, gap_end = run[0], run[-1] + step
                critical = gap_end - gap_start >= self.critical_after
                gaps.append(Gap(symbol, timeframe, gap_start, gap_end, len(run), critical))
                run.clear()

        for slot in expected:
            if datetime_to_ms(slot) in have:
                close_run()
            elif run and slot - run[-1] != step:
                # The market closed in between: a new gap starts after the reopen.
                close_run()
                run.append(slot)
            else:
                run.append(slot)
        close_run()
        present_count = sum(1 for s in expected if datetime_to_ms(s) in have)
        return GapReport(symbol, timeframe, start, end, len(expected), present_count, tuple(gaps))

    async def verify(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> GapReport:
        """Read candles from the router's database and report the gaps."""
        if self.router is None:
            raise ValueError("GapFillVerifier.verify needs a DataRouter (pass router=)")
        candles = await self.router.get_candles(symbol, timeframe, start, end)
        return self.find_gaps(symbol, timeframe, (c.time for c in candles), start, end)
