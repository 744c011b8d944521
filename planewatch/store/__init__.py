"""The store: ClickHouse, embedded (chdb) or server (clickhouse-driver), same DDL."""

from planewatch.store.embedded import EmbeddedStore, QueryError, ReadOnlyQueryError, StoreError, StoreInUseError

__all__ = ["EmbeddedStore", "QueryError", "ReadOnlyQueryError", "StoreError", "StoreInUseError"]
