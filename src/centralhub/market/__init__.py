"""Trading data layer: models, validation, schemas/DDL, DataRouter, sessions and gap checks."""

from centralhub.market.exceptions import (
    CacheError,
    DatabaseConnectionError,
    DataManagerError,
    QueryExecutionError,
    QueryTimeoutError,
    ValidationError,
)
from centralhub.market.gaps import Gap, GapFillVerifier, GapReport, parse_timeframe
from centralhub.market.migrator import AppliedSchema, SchemaMigrator
from centralhub.market.models import CandleData, EconomicEvent, HealthCheckResponse, TickData
from centralhub.market.pools import DatabasePoolManager, get_pool_manager
from centralhub.market.router import DataRouter
from centralhub.market.schemas import (
    generate_clickhouse_sql,
    generate_full_schema_sql,
    get_clickhouse_schemas,
    get_timescale_schemas,
)
from centralhub.market.sessions import MarketSession, TimezoneHandler, is_forex_open
from centralhub.market.validation import DataValidator

__all__ = [
    "AppliedSchema",
    "CacheError",
    "CandleData",
    "DataManagerError",
    "DataRouter",
    "DataValidator",
    "DatabaseConnectionError",
    "DatabasePoolManager",
    "EconomicEvent",
    "Gap",
    "GapFillVerifier",
    "GapReport",
    "HealthCheckResponse",
    "MarketSession",
    "QueryExecutionError",
    "QueryTimeoutError",
    "SchemaMigrator",
    "TickData",
    "TimezoneHandler",
    "ValidationError",
    "generate_clickhouse_sql",
    "generate_full_schema_sql",
    "get_clickhouse_schemas",
    "get_pool_manager",
    "get_timescale_schemas",
    "is_forex_open",
    "parse_timeframe",
]
