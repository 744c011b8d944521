-- 0001: the raw tables, one per stored record (planewatch.schemas.records.STORED_RECORDS).
-- Authored with planewatch.schemas.ddl.create_table_sql(record, "{database}").
-- tests/schemas/test_ddl_drift.py checks the result still matches the records.
-- {database} is substituted by the migration runner with a validated identifier.
-- Applied migrations are never edited: change a table with a new NNNN_*.sql file.

-- PortCounters v1
CREATE TABLE IF NOT EXISTS {database}.port_counters
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    device LowCardinality(String),
    port LowCardinality(String),
    in_octets UInt64 CODEC(T64, ZSTD(1)),
    out_octets UInt64 CODEC(T64, ZSTD(1)),
    in_unicast_pkts UInt64 CODEC(T64, ZSTD(1)),
    out_unicast_pkts UInt64 CODEC(T64, ZSTD(1)),
    in_broadcast_pkts Nullable(UInt64),
    out_broadcast_pkts Nullable(UInt64),
    in_multicast_pkts Nullable(UInt64),
    out_multicast_pkts Nullable(UInt64),
    in_discards Nullable(UInt64),
    out_discards Nullable(UInt64),
    in_errors Nullable(UInt64),
    out_errors Nullable(UInt64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, device, port, ts)
TTL toDateTime(ts) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1;

-- InterfaceStatus v1
CREATE TABLE IF NOT EXISTS {database}.interface_status
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    device LowCardinality(String),
    port LowCardinality(String),
    oper_status LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, device, port, ts, oper_status)
TTL toDateTime(ts) + INTERVAL 180 DAY
SETTINGS ttl_only_drop_parts = 1;

-- FdbSnapshot v1
CREATE TABLE IF NOT EXISTS {database}.fdb_snapshots
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    device LowCardinality(String),
    macs Array(String) CODEC(ZSTD(3)),
    vlans Array(UInt16) CODEC(ZSTD(3)),
    ports Array(LowCardinality(String)) CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, device, ts)
TTL toDateTime(ts) + INTERVAL 14 DAY
SETTINGS ttl_only_drop_parts = 1;

-- FdbChange v1
CREATE TABLE IF NOT EXISTS {database}.fdb_changes
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    device LowCardinality(String),
    mac String,
    vlan UInt16,
    port LowCardinality(String),
    change LowCardinality(String),
    previous_port Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, device, mac, ts, change)
TTL toDateTime(ts) + INTERVAL 90 DAY
SETTINGS ttl_only_drop_parts = 1;

-- SflowCounterSample v1
CREATE TABLE IF NOT EXISTS {database}.sflow_counters
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    agent LowCardinality(String),
    device LowCardinality(String),
    sequence UInt32 CODEC(T64, ZSTD(1)),
    if_index UInt32 CODEC(T64, ZSTD(1)),
    if_speed Nullable(UInt64),
    if_oper_up Nullable(Bool),
    in_octets Nullable(UInt64),
    in_ucast_pkts Nullable(UInt64),
    in_mcast_pkts Nullable(UInt64),
    in_bcast_pkts Nullable(UInt64),
    in_discards Nullable(UInt64),
    in_errors Nullable(UInt64),
    out_octets Nullable(UInt64),
    out_ucast_pkts Nullable(UInt64),
    out_mcast_pkts Nullable(UInt64),
    out_bcast_pkts Nullable(UInt64),
    out_discards Nullable(UInt64),
    out_errors Nullable(UInt64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, device, if_index, ts, sequence)
TTL toDateTime(ts) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1;

-- SflowFlowSample v1
CREATE TABLE IF NOT EXISTS {database}.sflow_flows
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    agent LowCardinality(String),
    device LowCardinality(String),
    sequence UInt32 CODEC(T64, ZSTD(1)),
    sampling_rate UInt32 CODEC(T64, ZSTD(1)),
    input_if UInt32 CODEC(T64, ZSTD(1)),
    output_if UInt32 CODEC(T64, ZSTD(1)),
    src_mac String,
    dst_mac String,
    vlan Nullable(UInt16),
    ethertype UInt16,
    frame_class LowCardinality(String),
    frame_length UInt32 CODEC(T64, ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, device, ts, sequence, input_if, output_if, src_mac, dst_mac)
TTL toDateTime(ts) + INTERVAL 7 DAY
SETTINGS ttl_only_drop_parts = 1;

-- BgpSession v1
CREATE TABLE IF NOT EXISTS {database}.bgp_sessions
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    node LowCardinality(String),
    protocol LowCardinality(String),
    peer_ip String,
    state LowCardinality(String),
    info String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, node, peer_ip, ts, state)
TTL toDateTime(ts) + INTERVAL 365 DAY
SETTINGS ttl_only_drop_parts = 1;

-- BgpRouteCounters v1
CREATE TABLE IF NOT EXISTS {database}.bgp_route_counters
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    node LowCardinality(String),
    protocol LowCardinality(String),
    peer_ip String,
    routes_imported UInt32 CODEC(T64, ZSTD(1)),
    routes_exported UInt32 CODEC(T64, ZSTD(1)),
    import_updates UInt32 CODEC(T64, ZSTD(1)),
    import_withdraws UInt32 CODEC(T64, ZSTD(1)),
    export_updates UInt32 CODEC(T64, ZSTD(1)),
    export_withdraws UInt32 CODEC(T64, ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, node, peer_ip, ts)
TTL toDateTime(ts) + INTERVAL 90 DAY
SETTINGS ttl_only_drop_parts = 1;

-- Finding v1
CREATE TABLE IF NOT EXISTS {database}.findings
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    fingerprint String,
    kind LowCardinality(String),
    subject LowCardinality(String),
    severity LowCardinality(String),
    status LowCardinality(String),
    started_at DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    ended_at Nullable(DateTime64(3, 'UTC')),
    summary String CODEC(ZSTD(1)),
    evidence String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, kind, fingerprint, ts, status)
TTL toDateTime(ts) + INTERVAL 730 DAY
SETTINGS ttl_only_drop_parts = 1;
