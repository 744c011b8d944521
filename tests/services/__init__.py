"""Real services the distributed-mode tests start and stop themselves (Kafka, ClickHouse server, …)."""
