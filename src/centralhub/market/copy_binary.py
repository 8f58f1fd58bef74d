"""PostgreSQL binary COPY rows for ticks and candles, encoded straight from the model fields.

Handing asyncpg tuples costs a ``datetime`` per row on our side and, on asyncpg's, a timezone
conversion and a subtraction per row to turn it back into the integer PostgreSQL stores
(microseconds since 2000-01-01). Encoding the row here goes from ``timestamp_ms`` to that
integer directly, packs the fixed-width fields with one ``struct`` call, and reuses the encoded
string fields, which repeat from row to row (symbol, source, exchange, event type).

Column order is ours to choose in a COPY, so fixed-width columns come first: see
:data:`TICK_COLUMNS` and :data:`CANDLE_COLUMNS`. The format: a signature and two zero words,
then per row a field count and, per field, its byte length (-1 for NULL) and big-endian value,
then -1 as the trailer.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CANDLE_COLUMNS",
    "TICK_COLUMNS",
    "candle_row",
    "copy_payload",
    "tick_row",
]

TICK_COLUMNS = ("timestamp", "bid", "ask", "volume", "symbol", "source", "exchange", "event_type")
CANDLE_COLUMNS = (
    "timestamp", "open", "high", "low", "close", "volume", "vwap", "num_trades",
    "symbol", "timeframe", "source",
)  # fmt: skip

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_PG_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z, PostgreSQL's zero for timestamps

# count, timestamp, bid, ask, volume — and the same without volume (NULL).
_TICK_FIXED = struct.Struct(">hiqididid")
_TICK_FIXED_NO_VOLUME = struct.Struct(">hiqididi")
_F8 = struct.Struct(">id")
_I4 = struct.Struct(">ii")
# count, timestamp, open, high, low, close.
_CANDLE_FIXED = struct.Struct(">hiqidididid")

# Encoded string fields per distinct combination; bounded so varied input cannot grow it.
_STRINGS: dict[tuple[str | None, ...], bytes] = {}
_STRINGS_MAX = 10_000


def _text(value: str | None) -> bytes:
    if value is None:
        return _NULL
    # A lone surrogate is passed on as is: PostgreSQL refuses the row as invalid UTF-8 and the
    # whole COPY with it, rather than this encoder failing half-way through a batch.
    data = value.encode("utf-8", "surrogatepass")
    return struct.pack(">i", len(data)) + data


def _strings(key: tuple[str | None, ...]) -> bytes:
    encoded = _STRINGS.get(key)
    if encoded is None:
        if len(_STRINGS) >= _STRINGS_MAX:
            _STRINGS.clear()
        encoded = _STRINGS[key] = b"".join(_text(v) for v in key)
    return encoded


def tick_row(ms: int, bid: float, ask: float, volume: float | None, strings: tuple[Any, ...]) -> bytes:
    """One tick in :data:`TICK_COLUMNS` order; ``strings`` = (symbol, source, exchange, event_type)."""
    us = (ms - _PG_EPOCH_MS) * 1000
    if volume is None:
        return _TICK_FIXED_NO_VOLUME.pack(8, 8, us, 8, bid, 8, ask, -1) + _strings(strings)
    return _TICK_FIXED.pack(8, 8, us, 8, bid, 8, ask, 8, volume) + _strings(strings)


def candle_row(
    ms: int,
    prices: tuple[float, float, float, float],
    volume: float | None,
    vwap: float | None,
    num_trades: int | None,
    strings: tuple[Any, ...],
) -> bytes:
    """One candle in :data:`CANDLE_COLUMNS` order; ``strings`` = (symbol, timeframe, source).

    Raises ``struct.error`` for a ``num_trades`` outside PostgreSQL's INTEGER.
    """
    head = _CANDLE_FIXED.pack(11, 8, (ms - _PG_EPOCH_MS) * 1000, 8, prices[0], 8, prices[1],
                              8, prices[2], 8, prices[3])  # fmt: skip
    return (
        head
        + (_NULL if volume is None else _F8.pack(8, volume))
        + (_NULL if vwap is None else _F8.pack(8, vwap))
        + (_NULL if num_trades is None else _I4.pack(4, num_trades))
        + _strings(strings)
    )


def copy_payload(rows: Iterable[bytes]) -> bytes:
    """The whole COPY stream for ``rows``."""
    return b"".join((_HEADER, *rows, _TRAILER))
