"""The macro expander against the ClickHouse datasource plugin's own expectations.

Expected strings come from the plugin's tests and code (grafana/clickhouse-datasource v4.x):
- backend macros: pkg/macros/macros_test.go (TestMacro*, TestInterpolate), pkg/macros/macros.go;
- argument parsing: grafana-plugin-sdk-go data/sqlutil/macros.go (getMacroMatches, Interpolate);
- $__conditionalAll and the default variable format: src/data/CHDatasource.ts
  (applyConditionalAll, getMacroArgs, format).
"""

from __future__ import annotations

import datetime as dt

import pytest

from planewatch.dashboards.macros import ALL, MacroError, expand


def _epoch(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


# macros_test.go TestMacroFromTimeFilter etc. use 2014-11-12T11:45:26.371Z .. 2015-11-12T11:45:26.371Z
FROM = _epoch("2014-11-12T11:45:26.371+0000")
TO = _epoch("2015-11-12T11:45:26.371+0000")
# ... and TestInterpolate uses .123 / .456 milliseconds
FROM_I = _epoch("2014-11-12T11:45:26.123+0000")
TO_I = _epoch("2015-11-12T11:45:26.456+0000")


def _x(sql: str, *, time_from: float = FROM, time_to: float = TO, interval: int = 20, **variables) -> str:
    return expand(sql, time_from=time_from, time_to=time_to, interval_seconds=interval, variables=variables)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # TestMacroFromTimeFilter / TestMacroToTimeFilter: seconds, truncated
        ("$__fromTime", "toDateTime(1415792726)"),
        ("$__toTime", "toDateTime(1447328726)"),
        # TestMacroFromTimeFilterMs / TestMacroToTimeFilterMs
        ("$__fromTime_ms", "fromUnixTimestamp64Milli(1415792726371)"),
        ("$__toTime_ms", "fromUnixTimestamp64Milli(1447328726371)"),
        # TestMacroDateFilter / TestMacroDateTimeFilter
        ("$__dateFilter(dateCol)", "dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')"),
        (
            "$__dateTimeFilter(dateCol, timeCol)",
            "(dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')) AND "
            "(timeCol >= toDateTime(1415792726) AND timeCol <= toDateTime(1447328726))",
        ),
        # TestMacroTimeInterval / TestMacroTimeIntervalMs / TestMacroIntervalSeconds (20 s interval)
        ("$__timeInterval(col)", "toStartOfInterval(toDateTime(col), INTERVAL 20 second)"),
        ("$__timeInterval_ms(col)", "toStartOfInterval(toDateTime64(col, 3), INTERVAL 20000 millisecond)"),
        (
            "select toStartOfInterval(col, INTERVAL $__interval_s second) AS time from foo",
            "select toStartOfInterval(col, INTERVAL 20 second) AS time from foo",
        ),
    ],
)
def test_backend_macros_match_the_plugin_tests(sql: str, expected: str) -> None:
    assert _x(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # TestInterpolate cases, verbatim
        (
            "select * from foo where $__timeFilter(cast(sth as timestamp))",
            "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)",
        ),
        (
            "select * from foo where $__timeFilter(cast(sth as timestamp) )",
            "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)",
        ),
        (
            "select * from foo where $__timeFilter_ms(cast(sth as timestamp))",
            "select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)",
        ),
        (
            "select * from foo where ( date >= $__fromTime and date <= $__toTime ) limit 100",
            "select * from foo where ( date >= toDateTime(1415792726) and date <= toDateTime(1447328726) ) limit 100",
        ),
        (
            "select * from foo where ( date >= $__fromTime ) and ( date <= $__toTime ) limit 100",
            "select * from foo where ( date >= toDateTime(1415792726) ) and ( date <= toDateTime(1447328726) ) limit 100",
        ),
        (
            "select * from foo where ( date >= $__fromTime_ms and date <= $__toTime_ms ) limit 100",
            "select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) and date <= fromUnixTimestamp64Milli(1447328726456) ) limit 100",
        ),
    ],
)
def test_interpolation_matches_the_plugin(sql: str, expected: str) -> None:
    assert _x(sql, time_from=FROM_I, time_to=TO_I) == expected


