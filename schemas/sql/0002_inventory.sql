-- 0002: the inventory as rows, so SQL (dashboards, forensic queries, reports) knows plane
-- names, expected MAC counts, which ToR ports face spines and which server sits behind a
-- ToR port or a MAC. Written by the process holding the inventory each time it starts;
-- the latest row per plane/switch/server is current.
-- Authored with planewatch.schemas.ddl.create_table_sql(record, "{database}").

-- PlaneInventory v1
CREATE TABLE IF NOT EXISTS {database}.planes
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    name LowCardinality(String),
    switches UInt32 CODEC(T64, ZSTD(1)),
    servers UInt32 CODEC(T64, ZSTD(1)),
    expected_macs UInt32 CODEC(T64, ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, ts)
TTL toDateTime(ts) + INTERVAL 730 DAY
SETTINGS ttl_only_drop_parts = 1;

-- SwitchInventory v1
CREATE TABLE IF NOT EXISTS {database}.switches
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    device LowCardinality(String),
    role LowCardinality(String),
    rack LowCardinality(String),
    uplinks Array(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, device, ts)
TTL toDateTime(ts) + INTERVAL 730 DAY
SETTINGS ttl_only_drop_parts = 1;

-- ServerInventory v1
CREATE TABLE IF NOT EXISTS {database}.servers
(
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    plane UInt8,
    fabric LowCardinality(String),
    server LowCardinality(String),
    address String,
    mac String,
    device LowCardinality(String),
    port LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (fabric, plane, server, ts)
TTL toDateTime(ts) + INTERVAL 730 DAY
SETTINGS ttl_only_drop_parts = 1;
