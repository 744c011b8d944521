-- 0003: hourly rollups the long `planewatch query top` windows read instead of the raw rows
-- (DESIGN.md: raw tables -> materialized-view rollups with TTL retention).
-- Filled on insert by materialized views; queried by planewatch/forensics/rollups.py, which
-- reads whole hours here and only the partial hours at a window's ends from the raw tables.
--
-- port_counters_1h keeps, per port and hour, what top ports needs to give the same answer
-- as the raw rows: the first and last sample, each as one UInt128 key
-- (epoch milliseconds << 64) + value, whose min/max is argMin/argMax by time (ties: the
-- lowest/highest value), merges across inserts and hours exactly and reads as a plain
-- column (argMin/argMax states and min/max of tuples were several times slower to read or
-- to insert); the value is the key's low 64 bits. A NULL broadcast+multicast value is keyed
-- out of reach (all ones for the first, 0 for the last) so first/last are those of the
-- non-NULL values, NULL when the hour has none. Plus the sample count, the first and last
-- time, and the lowest and highest value.
--
-- Counter resets: an MV sees one insert block at a time, so it cannot keep consecutive
-- deltas. Instead a reset shows as an hour (or a whole window, which catches resets between
-- hours) holding a value below its first sample or above its last; the query then gives the
-- port no rate, as planewatch/counters.py counts nothing for a reset interval. The one reset
-- this misses is one after which the counter never falls below the hour's and the window's
-- first value and climbs past its pre-reset peak before they end (a counter that was near 0
-- when the window began); the rate is then last - first, as before the rollups.
--
-- Rows inserted twice count twice in `samples`/sums here even after the raw
-- ReplacingMergeTree merged them away; first/last/min/max are unaffected.
--
-- Each rollup is created, then backfilled from the raw table while it is still empty (a
-- store that predates this migration), then its view is created. Every statement can be
-- re-run: the backfill does nothing once the rollup holds rows. Rows a concurrent writer
-- inserts between the backfill and the view's creation (server stores only) are missed.
-- Applied migrations are never edited: change a rollup with a new NNNN_*.sql file.

CREATE TABLE IF NOT EXISTS {database}.port_counters_1h
(
    hour DateTime('UTC'),
    plane UInt8,
    fabric LowCardinality(String),
    device LowCardinality(String),
    port LowCardinality(String),
    samples SimpleAggregateFunction(sum, UInt64),
    first_ts SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    first_octets SimpleAggregateFunction(min, UInt128),
    last_octets SimpleAggregateFunction(max, UInt128),
    min_octets SimpleAggregateFunction(min, UInt64),
    max_octets SimpleAggregateFunction(max, UInt64),
    first_flood SimpleAggregateFunction(min, UInt128),
    last_flood SimpleAggregateFunction(max, UInt128),
    min_flood SimpleAggregateFunction(min, Nullable(UInt64)),
    max_flood SimpleAggregateFunction(max, Nullable(UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (fabric, plane, device, port, hour)
TTL hour + INTERVAL 400 DAY
SETTINGS ttl_only_drop_parts = 1;

INSERT INTO {database}.port_counters_1h
SELECT toStartOfHour(toDateTime(ts, 'UTC')) AS hour, plane, fabric, device, port,
       toUInt64(count()) AS samples, min(ts) AS first_ts, max(ts) AS last_ts,
       min(toUInt128(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 64) + (in_octets + out_octets)))
         AS first_octets,
       max(toUInt128(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 64) + (in_octets + out_octets)))
         AS last_octets,
       min(in_octets + out_octets) AS min_octets, max(in_octets + out_octets) AS max_octets,
       min(if(in_broadcast_pkts + in_multicast_pkts IS NULL, toUInt128('340282366920938463463374607431768211455'),
              toUInt128(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 64)
                        + ifNull(in_broadcast_pkts + in_multicast_pkts, 0)))) AS first_flood,
       max(if(in_broadcast_pkts + in_multicast_pkts IS NULL, toUInt128(0),
              toUInt128(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 64)
                        + ifNull(in_broadcast_pkts + in_multicast_pkts, 0)))) AS last_flood,
       min(in_broadcast_pkts + in_multicast_pkts) AS min_flood,
       max(in_broadcast_pkts + in_multicast_pkts) AS max_flood
FROM {database}.port_counters
WHERE (SELECT count() FROM {database}.port_counters_1h) = 0
GROUP BY fabric, plane, device, port, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.port_counters_1h_mv TO {database}.port_counters_1h AS
SELECT toStartOfHour(toDateTime(ts, 'UTC')) AS hour, plane, fabric, device, port,
       toUInt64(count()) AS samples, min(ts) AS first_ts, max(ts) AS last_ts,
       min(toUInt128(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 64) + (in_octets + out_octets)))
         AS first_octets,
       max(toUInt128(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 64) + (in_octets + out_octets)))
         AS last_octets,
       min(in_octets + out_octets) AS min_octets, max(in_octets + out_octets) AS max_octets,
       min(if(in_broadcast_pkts + in_multicast_pkts IS NULL, toUInt128('340282366920938463463374607431768211455'),
              toUInt128(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 64)
                        + ifNull(in_broadcast_pkts + in_multicast_pkts, 0)))) AS first_flood,
       max(if(in_broadcast_pkts + in_multicast_pkts IS NULL, toUInt128(0),
              toUInt128(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 64)
                        + ifNull(in_broadcast_pkts + in_multicast_pkts, 0)))) AS last_flood,
       min(in_broadcast_pkts + in_multicast_pkts) AS min_flood,
       max(in_broadcast_pkts + in_multicast_pkts) AS max_flood
FROM {database}.port_counters
GROUP BY fabric, plane, device, port, hour;

-- bgp_route_counters rows are already per-interval deltas: hourly sums are exact.
CREATE TABLE IF NOT EXISTS {database}.bgp_route_counters_1h
(
    hour DateTime('UTC'),
    plane UInt8,
    fabric LowCardinality(String),
    node LowCardinality(String),
    peer_ip String,
    samples UInt64,
    import_updates UInt64,
    import_withdraws UInt64,
    export_updates UInt64,
    export_withdraws UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (fabric, plane, node, peer_ip, hour)
TTL hour + INTERVAL 400 DAY
SETTINGS ttl_only_drop_parts = 1;

INSERT INTO {database}.bgp_route_counters_1h
SELECT toStartOfHour(toDateTime(ts, 'UTC')) AS hour, plane, fabric, node, peer_ip,
       toUInt64(count()) AS samples,
       sum(import_updates) AS import_updates, sum(import_withdraws) AS import_withdraws,
       sum(export_updates) AS export_updates, sum(export_withdraws) AS export_withdraws
FROM {database}.bgp_route_counters
WHERE (SELECT count() FROM {database}.bgp_route_counters_1h) = 0
GROUP BY fabric, plane, node, peer_ip, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.bgp_route_counters_1h_mv TO {database}.bgp_route_counters_1h AS
SELECT toStartOfHour(toDateTime(ts, 'UTC')) AS hour, plane, fabric, node, peer_ip,
       toUInt64(count()) AS samples,
       sum(import_updates) AS import_updates, sum(import_withdraws) AS import_withdraws,
       sum(export_updates) AS export_updates, sum(export_withdraws) AS export_withdraws
FROM {database}.bgp_route_counters
GROUP BY fabric, plane, node, peer_ip, hour;
