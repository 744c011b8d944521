"""Grafana dashboards, datasource and alert rules as code.

- :mod:`.boards` — the three dashboards (fabric overview, plane detail, forensics) and
  ``panel_queries`` to walk every query in one;
- :mod:`.queries` — the SQL behind each panel; :mod:`.panels` — the JSON builders;
- :mod:`.macros` — expands the ClickHouse plugin's macros and Grafana variables exactly as
  Grafana would, so every panel query can be tested on chdb.
"""
