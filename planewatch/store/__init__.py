"""The store: ClickHouse, embedded (chdb) or server (clickhouse-driver), same DDL."""