def test_interval_below_one_second_becomes_one_second() -> None:
    # macros.go: math.Max(query.Interval.Seconds(), 1)
    assert _x("$__interval_s", interval=0) == "1"
    assert _x("$__timeInterval(ts)", interval=0) == "toStartOfInterval(toDateTime(ts), INTERVAL 1 second)"


def test_an_argumentless_macro_before_a_parenthesis_is_refused() -> None:
    # sqlutil's getMacroMatches would take "(1, 2)" as $__toTime's arguments and drop it.
    with pytest.raises(MacroError, match=r"\(\$__toTime\)"):
        _x("SELECT 1 WHERE ts <= $__toTime AND plane IN (1, 2)")
    # wrapped, or with an empty group, it is fine
    assert _x("ts <= ($__toTime) AND plane IN (1, 2)") == "ts <= (toDateTime(1447328726)) AND plane IN (1, 2)"
    assert _x("ts <= $__toTime()") == "ts <= toDateTime(1447328726)"


def test_a_comma_inside_a_macro_argument_is_refused() -> None:
    # sqlutil splits arguments on every comma: the plugin answers "unexpected number of arguments".
    with pytest.raises(MacroError, match="expects 1 argument"):
        _x("$__timeFilter(toDateTime(ts, 'UTC'))")


@pytest.mark.parametrize("sql", ["SELECT $__timeGroup(ts, minute)", "SELECT $__nosuch(ts)", "SELECT * FROM $__table"])
def test_unknown_or_unsupported_macros_raise(sql: str) -> None:
    with pytest.raises(MacroError, match=r"\$__"):
        _x(sql)


def test_an_undefined_variable_raises() -> None:
    with pytest.raises(MacroError, match=r"\$plane is not a defined template variable"):
        _x("SELECT 1 WHERE plane = $plane")


def test_variables_single_and_multi_value() -> None:
    # A single value is pasted as is; a multi-value list gets the plugin's format: 'a','b'.
    assert _x("plane = $plane", plane="2") == "plane = 2"
    assert _x("plane = ${plane}", plane="2") == "plane = 2"
    assert _x("plane IN ($plane)", plane=["1", "2"]) == "plane IN ('1','2')"
    assert _x("x IN (${sw:csv})", sw=["a", "b"]) == "x IN (a,b)"
    assert _x("x IN (${sw:singlequote})", sw=["a", "it's"]) == "x IN ('a','it\\'s')"
    assert _x("x IN (${sw:sqlstring})", sw=["a", "it's"]) == "x IN ('a','it''s')"
    with pytest.raises(MacroError, match="format 'nosuch'"):
        _x("${sw:nosuch}", sw="a")


def test_grafana_builtin_variables() -> None:
    assert _x("$__from $__to $__interval_ms", interval=20) == "1415792726371 1447328726371 20000"


def test_conditional_all() -> None:
    sql = "SELECT 1 WHERE $__conditionalAll(device IN (${sw:sqlstring}), $sw) AND $__conditionalAll(plane = $p, ${p})"
    # CHDatasource.applyConditionalAll: All (or an empty value) -> 1=1, otherwise the condition
    assert _x(sql, sw=ALL, p=ALL) == "SELECT 1 WHERE 1=1 AND 1=1"
    assert _x(sql, sw=[ALL], p="") == "SELECT 1 WHERE 1=1 AND 1=1"
    assert _x(sql, sw=["a", "b"], p="3") == "SELECT 1 WHERE device IN ('a','b') AND plane = 3"


def test_all_outside_conditional_all_is_refused() -> None:
    with pytest.raises(MacroError, match="conditionalAll"):
        _x("plane IN (${p:sqlstring})", p=ALL)


def test_conditional_all_needs_a_plain_variable_reference() -> None:
    with pytest.raises(MacroError, match="no :format"):
        _x("$__conditionalAll(plane IN (${p:csv}), ${p:csv})", p="1")
    with pytest.raises(MacroError, match="exactly two arguments"):
        _x("$__conditionalAll(plane = 1)", p="1")


def test_a_macro_that_prefixes_another_in_the_same_query_is_refused() -> None:
    # sqlutil Interpolate replaces every occurrence of "$__toTime" (strings.Replace, -1), including
    # the start of "$__toTime_ms", and visits macros in Go's random map order.
    with pytest.raises(MacroError, match="map order"):
        _x("SELECT 1 WHERE a <= ($__toTime) AND b <= ($__toTime_ms)")
